/**
 * D1 batches built from drizzle statements. A batch is atomic; D1 binds at most 100 parameters
 * per statement, so multi-row inserts are cut into chunks that stay under it.
 */
import type { BatchItem } from 'drizzle-orm/batch'
import type { SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { Db } from './client'
import { chunk, rowsPerInsert } from './chunk'

export type Stmt = BatchItem<'sqlite'>

/** Runs the statements as one atomic batch (nothing to do for none). */
export async function runBatch(db: Db, stmts: Stmt[]): Promise<unknown[]> {
  if (!stmts.length) return []
  return db.batch(stmts as [Stmt, ...Stmt[]])
}

/** Splits rows so that each INSERT of `table` binds at most 100 parameters (one per column and row). */
export function insertChunks<T>(table: SQLiteTable, rows: T[]): T[][] {
  return chunk(rows, rowsPerInsert(table))
}

/** The message of an error and of its causes (drizzle wraps D1's errors). */
export function errorText(e: unknown): string {
  const parts: string[] = []
  let cur: unknown = e
  for (let i = 0; cur && i < 5; i++) {
    parts.push(String((cur as Error).message ?? cur))
    cur = (cur as { cause?: unknown }).cause
  }
  return parts.join(' | ')
}

/** Escapes `%`, `_` and `\` for a LIKE … ESCAPE '\' pattern. */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`)
}

/**
 * D1 binds at most 100 parameters per statement. Long IN lists and multi-row inserts are cut into
 * chunks that stay under it (and run together in one `db.batch`, which stays atomic).
 */
import { getTableColumns } from 'drizzle-orm'
import type { SQLiteTable } from 'drizzle-orm/sqlite-core'

export const MAX_BOUND_PARAMS = 100
/** Ids per IN list, leaving room for the statement's other parameters. */
export const IDS_PER_STATEMENT = 90

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Rows per INSERT into `table` (one parameter per column and row). */
export function rowsPerInsert(table: SQLiteTable): number {
  return Math.max(1, Math.floor(MAX_BOUND_PARAMS / Math.max(1, Object.keys(getTableColumns(table)).length)))
}

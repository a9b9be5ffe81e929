/**
 * `INSERT INTO t (…every column…) SELECT <values> WHERE <guard>`: an insert that happens only when
 * the guard holds at the moment the statement runs. Inside a `db.batch` (one transaction) it
 * makes the rows that accompany a compare-and-set UPDATE appear exactly when the update applies:
 * put the guarded inserts before the update, with the update's own condition as the guard.
 * Values may be plain values (mapped like `.values()` does: dates, booleans, JSON) or `sql`
 * expressions evaluated in the statement; omitted columns take their default.
 */
import { getTableColumns, is, SQL, sql } from 'drizzle-orm'
import type { SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { Db } from './client'
import { MAX_BOUND_PARAMS } from './chunk'

type Row<T extends SQLiteTable> = { [K in keyof T['$inferInsert']]?: T['$inferInsert'][K] | SQL }

/** The row's values in the table's column order, as SQL fragments. */
function columnValues<T extends SQLiteTable>(table: T, row: Row<T>): (SQL | ReturnType<typeof sql.param>)[] {
  return Object.entries(getTableColumns(table)).map(([key, col]) => {
    const v = (row as Record<string, unknown>)[key]
    if (v === undefined) {
      if (col.default !== undefined && col.default !== null) return is(col.default, SQL) ? sql`${col.default}` : sql.param(col.default, col)
      if (col.defaultFn) {
        const d = col.defaultFn()
        return is(d, SQL) ? d : sql.param(d, col)
      }
      return sql`null`
    }
    return is(v, SQL) ? v : sql.param(v, col)
  })
}

export function insertWhere<T extends SQLiteTable>(db: Db, table: T, row: Row<T>, guard: SQL) {
  return db.insert(table).select(sql`select ${sql.join(columnValues(table, row), sql`, `)} where ${guard}`)
}

/**
 * Rows per statement of `insertRowsWhere` for `table` when the guard binds `guardParams`
 * parameters (one parameter per column and row besides: D1 binds at most 100 per statement).
 */
export function rowsPerGuardedInsert(table: SQLiteTable, guardParams: number): number {
  return Math.max(1, Math.floor((MAX_BOUND_PARAMS - guardParams) / Object.keys(getTableColumns(table)).length))
}

/**
 * `insertWhere` for several rows: `INSERT … SELECT * FROM (VALUES (…), (…)) WHERE <guard>` — all of
 * them or none. Chunk the rows with `rowsPerGuardedInsert`; chunks in one batch that share a guard
 * which their own rows cannot change are all written or none is.
 */
export function insertRowsWhere<T extends SQLiteTable>(db: Db, table: T, rows: Row<T>[], guard: SQL) {
  const tuples = rows.map((r) => sql`(${sql.join(columnValues(table, r), sql`, `)})`)
  return db.insert(table).select(sql`select * from (values ${sql.join(tuples, sql`, `)}) where ${guard}`)
}

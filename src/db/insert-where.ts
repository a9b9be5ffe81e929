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

export function insertWhere<T extends SQLiteTable>(db: Db, table: T, row: { [K in keyof T['$inferInsert']]?: T['$inferInsert'][K] | SQL }, guard: SQL) {
  const values = Object.entries(getTableColumns(table)).map(([key, col]) => {
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
  return db.insert(table).select(sql`select ${sql.join(values, sql`, `)} where ${guard}`)
}

import { drizzle } from 'drizzle-orm/d1'
import * as schema from './schema'

export type Db = ReturnType<typeof createDb>

/**
 * Inside `db.batch([...])` use query builders (select/insert/update/delete, `sql` fragments in
 * them are fine), never `db.run(sql…)` / `db.all(sql…)`: drizzle's D1 batch cannot bind the
 * parameters of raw statements and fails at run time.
 *
 * Inside a select's fields, a `sql` fragment writes columns without their table name, so a
 * correlated subquery there silently binds to the inner table: write such subqueries out in full.
 */

export function createDb(d1: D1Database) {
  return drizzle(d1, { schema })
}

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

const built = new WeakMap<D1Database, ReturnType<typeof build>>()
const build = (d1: D1Database) => drizzle(d1, { schema })

/**
 * The drizzle instance of a D1 binding, built once per isolate and binding: building it walks the
 * whole schema, which was a third of the CPU of a small request (npm run bench, CPU profile).
 * It holds no per-request state.
 */
export function createDb(d1: D1Database) {
  let db = built.get(d1)
  if (!db) {
    db = build(d1)
    built.set(d1, db)
  }
  return db
}

/**
 * Statements drizzle builds once per isolate and D1 binding, then only binds. Building a
 * statement walks its columns, maps each value and writes the SQL text on every call: a CPU
 * profile of the purchase (`npm run bench -- --profile purchase-50`) put drizzle's building of
 * its recording batch at ~12 % of the app isolate. A statement on the hot path is therefore built
 * with placeholders (`p(name)`) and given its values per call; a placeholder that fills a column
 * is mapped as that column is (dates, booleans, JSON), exactly as drizzle maps values it builds in.
 *
 * Run prebuilt statements with the D1 binding's own `batch` (drizzle's cannot take them); their
 * results are D1's (`results` of the statement's rows).
 */
import { fillPlaceholders, getTableColumns, type Placeholder, type Query, sql } from 'drizzle-orm'
import type { SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { Db } from './client'

type Builder = { toSQL(): Query }
type Slot<K extends string> = (name: K) => Placeholder<K>

export type Prebuilt<V extends Record<string, unknown>> = (db: Db, values: V) => D1PreparedStatement

/** The statement `build` makes, built at its first use for each D1 binding and bound to `values` at every call. */
export function prebuilt<V extends Record<string, unknown>>(build: (db: Db, p: Slot<keyof V & string>) => Builder): Prebuilt<V> {
  const made = new WeakMap<D1Database, { stmt: D1PreparedStatement; params: unknown[] }>()
  return (db, values) => {
    const client = db.$client
    let q = made.get(client)
    if (!q) {
      const query = build(db, (name) => sql.placeholder(name)).toSQL()
      q = { stmt: client.prepare(query.sql), params: query.params }
      made.set(client, q)
    }
    return q.stmt.bind(...fillPlaceholders(q.params, values))
  }
}

/**
 * A row of placeholders, one per key, for an insert into `table` (`insertWhere`, `.values`): the
 * columns left out take their default. A column whose default is computed per row
 * (`$defaultFn`) cannot be left out — it would be computed once, at building — so that throws.
 */
export function placeholderRow<T extends SQLiteTable, K extends string>(table: T, keys: readonly K[], p: Slot<K>): Record<K, never> {
  for (const [key, col] of Object.entries(getTableColumns(table))) {
    if (col.defaultFn && !keys.includes(key as K)) throw new Error(`a prebuilt insert leaves out column ${key}, whose default is computed per row`)
  }
  return Object.fromEntries(keys.map((k) => [k, p(k)])) as Record<K, never>
}

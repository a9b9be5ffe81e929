/**
 * Prebuilt statements (src/db/prebuilt.ts): built once, bound per call, and writing exactly the
 * row drizzle would write for the same values (dates, booleans and JSON mapped as their columns).
 */
import { env } from 'cloudflare:test'
import { eq, sql } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { createDb } from '../../src/db/client'
import { insertWhere } from '../../src/db/insert-where'
import { placeholderRow, prebuilt } from '../../src/db/prebuilt'
import { outbox, usageRecords } from '../../src/db/schema'
import { newId } from '../../src/lib/ids'

const db = createDb(env.DB)
const USER = 'usr_prebuilt'

beforeAll(async () => {
  await env.DB.prepare(`INSERT INTO users (id, email, password_hash, updated_at) VALUES (?, ?, 'x', ?)`).bind(USER, `${USER}@example.com`, Date.now()).run()
})

describe('prebuilt statements', () => {
  it('write the row drizzle writes for the same values, under the same guard', async () => {
    let builds = 0
    const insertUsage = prebuilt<typeof usageRecords.$inferInsert & { allow: number }>((d, p) => {
      builds++
      const keys = [
        'id',
        'userId',
        'resourceType',
        'resourceId',
        'quantity',
        'unit',
        'unitPrice',
        'totalCost',
        'currency',
        'prepaid',
        'description',
        'month',
        'occurredAt',
        'transactionId',
        'createdAt',
        'updatedAt',
      ] as const
      return insertWhere(d, usageRecords, placeholderRow(usageRecords, keys, p), sql`${p('allow')} = 1`)
    })
    const at = new Date(1_765_000_000_123)
    const values = (id: string) => ({
      id,
      userId: USER,
      resourceType: 'activation' as const,
      resourceId: `num_${id}`,
      quantity: 1,
      unit: 'activation',
      unitPrice: 360_000,
      totalCost: 360_000,
      currency: 'USD',
      prepaid: true,
      description: 'a number',
      month: '2025-12',
      occurredAt: at,
      transactionId: `activation:${id}`,
      createdAt: at,
      updatedAt: at,
    })
    const a = newId('usg')
    const b = newId('usg')
    const refused = newId('usg')
    await env.DB.batch([insertUsage(db, { ...values(a), allow: 1 }), insertUsage(db, { ...values(refused), allow: 0 })])
    await db.insert(usageRecords).values(values(b))
    expect(builds).toBe(1)
    const rows = await env.DB.prepare(`SELECT * FROM usage_records WHERE id IN (?, ?, ?) ORDER BY id = ?`).bind(a, b, refused, b).all()
    expect(rows.results).toHaveLength(2)
    const [mine, drizzles] = rows.results.map(({ id, resource_id, transaction_id, ...rest }) => rest)
    expect(mine).toEqual(drizzles)
    expect(mine).toMatchObject({ occurred_at: at.getTime(), prepaid: 1 })
  })

  it('maps a JSON column as drizzle does', async () => {
    const insertEvent = prebuilt<{ id: string; type: string; userId: string; payload: Record<string, unknown>; createdAt: Date }>((d, p) =>
      d.insert(outbox).values(placeholderRow(outbox, ['id', 'type', 'userId', 'payload', 'createdAt'], p)),
    )
    const id = newId('evt')
    await insertEvent(db, { id, type: 'test.prebuilt', userId: USER, payload: { n: 1, s: 'é' }, createdAt: new Date(5) }).run()
    const row = await db.select().from(outbox).where(eq(outbox.id, id)).get()
    expect(row).toMatchObject({ payload: { n: 1, s: 'é' }, createdAt: new Date(5), sentAt: null })
  })

  it('refuse to leave out a column whose default is computed per row', () => {
    const table = sqliteTable('t', { id: text('id').$defaultFn(() => newId('t')), n: integer('n') })
    expect(() => placeholderRow(table, ['n'], sql.placeholder)).toThrow(/column id/)
  })
})

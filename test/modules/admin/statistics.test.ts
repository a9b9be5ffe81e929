/**
 * The admin user views' figures come from the account's data: numbers held (account_number_stats),
 * orders placed, money spent (the wallet ledger copy, net of refunds — as admin revenue counts it),
 * calls and minutes (call records), SMS. Checked after real purchases, an order and a refund.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { AdminUsersService } from '../../../src/modules/admin/admin-users.service'
import { call, registerAdmin, type TestUser } from '../../helpers/api'
import { sandboxProvider, type TestProvider } from '../../helpers/catalog'
import { waitFor } from '../../helpers/db'
import { buy, fundedUser, seedDids } from '../../helpers/dids'
import { insertUsage } from '../../helpers/usage'

let p: TestProvider
let admin: TestUser
beforeAll(async () => {
  p = await sandboxProvider()
  admin = await registerAdmin()
})

/** Waits until every ledger entry of the account's Wallet is in D1 (the copy is deferred). */
async function ledgerCopied(userId: string) {
  const stub = env.WALLET.get(env.WALLET.idFromName(userId))
  await waitFor(async () => {
    const { total } = await stub.history(userId, 1, 1)
    const d1 = await env.DB.prepare(`SELECT count(*) AS n FROM wallet_ledger WHERE user_id = ?`).bind(userId).first<{ n: number }>()
    return d1!.n === total ? true : null
  }, `the ledger copy of ${userId}`)
}

/** A funded account with a DID purchase ($3), an order ($2) and a cancelled, refunded order ($4). */
async function customer(tag: string) {
  const u = await fundedUser(50)
  await env.DB.prepare(`UPDATE users SET company = ? WHERE id = ?`).bind(`${tag} Corp`, u.id).run()
  const [a, b, c] = await seedDids(p, [
    { setup: 1, monthly: 2 },
    { setup: 0.5, monthly: 1.5 },
    { setup: 2, monthly: 2 },
  ])
  await buy(u, [a!])
  const order = await call('/api/v1/orders', { token: u.accessToken, body: { items: [{ type: 'number_purchase', itemId: b }] } })
  expect(order.status, order.text).toBe(201)
  const refunded = await call('/api/v1/orders', { token: u.accessToken, body: { items: [{ type: 'number_purchase', itemId: c }] } })
  expect(refunded.status, refunded.text).toBe(201)
  const cancel = await call(`/api/v1/orders/${refunded.body.data.id}/cancel`, { method: 'PUT', token: u.accessToken, body: { reason: 'wrong city' } })
  expect(cancel.status, cancel.text).toBe(200)
  await ledgerCopied(u.id)
  return u
}

let tagCounter = 0
const uniqueTag = () => `st${++tagCounter}x${Math.random().toString(36).slice(2, 7)}`

describe('admin users: totals from real data', () => {
  it("the list shows each account's numbers, orders and spending net of refunds", async () => {
    const tag = uniqueTag()
    const u = await customer(tag)
    const idle = await fundedUser(5)
    await env.DB.prepare(`UPDATE users SET company = ? WHERE id = ?`).bind(`${tag} Idle`, idle.id).run()

    for (const prefix of ['/api/admin/users', '/api/v1/admin/users']) {
      const res = await call(`${prefix}?search=${tag}&sortBy=email&sortOrder=asc`, { token: admin.accessToken })
      expect(res.status, res.text).toBe(200)
      const byId = Object.fromEntries((res.body.data as { id: string }[]).map((r) => [r.id, r]))
      // 2 numbers held (the refunded order's number was released), 3 orders, $3 + $2 spent ($4 refunded).
      expect(byId[u.id], res.text).toMatchObject({ totalNumbers: 2, totalOrders: 3, totalSpent: 5 })
      // A top-up is not spending.
      expect(byId[idle.id], res.text).toMatchObject({ totalNumbers: 0, totalOrders: 0, totalSpent: 0 })
    }
  })

  it("the details' statistics: numbers, calls, minutes, SMS, spending and its monthly average", async () => {
    const u = await customer(uniqueTag())
    const [numberId] = (await env.DB.prepare(`SELECT id FROM phone_numbers WHERE user_id = ? AND status = 'active' ORDER BY id`).bind(u.id).all<{ id: string }>()).results.map((r) => r.id)
    await env.DB.prepare(`UPDATE phone_numbers SET status = 'suspended' WHERE id = ?`).bind(numberId).run()
    const now = Date.now()
    await insertUsage(u.id, 'call_minutes', 12, 50_000, now, { resourceId: numberId })
    await insertUsage(u.id, 'call_minutes', 3, 50_000, now)
    await insertUsage(u.id, 'sms', 40, 10_000, now)
    // Another account's usage is not this one's.
    const other = await fundedUser(0)
    await insertUsage(other.id, 'call_minutes', 99, 50_000, now)
    // The account is three calendar months old (this one included): $5 over 3 months.
    const created = new Date(now)
    await env.DB.prepare(`UPDATE users SET created_at = ? WHERE id = ?`)
      .bind(Date.UTC(created.getUTCFullYear(), created.getUTCMonth() - 2, 15), u.id)
      .run()

    for (const prefix of ['/api/admin/users', '/api/v1/admin/users']) {
      const res = await call(`${prefix}/${u.id}`, { token: admin.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(res.body.data.statistics, res.text).toMatchObject({
        totalNumbers: 2,
        activeNumbers: 1,
        totalCalls: 2,
        totalMinutes: 15,
        totalSms: 40,
        totalSpent: 5,
        averageMonthlySpend: 1.67,
      })
    }
  })

  it('the list page is one statement whose lookups use indexes (no query per user, no full scans)', async () => {
    const svc = new AdminUsersService(createDb(env.DB), undefined as never, undefined as never)
    const q = svc.listQuery({ page: 1, limit: 20, sortBy: 'createdAt', sortOrder: 'desc' }, Date.now())
    const { sql, params } = q.toSQL()
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(...params)
      .all<{ detail: string }>()
    const lines = results.map((r) => r.detail)
    const scans = lines.filter((l) => /^SCAN (orders|wallet_ledger|account_number_stats)\b(?!.*USING (COVERING )?INDEX)/.test(l))
    expect(scans, lines.join('\n')).toEqual([])
  })
})

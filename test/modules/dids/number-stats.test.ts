/**
 * The numbers list's summary and unfiltered total come from account_number_stats, which triggers
 * on phone_numbers keep. Checked against the aggregate it replaces after every kind of write.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call } from '../../helpers/api'
import { sandboxProvider, type TestProvider } from '../../helpers/catalog'
import { buy, fundedUser, seedDids } from '../../helpers/dids'

let p: TestProvider
beforeAll(async () => {
  p = await sandboxProvider()
})

async function aggregate(userId: string) {
  const r = await env.DB.prepare(
    `SELECT count(*) AS live, coalesce(sum(status = 'active'), 0) AS active, coalesce(sum(monthly_price), 0) AS monthly FROM phone_numbers WHERE user_id = ? AND status <> 'released'`,
  )
    .bind(userId)
    .first<{ live: number; active: number; monthly: number }>()
  return { totalNumbers: r!.live, activeNumbers: r!.active, monthlyTotal: r!.monthly / 1_000_000, currency: 'USD' }
}

async function listed(token: string, query = '') {
  const res = await call(`/api/v1/numbers?limit=5${query}`, { token })
  expect(res.status, res.text).toBe(200)
  return res.body as { summary: Record<string, unknown>; pagination: { total: number } }
}

describe('GET /api/v1/numbers summary and total', () => {
  it('match the aggregate after purchase, suspension, price change, release and a direct delete', async () => {
    const u = await fundedUser(100)
    const phones = await seedDids(p, [{ monthly: 1.5 }, { monthly: 2.25 }, { monthly: 3 }])
    const ids = Object.values(await buy(u, phones))
    const check = async () => {
      const expected = await aggregate(u.id)
      const body = await listed(u.accessToken)
      expect(body.summary).toEqual(expected)
      expect(body.pagination.total).toBe(expected.totalNumbers)
      return expected
    }
    expect(await check()).toMatchObject({ totalNumbers: 3, activeNumbers: 3, monthlyTotal: 6.75 })

    await env.DB.prepare(`UPDATE phone_numbers SET status = 'suspended' WHERE id = ?`).bind(ids[0]).run()
    expect(await check()).toMatchObject({ totalNumbers: 3, activeNumbers: 2 })

    await env.DB.prepare(`UPDATE phone_numbers SET monthly_price = 5000000 WHERE id = ?`).bind(ids[1]).run()
    expect(await check()).toMatchObject({ monthlyTotal: 9.5 })

    const released = await call(`/api/v1/numbers/${ids[2]}`, { method: 'DELETE', token: u.accessToken })
    expect(released.status, released.text).toBe(200)
    expect(await check()).toMatchObject({ totalNumbers: 2, activeNumbers: 1, monthlyTotal: 6.5 })

    await env.DB.prepare(`DELETE FROM phone_numbers WHERE id = ?`).bind(ids[0]).run()
    expect(await check()).toMatchObject({ totalNumbers: 1, activeNumbers: 1, monthlyTotal: 5 })
  })

  it('a filtered list counts its own rows; the summary stays the account’s', async () => {
    const u = await fundedUser(100)
    const ids = Object.values(await buy(u, await seedDids(p, [{}, {}, {}])))
    await env.DB.prepare(`UPDATE phone_numbers SET status = 'suspended' WHERE id = ?`).bind(ids[0]).run()
    const body = await listed(u.accessToken, '&status=suspended')
    expect(body.pagination.total).toBe(1)
    expect(body.summary).toMatchObject({ totalNumbers: 3, activeNumbers: 2 })
  })

  it('an account without numbers answers zeros', async () => {
    const u = await fundedUser(0)
    const body = await listed(u.accessToken)
    expect(body.summary).toEqual({ totalNumbers: 0, activeNumbers: 0, monthlyTotal: 0, currency: 'USD' })
    expect(body.pagination.total).toBe(0)
  })
})

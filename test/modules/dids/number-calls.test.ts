/**
 * A number's `usage.totalCalls`, `usage.monthlyMinutes` and `analytics` come from the call records
 * GET /api/v1/analytics/calls reads (call_minutes usage records naming the number), scoped to the
 * account: the two views agree, and another account's records never count.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { DidsService } from '../../../src/modules/dids/dids.service'
import { ListNumbersQuery } from '../../../src/modules/dids/schemas'
import { callsPerNumberQuery } from '../../../src/modules/usage/call-records'
import { call } from '../../helpers/api'
import { sandboxProvider, type TestProvider } from '../../helpers/catalog'
import { buy, fundedUser, seedDids } from '../../helpers/dids'
import { insertUsage } from '../../helpers/usage'

let p: TestProvider
beforeAll(async () => {
  p = await sandboxProvider()
})

const RATE = 50_000 // $0.05 a minute
const monthStart = (now: number, back = 0) => Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() - back, 1)

describe("a number's calls", () => {
  it('usage and analytics count the call records of the number, as call analytics do', async () => {
    const u = await fundedUser(20)
    const [a, b] = await seedDids(p, [{}, {}])
    const ids = await buy(u, [a!, b!])
    const n1 = ids[a!]!
    const n2 = ids[b!]!
    const now = Date.now()
    const thisMonth = monthStart(now)
    const lastMonth = monthStart(now, 1)
    await insertUsage(u.id, 'call_minutes', 10, RATE, thisMonth + 1000, { resourceId: n1 })
    await insertUsage(u.id, 'call_minutes', 4, RATE, now, { resourceId: n1 })
    await insertUsage(u.id, 'call_minutes', 7, RATE, lastMonth + 5 * 86_400_000, { resourceId: n1 })
    await insertUsage(u.id, 'call_minutes', 30, RATE, lastMonth - 86_400_000, { resourceId: n1 }) // two months ago
    await insertUsage(u.id, 'call_minutes', 6, RATE, now, { resourceId: n2 })
    await insertUsage(u.id, 'call_minutes', 9, RATE, now) // on no number
    await insertUsage(u.id, 'sms', 50, 10_000, now, { resourceId: n1 }) // not a call
    // Another account's records naming this number are not its calls.
    const other = await fundedUser(0)
    await insertUsage(other.id, 'call_minutes', 500, RATE, now, { resourceId: n1 })

    const one = await call(`/api/v1/numbers/${n1}`, { token: u.accessToken })
    expect(one.status, one.text).toBe(200)
    expect(one.body.data.usage, one.text).toMatchObject({ totalCalls: 4, monthlyMinutes: 14 })
    expect(one.body.data.analytics, one.text).toEqual({
      thisMonth: { calls: 2, minutes: 14, sms: 0, cost: 0.7 },
      lastMonth: { calls: 1, minutes: 7, sms: 0, cost: 0.35 },
    })

    const list = await call('/api/v1/numbers?sortBy=phoneNumber&sortOrder=asc', { token: u.accessToken })
    expect(list.status, list.text).toBe(200)
    const usage = Object.fromEntries((list.body.data as { id: string; usage: unknown }[]).map((n) => [n.id, n.usage]))
    expect(usage[n1], list.text).toMatchObject({ totalCalls: 4, monthlyMinutes: 14 })
    expect(usage[n2], list.text).toMatchObject({ totalCalls: 1, monthlyMinutes: 6 })

    // GET /api/v1/analytics/calls for this month and this number: the same figures.
    const today = new Date(now).toISOString().slice(0, 10)
    const first = new Date(thisMonth).toISOString().slice(0, 10)
    const analytics = await call(`/api/v1/analytics/calls?startDate=${first}&endDate=${today}&numberId=${n1}`, { token: u.accessToken })
    expect(analytics.status, analytics.text).toBe(200)
    expect(analytics.body.data.summary, analytics.text).toMatchObject({ totalCalls: 2, totalMinutes: 14, totalCost: 0.7 })

    // The other account sees nothing of it.
    expect((await call(`/api/v1/numbers/${n1}`, { token: other.accessToken })).status).toBe(404)
  })

  it('a number without calls answers zeros', async () => {
    const u = await fundedUser(10)
    const [a] = await seedDids(p, [{}])
    const id = (await buy(u, [a!]))[a!]!
    const one = await call(`/api/v1/numbers/${id}`, { token: u.accessToken })
    expect(one.status, one.text).toBe(200)
    expect(one.body.data.usage, one.text).toMatchObject({ totalCalls: 0, monthlyMinutes: 0 })
    expect(one.body.data.analytics.thisMonth, one.text).toEqual({ calls: 0, minutes: 0, sms: 0, cost: 0 })
  })

  it("the list's calls per number are looked up by the call-records index, for the page's numbers only", async () => {
    const db = createDb(env.DB)
    const dids = new DidsService({ db } as unknown as ConstructorParameters<typeof DidsService>[0])
    const page = dids.pageIds('usr_x', ListNumbersQuery.parse({ sortBy: 'lastUsed', limit: '50', page: '2' }))
    const { sql, params } = callsPerNumberQuery(db, 'usr_x', page, Date.now()).toSQL()
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(...params)
      .all<{ detail: string }>()
    const lines = results.map((r) => r.detail)
    expect(
      lines.filter((l) => /^SCAN (usage_records|phone_numbers)\b(?!.*USING (COVERING )?INDEX)/.test(l)),
      lines.join('\n'),
    ).toEqual([])
    expect(
      lines.some((l) => l.includes('usage_records_user_type_resource_idx')),
      lines.join('\n'),
    ).toBe(true)
  })
})

describe('answers that show one number', () => {
  it('DELETE /api/v1/numbers/{id} (scheduled or now) answers the number with its calls and SMS', async () => {
    const u = await fundedUser(10)
    const [a, b] = await seedDids(p, [{}, {}])
    const ids = await buy(u, [a!, b!])
    for (const id of [ids[a!]!, ids[b!]!]) await insertUsage(u.id, 'call_minutes', 8, RATE, Date.now(), { resourceId: id })
    const scheduled = await call(`/api/v1/numbers/${ids[a!]}`, {
      method: 'DELETE',
      token: u.accessToken,
      body: { releaseDate: new Date(Date.now() + 86_400_000).toISOString() },
    })
    expect(scheduled.status, scheduled.text).toBe(200)
    expect(scheduled.body.data.usage, scheduled.text).toMatchObject({ totalCalls: 1, monthlyMinutes: 8 })
    const now = await call(`/api/v1/numbers/${ids[b!]}`, { method: 'DELETE', token: u.accessToken })
    expect(now.status, now.text).toBe(200)
    expect(now.body.data, now.text).toMatchObject({ status: 'released', usage: { totalCalls: 1, monthlyMinutes: 8 } })
  })
})

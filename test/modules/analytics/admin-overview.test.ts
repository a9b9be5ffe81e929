import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { phoneNumbers, smsMessages } from '../../../src/db/schema'
import { newId } from '../../../src/lib/ids'
import { call, expectErrorEnvelope, registerAdmin, registerUser, type TestUser } from '../../helpers/api'
import { sandboxProvider } from '../../helpers/catalog'
import { uniqueNumber } from '../../helpers/dids'
import { db, insertUsage } from '../../helpers/usage'

const PATH = '/api/v1/admin/analytics/overview'
const DAY = 86_400_000
const micros = (x: number) => Math.round(x * 1_000_000)
const round2 = (x: number) => Math.round(x * 100) / 100

async function overview(admin: TestUser) {
  const res = await call(PATH, { token: admin.accessToken })
  expect(res.status, res.text).toBe(200)
  return res.body.data
}

async function user(status: string, lastLoginAt: number | null, createdAt: number) {
  const id = newId('usr', createdAt)
  await env.DB.prepare(`INSERT INTO users (id, email, password_hash, status, last_login_at, created_at, updated_at) VALUES (?, ?, 'x', ?, ?, ?, ?)`)
    .bind(id, `${id}@example.com`, status, lastLoginAt, createdAt, createdAt)
    .run()
  return id
}

async function ledger(userId: string, type: 'credit' | 'debit' | 'capture', amount: number, referenceType: string | null, at: number) {
  const id = newId('wle', at)
  await env.DB.prepare(
    `INSERT INTO wallet_ledger (id, user_id, type, amount, balance_after, op_id, hold_id, reference_type, reference_id, description, created_at)
     VALUES (?, ?, ?, ?, 0, ?, NULL, ?, ?, NULL, ?)`,
  )
    .bind(id, userId, type, amount, `op_${id}`, referenceType, referenceType ? newId('ref') : null, at)
    .run()
}

async function number(userId: string, providerId: string, status: 'active' | 'pending' | 'released', at: number) {
  await db.insert(phoneNumbers).values({
    id: newId('pn', at),
    userId,
    providerId,
    phoneNumber: uniqueNumber('646'),
    countryCode: 'us',
    numberType: 'LOCAL',
    capabilities: ['SMS'],
    status,
    monthlyPrice: 1_000_000,
    purchasedAt: new Date(at),
    createdAt: new Date(at),
    updatedAt: new Date(at),
    releasedAt: status === 'released' ? new Date(at) : null,
  })
}

function expectShape(d: any) {
  expect(Object.keys(d).sort()).toEqual(['growth', 'revenue', 'summary', 'usage'])
  expect(Object.keys(d.summary).sort()).toEqual(['activeUsers', 'currency', 'totalNumbers', 'totalRevenue', 'totalUsers'])
  for (const k of ['totalUsers', 'activeUsers', 'totalNumbers']) expect(Number.isInteger(d.summary[k]), k).toBe(true)
  expect(typeof d.summary.totalRevenue).toBe('number')
  expect(d.summary.currency).toBe('USD')

  const months: string[] = []
  const now = new Date()
  for (let i = 11; i >= 0; i--) months.push(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1)).toISOString().slice(0, 7))
  expect(d.growth.map((g: any) => g.period)).toEqual(months)
  for (const g of d.growth) {
    expect(Object.keys(g).sort()).toEqual(['newUsers', 'numbersPurchased', 'period', 'revenue'])
    expect(Number.isInteger(g.newUsers)).toBe(true)
    expect(Number.isInteger(g.numbersPurchased)).toBe(true)
    expect(typeof g.revenue).toBe('number')
  }

  expect(Object.keys(d.usage).sort()).toEqual(['avgCallsPerUser', 'totalCalls', 'totalMinutes', 'totalSms'])
  for (const k of ['totalCalls', 'totalMinutes', 'totalSms']) expect(Number.isInteger(d.usage[k]), k).toBe(true)
  expect(typeof d.usage.avgCallsPerUser).toBe('number')

  expect(Object.keys(d.revenue).sort()).toEqual(['annual', 'breakdown', 'growth', 'monthly'])
  for (const k of ['monthly', 'annual', 'growth']) expect(typeof d.revenue[k], k).toBe('number')
  expect(Object.keys(d.revenue.breakdown).sort()).toEqual(['numbers', 'other', 'usage'])
  for (const k of ['numbers', 'usage', 'other']) expect(typeof d.revenue.breakdown[k], k).toBe('number')
}

describe('GET /api/v1/admin/analytics/overview', () => {
  it('every SystemAnalyticsResponse field, exact on rows inserted (as deltas over all accounts)', async () => {
    const admin = await registerAdmin()
    const p = await sandboxProvider()
    const before = await overview(admin)
    expectShape(before)

    const now = Date.now()
    const d = new Date(now)
    const y = d.getUTCFullYear()
    const m = d.getUTCMonth()
    const thisMonth = Date.UTC(y, m, 1) + 1000
    const lastMonth = Date.UTC(y, m - 1, 1, 12)
    const firstWindowMonth = Date.UTC(y, m - 11, 10)
    const outside = Date.UTC(y, m - 13, 15)

    // Accounts: one active (logged in yesterday), one active but idle 40 days, one suspended, one never logged in.
    const a = await user('active', now - DAY, thisMonth)
    await user('active', now - 40 * DAY, lastMonth)
    await user('suspended', now - DAY, lastMonth)
    await user('active', null, outside)

    // Numbers: active this month; pending and released last month; active before the window.
    await number(a, p.id, 'active', thisMonth)
    await number(a, p.id, 'pending', lastMonth)
    await number(a, p.id, 'released', lastMonth)
    await number(a, p.id, 'active', outside)

    // Ledger, this month: 2 + 3 − 0.5 (numbers) + 1.25 (usage) + 0.4 (other) = 6.15; top-up and admin credit are not revenue.
    await ledger(a, 'debit', -2_000_000, 'activation', thisMonth)
    await ledger(a, 'credit', 500_000, 'activation', thisMonth + 1)
    await ledger(a, 'capture', -3_000_000, 'order', thisMonth + 2)
    await ledger(a, 'debit', -1_250_000, 'invoice', thisMonth + 3)
    await ledger(a, 'debit', -400_000, null, thisMonth + 4)
    await ledger(a, 'credit', 10_000_000, 'payment', thisMonth + 5)
    await ledger(a, 'credit', 1_000_000, null, thisMonth + 6)
    // Last month: 1 − 0.25 (numbers) + 2 (usage) = 2.75.
    await ledger(a, 'debit', -1_000_000, 'phone_number', lastMonth)
    await ledger(a, 'credit', 250_000, 'order', lastMonth + 1)
    await ledger(a, 'debit', -2_000_000, 'invoice', lastMonth + 2)
    // First month of the window: 0.7 (other). Before the window: 5 (numbers).
    await ledger(a, 'debit', -700_000, 'subscription', firstWindowMonth)
    await ledger(a, 'debit', -5_000_000, 'activation', outside)

    // Usage: two calls (5 + 7 minutes), 3 SMS reported, API calls ignored; one SMS received.
    await insertUsage(a, 'call_minutes', 5, 10_000, thisMonth)
    await insertUsage(a, 'call_minutes', 7, 10_000, lastMonth)
    await insertUsage(a, 'sms', 3, 5_000, thisMonth)
    await insertUsage(a, 'api_calls', 100, 100, thisMonth)
    await db.insert(smsMessages).values({
      id: newId('sms', thisMonth),
      userId: a,
      providerId: p.id,
      upstreamMessageId: newId('up'),
      phone: '+16465550100',
      sender: 'Acme',
      text: 'code 1234',
      code: '1234',
      receivedAt: new Date(thisMonth),
    })

    const after = await overview(admin)
    expectShape(after)
    const delta = (f: (x: any) => number) => f(after) - f(before)
    const moneyDelta = (f: (x: any) => number) => micros(f(after)) - micros(f(before))

    expect(delta((x) => x.summary.totalUsers)).toBe(4)
    expect(delta((x) => x.summary.activeUsers)).toBe(1)
    expect(delta((x) => x.summary.totalNumbers)).toBe(3)
    expect(moneyDelta((x) => x.summary.totalRevenue)).toBe(14_600_000)

    const g = (x: any, i: number) => x.growth[i]
    expect(delta((x) => g(x, 11).newUsers)).toBe(1)
    expect(delta((x) => g(x, 10).newUsers)).toBe(2)
    expect(delta((x) => g(x, 11).numbersPurchased)).toBe(1)
    expect(delta((x) => g(x, 10).numbersPurchased)).toBe(2)
    expect(moneyDelta((x) => g(x, 11).revenue)).toBe(6_150_000)
    expect(moneyDelta((x) => g(x, 10).revenue)).toBe(2_750_000)
    expect(moneyDelta((x) => g(x, 0).revenue)).toBe(700_000)
    for (let i = 1; i < 10; i++) {
      expect(delta((x) => g(x, i).newUsers)).toBe(0)
      expect(delta((x) => g(x, i).numbersPurchased)).toBe(0)
      expect(moneyDelta((x) => g(x, i).revenue)).toBe(0)
    }

    expect(delta((x) => x.usage.totalCalls)).toBe(2)
    expect(delta((x) => x.usage.totalMinutes)).toBe(12)
    expect(delta((x) => x.usage.totalSms)).toBe(4)
    expect(after.usage.avgCallsPerUser).toBe(round2(after.usage.totalCalls / after.summary.totalUsers))

    expect(moneyDelta((x) => x.revenue.monthly)).toBe(6_150_000)
    expect(moneyDelta((x) => x.revenue.annual)).toBe(9_600_000)
    expect(moneyDelta((x) => x.revenue.breakdown.numbers)).toBe(10_250_000)
    expect(moneyDelta((x) => x.revenue.breakdown.usage)).toBe(3_250_000)
    expect(moneyDelta((x) => x.revenue.breakdown.other)).toBe(1_100_000)

    // Consistency of the answer itself.
    expect(micros(after.revenue.monthly)).toBe(micros(g(after, 11).revenue))
    expect(micros(after.revenue.annual)).toBe(after.growth.reduce((s: number, r: any) => s + micros(r.revenue), 0))
    const b = after.revenue.breakdown
    expect(micros(b.numbers) + micros(b.usage) + micros(b.other)).toBe(micros(after.summary.totalRevenue))
    const last = g(after, 10).revenue
    expect(after.revenue.growth).toBe(last ? round2(((after.revenue.monthly - last) / Math.abs(last)) * 100) : 0)
    if (micros(before.summary.totalRevenue) === 0) expect(after.revenue.growth).toBe(123.64) // (6.15 − 2.75) / 2.75
  })

  it('a normal user → 403 FORBIDDEN', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await call(PATH, { token: u.accessToken }), 403, 'FORBIDDEN')
  })

  it('no credentials → 401 UNAUTHORIZED', async () => {
    expectErrorEnvelope(await call(PATH), 401, 'UNAUTHORIZED')
  })

  it("the activation API's GET /api/admin/analytics/dashboard answers the same overview, admins only", async () => {
    const admin = await registerAdmin()
    const [v1, v0] = await Promise.all([call(PATH, { token: admin.accessToken }), call('/api/admin/analytics/dashboard', { token: admin.accessToken })])
    expect(v0.status, v0.text).toBe(200)
    expect(v0.body.data.summary, v0.text).toEqual(v1.body.data.summary)
    expect(Object.keys(v0.body.data).sort()).toEqual(['growth', 'revenue', 'summary', 'usage'])
    const u = await registerUser()
    expectErrorEnvelope(await call('/api/admin/analytics/dashboard', { token: u.accessToken }), 403, 'FORBIDDEN')
  })
})

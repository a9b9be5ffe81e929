import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { activations, payments, phoneNumbers, smsMessages, walletLedger } from '../../../src/db/schema'
import { newId } from '../../../src/lib/ids'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { sandboxProvider } from '../../helpers/catalog'
import { uniqueNumber } from '../../helpers/dids'
import { db, insertUsage } from '../../helpers/usage'

const DAY = 86_400_000

async function number(userId: string, providerId: string, status: 'active' | 'pending' | 'released', at: number) {
  const row = {
    id: newId('pn', at),
    userId,
    providerId,
    phoneNumber: uniqueNumber('646'),
    countryCode: 'us',
    numberType: 'LOCAL' as const,
    capabilities: ['SMS', 'VOICE'],
    status,
    monthlyPrice: 1_000_000,
    setupPrice: 500_000,
    purchasedAt: new Date(at),
    createdAt: new Date(at),
    updatedAt: new Date(at),
    releasedAt: status === 'released' ? new Date(at) : null,
  }
  await db.insert(phoneNumbers).values(row)
  return row
}

async function sms(userId: string, providerId: string, at: number, on: { phoneNumberId?: string; activationId?: string; phone: string }) {
  await db.insert(smsMessages).values({
    id: newId('sms', at),
    userId,
    providerId,
    upstreamMessageId: newId('up'),
    activationId: on.activationId ?? null,
    phoneNumberId: on.phoneNumberId ?? null,
    phone: on.phone,
    sender: 'Acme',
    text: 'Your code is 1234',
    code: '1234',
    receivedAt: new Date(at),
  })
}

describe('GET /api/v1/analytics/dashboard', () => {
  it('every DashboardAnalytics field, from real data', async () => {
    const u = await registerUser()
    const other = await registerUser()
    const p = await sandboxProvider()
    const t0 = Date.now()
    const thisMonth = new Date(t0).toISOString().slice(0, 7)
    const d = new Date(t0)
    const lastMonthAt = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1, 12)
    const today = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())

    // Numbers: one active, one pending, one released.
    const n1 = await number(u.id, p.id, 'active', t0 + 100)
    const n2 = await number(u.id, p.id, 'pending', t0 + 200)
    const n3 = await number(u.id, p.id, 'released', t0 + 300)
    await number(other.id, p.id, 'active', t0 + 350)
    const act = {
      id: newId('num', t0 + 400),
      userId: u.id,
      providerId: p.id,
      upstreamId: newId('up'),
      phone: '+447700900123',
      countryCode: 'gb',
      serviceCode: 'tg',
      price: 750_000,
      status: 'sms_received' as const,
      holdId: newId('hld'),
      expiresAt: new Date(t0 + 20 * 60_000),
      createdAt: new Date(t0 + 400),
      updatedAt: new Date(t0 + 400),
    }
    await db.insert(activations).values(act)

    // SMS: 3 on n1, 1 on n2, 1 on the activation now; 2 on the activation last month; 4 on the released number long ago.
    for (const dt of [1000, 2000, 3000]) await sms(u.id, p.id, t0 + dt, { phoneNumberId: n1.id, phone: n1.phoneNumber })
    await sms(u.id, p.id, t0 + 4000, { phoneNumberId: n2.id, phone: n2.phoneNumber })
    await sms(u.id, p.id, t0 + 5000, { activationId: act.id, phone: act.phone })
    for (const dt of [0, 1]) await sms(u.id, p.id, lastMonthAt + dt, { activationId: act.id, phone: act.phone })
    for (let i = 0; i < 4; i++) await sms(u.id, p.id, t0 - DAY * 100 - i, { phoneNumberId: n3.id, phone: n3.phoneNumber })
    // …and one just now: it counts as an SMS of the month, but not towards the utilization of live numbers.
    await sms(u.id, p.id, t0 - 1, { phoneNumberId: n3.id, phone: n3.phoneNumber })
    await sms(other.id, p.id, t0 + 4500, { phone: '+15550000000' })

    // Usage: this month 2 calls (10 + 20 min), 5 SMS, 100 API calls; last month 1 call of 15 minutes.
    // SMS this month: 5 reported + 6 received; last month 2 received.
    await insertUsage(u.id, 'call_minutes', 10, 50_000, t0 - 1000)
    await insertUsage(u.id, 'call_minutes', 20, 50_000, t0 - 1000)
    await insertUsage(u.id, 'sms', 5, 10_000, t0 - 1000)
    await insertUsage(u.id, 'api_calls', 100, 1_000, t0 - 1000, { resourceId: 'key_z', transactionId: `api:key_z:${thisMonth}` })
    await insertUsage(u.id, 'call_minutes', 15, 50_000, lastMonthAt)
    await insertUsage(other.id, 'call_minutes', 500, 50_000, t0 - 1000)

    // Payments: one succeeded, one failed; wallet credits: a top-up (a payment) and a refund (not one).
    await db.insert(payments).values([
      {
        id: newId('pay'),
        userId: u.id,
        purpose: 'wallet_topup',
        amount: 12_500_000,
        status: 'succeeded',
        processor: 'sandbox',
        attemptKey: newId('ak'),
        processedAt: new Date(t0 + 6000),
        createdAt: new Date(t0 + 6000),
        updatedAt: new Date(t0 + 6000),
      },
      {
        id: newId('pay'),
        userId: u.id,
        purpose: 'wallet_topup',
        amount: 99_000_000,
        status: 'failed',
        processor: 'sandbox',
        attemptKey: newId('ak'),
        createdAt: new Date(t0 + 7000),
        updatedAt: new Date(t0 + 7000),
      },
    ])
    await db.insert(walletLedger).values([
      { id: newId('led'), userId: u.id, type: 'credit', amount: 20_000_000, balanceAfter: 20_000_000, opId: newId('op'), description: 'Bank transfer', createdAt: new Date(t0 + 6500) },
      {
        id: newId('led'),
        userId: u.id,
        type: 'credit',
        amount: 750_000,
        balanceAfter: 20_750_000,
        opId: newId('op'),
        referenceType: 'activation',
        referenceId: act.id,
        description: 'Refund',
        createdAt: new Date(t0 + 8000),
      },
      { id: newId('led'), userId: u.id, type: 'debit', amount: -1_000_000, balanceAfter: 19_750_000, opId: newId('op'), createdAt: new Date(t0 + 9000) },
    ])

    const res = await call('/api/v1/analytics/dashboard', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    const data = res.body.data
    expect(Object.keys(data).sort()).toEqual(['charts', 'recentActivity', 'summary', 'usage'])
    expect(data.summary, res.text).toEqual({ totalNumbers: 2, activeNumbers: 1, totalCalls: 3, totalMinutes: 45, monthlyCost: 1.65, currency: 'USD' })
    expect(data.usage, res.text).toEqual({
      thisMonth: { calls: 2, minutes: 30, sms: 11, cost: 1.65 },
      lastMonth: { calls: 1, minutes: 15, sms: 2, cost: 0.75 },
      growth: { calls: 100, minutes: 100, sms: 450, cost: 120 },
    })

    const days = Array.from({ length: 30 }, (_, i) => new Date(today - (29 - i) * DAY).toISOString().slice(0, 10))
    const lastDay = new Date(lastMonthAt).toISOString().slice(0, 10)
    const inWindow = days.includes(lastDay)
    const todayKey = days[29]!
    expect(data.charts.callVolume, res.text).toEqual(days.map((date) => ({ date, inbound: 0, outbound: date === todayKey ? 2 : inWindow && date === lastDay ? 1 : 0 })))
    expect(data.charts.costTrend, res.text).toEqual(days.map((date) => ({ date, cost: date === todayKey ? 1.65 : inWindow && date === lastDay ? 0.75 : 0 })))
    expect(data.charts.numberUtilization, res.text).toEqual([
      { numberId: n1.id, phoneNumber: n1.phoneNumber, calls: 0, minutes: 0, sms: 3, utilization: 75 },
      { numberId: n2.id, phoneNumber: n2.phoneNumber, calls: 0, minutes: 0, sms: 1, utilization: 25 },
    ])

    // The latest 10: credit (t0+6.5s), payment (6s), 5 SMS (5s…1s), activation (0.4s), n3 (0.3s), n2 (0.2s).
    const activity = data.recentActivity as { type: string; description: string; timestamp: string; amount?: number }[]
    expect(
      activity.map((a) => a.type),
      res.text,
    ).toEqual(['payment', 'payment', 'sms', 'sms', 'sms', 'sms', 'sms', 'number_purchased', 'number_purchased', 'number_purchased'])
    expect(
      activity.map((a) => Date.parse(a.timestamp) - t0),
      res.text,
    ).toEqual([6500, 6000, 5000, 4000, 3000, 2000, 1000, 400, 300, 200])
    expect(activity[0], res.text).toMatchObject({ amount: 20, description: expect.stringContaining('Bank transfer') })
    expect(activity[1], res.text).toMatchObject({ amount: 12.5 })
    expect(activity[2]!.description, res.text).toContain(act.phone)
    expect(activity[2]!.amount).toBeUndefined()
    expect(activity[7], res.text).toMatchObject({ amount: 0.75, description: expect.stringContaining(act.phone) })
    expect(activity[8], res.text).toMatchObject({ amount: 1.5, description: expect.stringContaining(n3.phoneNumber) })
  })

  it('an empty account: zeros, 30 days of charts, no numbers, no activity', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/analytics/dashboard', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    const data = res.body.data
    expect(data.summary).toEqual({ totalNumbers: 0, activeNumbers: 0, totalCalls: 0, totalMinutes: 0, monthlyCost: 0, currency: 'USD' })
    const zero = { calls: 0, minutes: 0, sms: 0, cost: 0 }
    expect(data.usage).toEqual({ thisMonth: zero, lastMonth: zero, growth: zero })
    expect(data.charts.callVolume).toHaveLength(30)
    expect(data.charts.costTrend.every((c: { cost: number }) => c.cost === 0)).toBe(true)
    expect(data.charts.callVolume.at(-1).date).toBe(new Date().toISOString().slice(0, 10))
    expect(data.charts.numberUtilization).toEqual([])
    expect(data.recentActivity).toEqual([])
  })

  it('one batch of queries, none a full scan of a big table', async () => {
    const { dashboardQueries, statsQueries } = await import('../../../src/modules/analytics/analytics.queries')
    const queries = [...dashboardQueries(db, 'usr_x', Date.now()), ...statsQueries(db, 'usr_x', '2026-01')]
    for (const q of queries) {
      const { sql, params } = q.toSQL()
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>()
      const lines = results.map((r) => r.detail)
      const scans = lines.filter((l) => /^SCAN (usage_records|phone_numbers|sms_messages|activations|payments|wallet_ledger|invoices|subscriptions)\b(?!.*USING (COVERING )?INDEX)/.test(l))
      expect(scans, `${sql}\n${lines.join('\n')}`).toEqual([])
    }
  })

  it('keys need billing:read; no credentials is a 401', async () => {
    const u = await registerUser()
    const reader = await createApiKey(u, ['billing:read'])
    expect((await call('/api/v1/analytics/dashboard', { apiKey: reader.key })).status).toBe(200)
    const other = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await call('/api/v1/analytics/dashboard', { apiKey: other.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/v1/analytics/dashboard'), 401, 'UNAUTHORIZED')
  })
})

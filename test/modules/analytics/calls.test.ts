import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { phoneNumbers } from '../../../src/db/schema'
import { newId } from '../../../src/lib/ids'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { sandboxProvider } from '../../helpers/catalog'
import { uniqueNumber } from '../../helpers/dids'
import { db, insertUsage } from '../../helpers/usage'

const PATH = '/api/v1/analytics/calls'
const at = (iso: string) => Date.parse(iso)
const STATUSES = ['completed', 'busy', 'failed', 'no-answer', 'canceled']

async function number(userId: string, providerId: string, countryCode: string) {
  const t = Date.now()
  const row = {
    id: newId('pn', t),
    userId,
    providerId,
    phoneNumber: uniqueNumber('646'),
    countryCode,
    numberType: 'LOCAL' as const,
    capabilities: ['SMS', 'VOICE'],
    status: 'active' as const,
    monthlyPrice: 1_000_000,
    setupPrice: 500_000,
    purchasedAt: new Date(t),
    createdAt: new Date(t),
    updatedAt: new Date(t),
  }
  await db.insert(phoneNumbers).values(row)
  return row
}

/**
 * A fresh user with calls (call_minutes rows at $0.05 a minute) around 2025-03-10…12, and another
 * user with calls of its own, some naming its number.
 *   in range:  03-10 09:15 10 min on n1 (US) · 03-10 09:45 4 min on n1 · 03-11 14:00 6 min on n2 (GB)
 *              03-11 14:30 3 min naming the other user's number · 03-12 23:59:59.999 5 min on no number
 *   outside:   03-09 23:59:59.999 100 min · 03-13 00:00 100 min
 *   not calls: 7 SMS on 03-11
 */
async function seed() {
  const u = await registerUser()
  const other = await registerUser()
  const p = await sandboxProvider()
  const n1 = await number(u.id, p.id, 'us')
  const n2 = await number(u.id, p.id, 'gb')
  const o1 = await number(other.id, p.id, 'fr')
  const rate = 50_000
  await insertUsage(u.id, 'call_minutes', 10, rate, at('2025-03-10T09:15:00Z'), { resourceId: n1.id })
  await insertUsage(u.id, 'call_minutes', 4, rate, at('2025-03-10T09:45:00Z'), { resourceId: n1.id })
  await insertUsage(u.id, 'call_minutes', 6, rate, at('2025-03-11T14:00:00Z'), { resourceId: n2.id })
  await insertUsage(u.id, 'call_minutes', 3, rate, at('2025-03-11T14:30:00Z'), { resourceId: o1.id })
  await insertUsage(u.id, 'call_minutes', 5, rate, at('2025-03-12T23:59:59.999Z'))
  await insertUsage(u.id, 'call_minutes', 100, rate, at('2025-03-09T23:59:59.999Z'))
  await insertUsage(u.id, 'call_minutes', 100, rate, at('2025-03-13T00:00:00Z'))
  await insertUsage(u.id, 'sms', 7, 10_000, at('2025-03-11T12:00:00Z'))
  await insertUsage(other.id, 'call_minutes', 500, rate, at('2025-03-11T10:00:00Z'), { resourceId: o1.id })
  await insertUsage(other.id, 'call_minutes', 60, rate, at('2025-03-10T09:00:00Z'))
  return { u, other, n1, n2, o1 }
}

const get = (u: TestUser, query: string) => call(`${PATH}?${query}`, { token: u.accessToken })

function hours(filled: Record<number, [number, number]>) {
  return Array.from({ length: 24 }, (_, hour) => ({ hour, calls: filled[hour]?.[0] ?? 0, minutes: filled[hour]?.[1] ?? 0 }))
}

const zeroStatus = Object.fromEntries(STATUSES.map((s) => [s, 0]))

describe('GET /api/v1/analytics/calls', () => {
  it('every CallAnalyticsResponse field, exact from the usage rows', async () => {
    const { u, other, n1, n2 } = await seed()
    const res = await get(u, 'startDate=2025-03-10&endDate=2025-03-12')
    expect(res.status, res.text).toBe(200)
    expect(res.body.success).toBe(true)
    expect(typeof res.body.meta.requestId).toBe('string')
    const data = res.body.data
    expect(Object.keys(data).sort()).toEqual(['breakdown', 'geographic', 'groupBy', 'summary', 'topNumbers'])
    expect(data.groupBy).toBe('day')
    expect(data.summary, res.text).toEqual({ totalCalls: 5, totalMinutes: 28, averageDuration: 5.6, successRate: 100, totalCost: 1.4, currency: 'USD' })
    expect(Object.keys(data.breakdown).sort()).toEqual(['byDay', 'byDirection', 'byHour', 'byStatus'])
    expect(data.breakdown.byDirection).toEqual({ inbound: { calls: 0, minutes: 0, cost: 0 }, outbound: { calls: 5, minutes: 28, cost: 1.4 } })
    expect(data.breakdown.byStatus).toEqual({ ...zeroStatus, completed: 5 })
    expect(data.breakdown.byHour).toEqual(hours({ 9: [2, 14], 14: [2, 9], 23: [1, 5] }))
    expect(data.breakdown.byDay).toEqual([
      { date: '2025-03-10', calls: 2, minutes: 14 },
      { date: '2025-03-11', calls: 2, minutes: 9 },
      { date: '2025-03-12', calls: 1, minutes: 5 },
    ])
    // The call naming the other user's number counts, but not as one of the caller's numbers.
    expect(data.topNumbers).toEqual([
      { numberId: n1.id, phoneNumber: n1.phoneNumber, calls: 2, minutes: 14, cost: 0.7 },
      { numberId: n2.id, phoneNumber: n2.phoneNumber, calls: 1, minutes: 6, cost: 0.3 },
    ])
    expect(data.geographic).toEqual([
      { country: 'US', calls: 2, minutes: 14, percentage: 40 },
      { country: 'GB', calls: 1, minutes: 6, percentage: 20 },
    ])

    // Types of every documented field.
    for (const v of Object.values(data.summary).filter((x) => typeof x !== 'string')) expect(typeof v).toBe('number')
    for (const h of data.breakdown.byHour) expect(Number.isInteger(h.hour) && h.hour >= 0 && h.hour < 24).toBe(true)
    for (const d of data.breakdown.byDay) expect(d.date).toMatch(/^\d{4}-\d{2}-\d{2}$/)

    // The other user sees only its own calls: 500 min on its number, 60 min on none.
    const theirs = (await get(other, 'startDate=2025-03-10&endDate=2025-03-12')).body.data
    expect(theirs.summary).toEqual({ totalCalls: 2, totalMinutes: 560, averageDuration: 280, successRate: 100, totalCost: 28, currency: 'USD' })
    expect(theirs.topNumbers.map((n: { calls: number; minutes: number }) => [n.calls, n.minutes])).toEqual([[1, 500]])
    expect(theirs.geographic).toEqual([{ country: 'FR', calls: 1, minutes: 500, percentage: 50 }])
  })

  it('filters by date: whole days, inclusive date-times, and nothing outside', async () => {
    const { u } = await seed()
    const one = (await get(u, 'startDate=2025-03-11&endDate=2025-03-11')).body.data
    expect(one.summary).toMatchObject({ totalCalls: 2, totalMinutes: 9, totalCost: 0.45 })
    expect(one.breakdown.byDay).toEqual([{ date: '2025-03-11', calls: 2, minutes: 9 }])

    const edge = await get(u, 'startDate=2025-03-10T09:30:00Z&endDate=2025-03-12T23:59:59.999Z')
    expect(edge.status, edge.text).toBe(200)
    expect(edge.body.data.summary).toMatchObject({ totalCalls: 4, totalMinutes: 18 })
    const before = (await get(u, 'startDate=2025-03-10T09:30:00Z&endDate=2025-03-12T23:59:59.998Z')).body.data
    expect(before.summary).toMatchObject({ totalCalls: 3, totalMinutes: 13 })

    // The rows just outside the 10th–12th are counted once the range covers them.
    const wide = (await get(u, 'startDate=2025-03-09&endDate=2025-03-13')).body.data
    expect(wide.summary).toMatchObject({ totalCalls: 7, totalMinutes: 228, totalCost: 11.4 })

    const empty = (await get(u, 'startDate=2024-01-01&endDate=2024-01-02')).body.data
    expect(empty.summary).toEqual({ totalCalls: 0, totalMinutes: 0, averageDuration: 0, successRate: 0, totalCost: 0, currency: 'USD' })
    expect(empty.breakdown.byStatus).toEqual(zeroStatus)
    expect(empty.breakdown.byHour).toEqual(hours({}))
    expect(empty.breakdown.byDay).toEqual([
      { date: '2024-01-01', calls: 0, minutes: 0 },
      { date: '2024-01-02', calls: 0, minutes: 0 },
    ])
    expect(empty.topNumbers).toEqual([])
    expect(empty.geographic).toEqual([])
  })

  it('groupBy buckets byDay by week (from Monday) and month; hour keeps days', async () => {
    const { u } = await seed()
    const weeks = (await get(u, 'startDate=2025-03-01&endDate=2025-03-31&groupBy=week')).body.data
    expect(weeks.breakdown.byDay).toEqual([
      { date: '2025-02-24', calls: 0, minutes: 0 },
      { date: '2025-03-03', calls: 1, minutes: 100 },
      { date: '2025-03-10', calls: 6, minutes: 128 },
      { date: '2025-03-17', calls: 0, minutes: 0 },
      { date: '2025-03-24', calls: 0, minutes: 0 },
      { date: '2025-03-31', calls: 0, minutes: 0 },
    ])
    const months = (await get(u, 'startDate=2025-02-15&endDate=2025-04-02&groupBy=month')).body.data
    expect(months.breakdown.byDay).toEqual([
      { date: '2025-02-01', calls: 0, minutes: 0 },
      { date: '2025-03-01', calls: 7, minutes: 228 },
      { date: '2025-04-01', calls: 0, minutes: 0 },
    ])
    const byHour = (await get(u, 'startDate=2025-03-10&endDate=2025-03-11&groupBy=hour')).body.data
    expect(byHour.breakdown.byDay.map((d: { date: string }) => d.date)).toEqual(['2025-03-10', '2025-03-11'])
    expect(byHour.breakdown.byHour).toEqual(hours({ 9: [2, 14], 14: [2, 9] }))
  })

  it('direction, status and numberId filters', async () => {
    const { u, n1, o1 } = await seed()
    const range = 'startDate=2025-03-10&endDate=2025-03-12'
    const out = (await get(u, `${range}&direction=outbound&status=completed`)).body.data
    expect(out.summary).toMatchObject({ totalCalls: 5, totalMinutes: 28 })

    for (const filter of ['direction=inbound', 'status=busy', 'status=no-answer']) {
      const res = await get(u, `${range}&${filter}`)
      expect(res.status, res.text).toBe(200)
      const d = res.body.data
      expect(d.summary, filter).toEqual({ totalCalls: 0, totalMinutes: 0, averageDuration: 0, successRate: 0, totalCost: 0, currency: 'USD' })
      expect(d.breakdown.byStatus).toEqual(zeroStatus)
      expect(d.breakdown.byDirection.outbound).toEqual({ calls: 0, minutes: 0, cost: 0 })
      expect(d.topNumbers).toEqual([])
      expect(d.geographic).toEqual([])
    }

    const onN1 = (await get(u, `${range}&numberId=${n1.id}`)).body.data
    expect(onN1.summary).toEqual({ totalCalls: 2, totalMinutes: 14, averageDuration: 7, successRate: 100, totalCost: 0.7, currency: 'USD' })
    expect(onN1.topNumbers).toEqual([{ numberId: n1.id, phoneNumber: n1.phoneNumber, calls: 2, minutes: 14, cost: 0.7 }])
    expect(onN1.geographic).toEqual([{ country: 'US', calls: 2, minutes: 14, percentage: 100 }])

    // The caller's own row naming another account's number: counted, never shown as a number of theirs.
    const onO1 = (await get(u, `${range}&numberId=${o1.id}`)).body.data
    expect(onO1.summary).toMatchObject({ totalCalls: 1, totalMinutes: 3 })
    expect(onO1.topNumbers).toEqual([])
    expect(onO1.geographic).toEqual([])

    const none = (await get(u, `${range}&numberId=pn_nothing`)).body.data
    expect(none.summary.totalCalls).toBe(0)
  })

  it('bad dates and parameters are a 400 VALIDATION_ERROR', async () => {
    const u = await registerUser()
    const bad = [
      ['endDate=2025-03-12', 'startDate'],
      ['startDate=2025-03-10', 'endDate'],
      ['startDate=yesterday&endDate=2025-03-12', 'startDate'],
      ['startDate=2025-02-30&endDate=2025-03-12', 'startDate'],
      ['startDate=2025-03-10&endDate=2025-13-01', 'endDate'],
      ['startDate=2025-03-12&endDate=2025-03-11', 'endDate'],
      ['startDate=2025-03-12T10:00:00Z&endDate=2025-03-12T09:59:59Z', 'endDate'],
      ['startDate=2025-03-10&endDate=2025-03-12&groupBy=year', 'groupBy'],
      ['startDate=2025-03-10&endDate=2025-03-12&direction=sideways', 'direction'],
      ['startDate=2025-03-10&endDate=2025-03-12&status=ringing', 'status'],
      ['startDate=2020-01-01&endDate=2025-01-01&groupBy=day', 'groupBy'],
      ['startDate=2020-01-01&endDate=2025-01-01&groupBy=hour', 'groupBy'],
      ['startDate=1900-01-01&endDate=2025-01-01', 'endDate'],
    ] as const
    for (const [query, field] of bad) {
      const res = await get(u, query)
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, `${query}: ${res.text}`).toBe(field)
    }
    // Without groupBy, 5 years are answered by week (the finest bucket within 1000), and the answer says so.
    const weeks = await get(u, 'startDate=2020-01-01&endDate=2025-01-01')
    expect(weeks.status, weeks.text).toBe(200)
    expect(weeks.body.data.groupBy, weeks.text).toBe('week')
    expect(weeks.body.data.breakdown.byDay, weeks.text).toHaveLength(262)
    expect(weeks.body.data.breakdown.byDay[0].date).toBe('2019-12-30')
    expect(weeks.body.data.breakdown.byDay.at(-1).date).toBe('2024-12-30')
    // The same instant as start and end is a valid range; so are 5 years by month.
    expect((await get(u, 'startDate=2025-03-12T10:00:00Z&endDate=2025-03-12T10:00:00Z')).status).toBe(200)
    expect((await get(u, 'startDate=2020-01-01&endDate=2025-01-01&groupBy=month')).body.data.breakdown.byDay).toHaveLength(61)
  })

  it('one batch of queries from the (user_id, occurred_at) index — per number from the call-records index — none a full scan', async () => {
    const { callQueries } = await import('../../../src/modules/analytics/analytics.queries')
    const base = { start: at('2025-03-10T00:00:00Z'), end: at('2025-03-13T00:00:00Z') }
    const queries: [ReturnType<typeof callQueries>[number], string][] = [
      ...callQueries(db, 'usr_x', { ...base, groupBy: 'day' }).map((q) => [q, 'usage_records_user_occurred_idx'] as [typeof q, string]),
      ...callQueries(db, 'usr_x', { ...base, groupBy: 'week', numberId: 'pn_x', direction: 'outbound', status: 'completed' }).map(
        (q) => [q, 'usage_records_user_type_resource_idx'] as [typeof q, string],
      ),
    ]
    for (const [q, index] of queries) {
      const { sql, params } = q.toSQL()
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>()
      const lines = results.map((r) => r.detail)
      const scans = lines.filter((l) => /^SCAN (usage_records|phone_numbers)\b(?!.*USING (COVERING )?INDEX)/.test(l))
      expect(scans, `${sql}\n${lines.join('\n')}`).toEqual([])
      expect(
        lines.some((l) => l.includes(index)),
        `${sql}\n${lines.join('\n')}`,
      ).toBe(true)
    }
  })

  it('keys need billing:read; no credentials is a 401', async () => {
    const u = await registerUser()
    const q = '?startDate=2025-03-10&endDate=2025-03-12'
    const reader = await createApiKey(u, ['billing:read'])
    expect((await call(PATH + q, { apiKey: reader.key })).status).toBe(200)
    const other = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await call(PATH + q, { apiKey: other.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call(PATH + q), 401, 'UNAUTHORIZED')
  })
})

import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { USAGE_TYPES } from '../../../src/db/schema'
import { UsageService } from '../../../src/modules/usage/usage.service'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { db, insertUsage } from '../../helpers/usage'

const t = (iso: string) => Date.parse(iso)
let u: TestUser

beforeAll(async () => {
  u = await registerUser()
  await insertUsage(u.id, 'sms', 1, 10_000, t('2026-02-28T23:59:59.999Z'))
  await insertUsage(u.id, 'call_minutes', 10, 50_000, t('2026-03-02T10:00:00Z'), { description: 'Reported usage A' })
  await insertUsage(u.id, 'call_minutes', 5, 50_000, t('2026-03-02T12:00:00Z'), { description: 'Reported usage B' })
  await insertUsage(u.id, 'sms', 20, 10_000, t('2026-03-04T09:00:00Z'))
  await insertUsage(u.id, 'api_calls', 7, 1_000, t('2026-03-08T00:00:00Z'), { resourceId: 'key_a', transactionId: 'api:key_a:2026-03-08' })
  await insertUsage(u.id, 'api_calls', 3, 1_000, t('2026-03-09T00:00:00Z'), { resourceId: 'key_b', transactionId: 'api:key_b:2026-03-09' })
  await insertUsage(u.id, 'activation', 1, 1_200_000, t('2026-03-09T10:00:00Z'), { resourceId: 'num_a', prepaid: true })
  await insertUsage(u.id, 'activation', -1, 1_200_000, t('2026-03-09T13:00:00Z'), { resourceId: 'num_a', prepaid: true })
  await insertUsage(u.id, 'did_purchase', 1, 2_000_000, t('2026-04-01T00:00:00Z'), { resourceId: 'pn_a', prepaid: true })
  const other = await registerUser()
  await insertUsage(other.id, 'call_minutes', 1000, 50_000, t('2026-03-02T10:00:00Z'))
})

const get = (qs: string, auth: { token?: string; apiKey?: string } = { token: u.accessToken }) => call(`/api/v1/billing/usage?${qs}`, auth)

describe('GET /api/v1/billing/usage', () => {
  it('groupBy day (what a short range gets without groupBy): records per day, type and resource; exact summary; every day in trends', async () => {
    const res = await get('startDate=2026-03-01&endDate=2026-03-31')
    expect(res.status, res.text).toBe(200)
    const d = res.body.data
    expect(Object.keys(d).sort()).toEqual(['groupBy', 'summary', 'trends', 'usage'])
    expect(d.groupBy, res.text).toBe('day')
    expect(d.usage, res.text).toEqual([
      {
        date: '2026-03-02',
        resourceType: 'call_minutes',
        resourceId: null,
        quantity: 15,
        unit: 'minute',
        unitPrice: 0.05,
        totalCost: 0.75,
        currency: 'USD',
        description: 'Reported usage A; Reported usage B',
      },
      { date: '2026-03-04', resourceType: 'sms', resourceId: null, quantity: 20, unit: 'message', unitPrice: 0.01, totalCost: 0.2, currency: 'USD', description: null },
      { date: '2026-03-08', resourceType: 'api_calls', resourceId: 'key_a', quantity: 7, unit: 'request', unitPrice: 0.001, totalCost: 0.007, currency: 'USD', description: null },
      { date: '2026-03-09', resourceType: 'activation', resourceId: 'num_a', quantity: 0, unit: 'activation', unitPrice: 1.2, totalCost: 0, currency: 'USD', description: null },
      { date: '2026-03-09', resourceType: 'api_calls', resourceId: 'key_b', quantity: 3, unit: 'request', unitPrice: 0.001, totalCost: 0.003, currency: 'USD', description: null },
    ])
    expect(d.summary, res.text).toEqual({
      totalCost: 0.96,
      totalQuantity: 45,
      period: { start: '2026-03-01T00:00:00.000Z', end: '2026-03-31T23:59:59.999Z' },
      breakdown: {
        call_minutes: { quantity: 15, cost: 0.75, unit: 'minute' },
        sms: { quantity: 20, cost: 0.2, unit: 'message' },
        api_calls: { quantity: 10, cost: 0.01, unit: 'request' },
        activation: { quantity: 0, cost: 0, unit: 'activation' },
      },
    })
    expect(d.trends, res.text).toHaveLength(31)
    expect(d.trends[0]).toEqual({ date: '2026-03-01', cost: 0, quantity: 0 })
    expect(d.trends[1]).toEqual({ date: '2026-03-02', cost: 0.75, quantity: 15 })
    expect(d.trends[8]).toEqual({ date: '2026-03-09', cost: 0.003, quantity: 3 })
    expect(d.trends[30]).toEqual({ date: '2026-03-31', cost: 0, quantity: 0 })
  })

  it('groupBy week (Monday) and month', async () => {
    const week = await get('startDate=2026-03-01&endDate=2026-03-31&groupBy=week')
    expect(week.status, week.text).toBe(200)
    expect(week.body.data.groupBy, week.text).toBe('week')
    expect(week.body.data.trends, week.text).toEqual([
      { date: '2026-02-23', cost: 0, quantity: 0 },
      { date: '2026-03-02', cost: 0.957, quantity: 42 },
      { date: '2026-03-09', cost: 0.003, quantity: 3 },
      { date: '2026-03-16', cost: 0, quantity: 0 },
      { date: '2026-03-23', cost: 0, quantity: 0 },
      { date: '2026-03-30', cost: 0, quantity: 0 },
    ])
    expect(
      week.body.data.usage.map((r: any) => [r.date, r.resourceType, r.resourceId, r.quantity]),
      week.text,
    ).toEqual([
      ['2026-03-02', 'api_calls', 'key_a', 7],
      ['2026-03-02', 'call_minutes', null, 15],
      ['2026-03-02', 'sms', null, 20],
      ['2026-03-09', 'activation', 'num_a', 0],
      ['2026-03-09', 'api_calls', 'key_b', 3],
    ])
    const month = await get('startDate=2026-02-01&endDate=2026-04-30&groupBy=month')
    expect(month.status, month.text).toBe(200)
    expect(month.body.data.groupBy, month.text).toBe('month')
    expect(month.body.data.trends, month.text).toEqual([
      { date: '2026-02-01', cost: 0.01, quantity: 1 },
      { date: '2026-03-01', cost: 0.96, quantity: 45 },
      { date: '2026-04-01', cost: 2, quantity: 1 },
    ])
    expect(month.body.data.summary.totalCost, month.text).toBe(2.97)
    expect(month.body.data.summary.breakdown.did_purchase, month.text).toEqual({ quantity: 1, cost: 2, unit: 'number' })
    expect(
      month.body.data.usage.find((r: any) => r.resourceType === 'api_calls'),
      month.text,
    ).toMatchObject({ date: '2026-03-01', resourceId: 'key_a', quantity: 7 })
  })

  it('filters: resourceType (commas or repeated), resourceId, date-times', async () => {
    const types = await get('startDate=2026-03-01&endDate=2026-03-31&resourceType=api_calls,sms')
    expect(types.status, types.text).toBe(200)
    expect(
      types.body.data.usage.map((r: any) => r.resourceType),
      types.text,
    ).toEqual(['sms', 'api_calls', 'api_calls'])
    expect(types.body.data.summary, types.text).toMatchObject({ totalCost: 0.21, totalQuantity: 30 })
    expect(Object.keys(types.body.data.summary.breakdown).sort()).toEqual(['api_calls', 'sms'])

    const repeated = await get('startDate=2026-03-01&endDate=2026-03-31&resourceType=api_calls&resourceType=activation')
    expect(
      repeated.body.data.usage.map((r: any) => r.resourceType),
      repeated.text,
    ).toEqual(['api_calls', 'activation', 'api_calls'])

    const one = await get('startDate=2026-03-01&endDate=2026-03-31&resourceId=key_a')
    expect(one.body.data.usage, one.text).toHaveLength(1)
    expect(one.body.data.summary, one.text).toMatchObject({ totalCost: 0.007, totalQuantity: 7 })

    // Date-times: the end is inclusive; only the 12:00 call and the activation's purchase fall inside.
    const times = await get('startDate=2026-03-02T11:00:00Z&endDate=2026-03-09T12:59:59.999Z&resourceType=call_minutes,activation')
    expect(times.status, times.text).toBe(200)
    expect(
      times.body.data.usage.map((r: any) => [r.date, r.resourceType, r.quantity, r.totalCost]),
      times.text,
    ).toEqual([
      ['2026-03-02', 'call_minutes', 5, 0.25],
      ['2026-03-09', 'activation', 1, 1.2],
    ])
    expect(times.body.data.summary.period, times.text).toEqual({ start: '2026-03-02T11:00:00.000Z', end: '2026-03-09T12:59:59.999Z' })

    // A single day; nothing in a range without usage.
    const day = await get('startDate=2026-03-04&endDate=2026-03-04')
    expect(day.body.data.summary, day.text).toMatchObject({ totalCost: 0.2, totalQuantity: 20 })
    expect(day.body.data.trends, day.text).toEqual([{ date: '2026-03-04', cost: 0.2, quantity: 20 }])
    const empty = await get('startDate=2025-01-01&endDate=2025-01-03')
    expect(empty.body.data, empty.text).toEqual({
      groupBy: 'day',
      usage: [],
      summary: { totalCost: 0, totalQuantity: 0, period: { start: '2025-01-01T00:00:00.000Z', end: '2025-01-03T23:59:59.999Z' }, breakdown: {} },
      trends: [
        { date: '2025-01-01', cost: 0, quantity: 0 },
        { date: '2025-01-02', cost: 0, quantity: 0 },
        { date: '2025-01-03', cost: 0, quantity: 0 },
      ],
    })
  })

  it('without groupBy, the finest bucket that keeps the range within 1000 (day, week, month) is used and named; an explicit one too fine is a 400', async () => {
    // 2024-01-01 … 2026-09-25 is 999 days, … 09-26 1000: both fit by day.
    for (const [end, days] of [
      ['2026-09-25', 999],
      ['2026-09-26', 1000],
    ] as const) {
      const res = await get(`startDate=2024-01-01&endDate=${end}`)
      expect(res.status, res.text).toBe(200)
      expect(res.body.data.groupBy, res.text).toBe('day')
      expect(res.body.data.trends, res.text).toHaveLength(days)
    }
    // One day more is 1001 days: weeks (from Monday 2024-01-01 to Monday 2026-09-21, 143 of them).
    const weeks = await get('startDate=2024-01-01&endDate=2026-09-27')
    expect(weeks.status, weeks.text).toBe(200)
    expect(weeks.body.data.groupBy, weeks.text).toBe('week')
    expect(weeks.body.data.trends, weeks.text).toHaveLength(143)
    expect(weeks.body.data.trends[0].date).toBe('2024-01-01')
    expect(weeks.body.data.trends.at(-1).date).toBe('2026-09-21')
    expect(weeks.body.data.summary.totalCost, weeks.text).toBe(2.97)
    expect(weeks.body.data.usage.find((r: any) => r.resourceType === 'did_purchase')?.date, weeks.text).toBe('2026-03-30')
    // 27 years is too many weeks: months.
    const months = await get('startDate=2000-01-01&endDate=2026-12-31')
    expect(months.status, months.text).toBe(200)
    expect(months.body.data.groupBy, months.text).toBe('month')
    expect(months.body.data.trends, months.text).toHaveLength(27 * 12)
    expect(months.body.data.summary.totalCost, months.text).toBe(2.97)
    // Asked for explicitly, a bucket too fine for the range is still refused.
    for (const g of ['day', 'week']) {
      const res = await get(`startDate=2000-01-01&endDate=2026-12-31&groupBy=${g}`)
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, res.text).toBe('groupBy')
    }
    // Longer than 1000 months: no bucket fits; the range is what to change.
    const tooLong = await get('startDate=1900-01-01&endDate=2026-12-31')
    expectErrorEnvelope(tooLong, 400, 'VALIDATION_ERROR')
    expect(tooLong.body.error.field, tooLong.text).toBe('endDate')
  })

  it("only the caller's usage: another account sees none of it; API keys need billing:read", async () => {
    const other = await registerUser()
    const res = await get('startDate=2026-03-01&endDate=2026-03-31', { token: other.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.usage, res.text).toEqual([])
    const reader = await createApiKey(u, ['billing:read'])
    const viaKey = await get('startDate=2026-03-01&endDate=2026-03-31', { apiKey: reader.key })
    expect(viaKey.status, viaKey.text).toBe(200)
    expect(viaKey.body.data.summary.totalCost, viaKey.text).toBe(0.96)
    const noPerm = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await get('startDate=2026-03-01&endDate=2026-03-31', { apiKey: noPerm.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await get('startDate=2026-03-01&endDate=2026-03-31', {}), 401, 'UNAUTHORIZED')
  })

  it('400 for missing or bad dates, an end before the start, unknown types or groupings, too many buckets', async () => {
    for (const qs of [
      '',
      'startDate=2026-03-01',
      'endDate=2026-03-31',
      'startDate=2026-03-31&endDate=2026-03-01',
      'startDate=2026-03-02T10:00:00Z&endDate=2026-03-02T09:59:59Z',
      'startDate=2026-02-30&endDate=2026-03-31',
      'startDate=yesterday&endDate=2026-03-31',
      'startDate=2026-03-01&endDate=2026-03-31&groupBy=year',
      'startDate=2026-03-01&endDate=2026-03-31&resourceType=calls',
      'startDate=2000-01-01&endDate=2026-03-31&groupBy=day',
    ]) {
      expectErrorEnvelope(await get(qs), 400, 'VALIDATION_ERROR')
    }
    const res = await get('startDate=2026-03-31&endDate=2026-03-01')
    expect(res.body.error.details[0].field, res.text).toBe('endDate')
  })

  it('the range query starts from a (user_id, …) index — no full scan', async () => {
    const svc = new UsageService({ db })
    for (const q of [
      { start: 0, end: 1e13, groupBy: 'day' as const },
      { start: 0, end: 1e13, groupBy: 'month' as const, resourceTypes: [...USAGE_TYPES], resourceId: 'x' },
    ]) {
      const { sql, params } = svc.rangeQuery('usr_x', q).toSQL()
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>()
      const lines = results.map((r) => r.detail)
      expect(
        lines.filter((l) => /^SCAN usage_records\b(?!.*USING (COVERING )?INDEX)/.test(l)),
        lines.join('\n'),
      ).toEqual([])
      // With a resourceId, the (user_id, resource_type, resource_id, occurred_at) index narrows further.
      expect(
        lines.some((l) => /usage_records USING INDEX usage_records_user_(occurred|month|type_resource)_idx/.test(l)),
        lines.join('\n'),
      ).toBe(true)
    }
    const { sql, params } = svc.historyQuery('usr_x', 6).toSQL()
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(...params)
      .all<{ detail: string }>()
    const lines = results.map((r) => r.detail)
    expect(
      lines.filter((l) => /^SCAN usage_records\b(?!.*USING (COVERING )?INDEX)/.test(l)),
      lines.join('\n'),
    ).toEqual([])
  })
})

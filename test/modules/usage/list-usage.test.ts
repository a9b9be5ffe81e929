import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'
import { insertUsage } from '../../helpers/usage'

const t = (iso: string) => Date.parse(iso)

describe('GET /api/usage', () => {
  it('one entry per month, newest first, summing reported and metered rows; limit; stable ids', async () => {
    const u = await registerUser()
    const admin = await registerAdmin()
    await insertUsage(u.id, 'call_minutes', 100, 50_000, t('2024-10-15T10:00:00Z'))
    await insertUsage(u.id, 'sms', 40, 10_000, t('2024-10-20T10:00:00Z'))
    await insertUsage(u.id, 'call_minutes', 50, 50_000, t('2024-11-02T10:00:00Z'))
    await insertUsage(u.id, 'call_minutes', 25, 50_000, t('2024-11-03T10:00:00Z'))
    await insertUsage(u.id, 'sms', 10, 10_000, t('2024-11-04T10:00:00Z'))
    // The API-call meter's row of one key and day, grown later the same day.
    await insertUsage(u.id, 'api_calls', 7, 1_000, t('2024-11-05T00:00:00Z'), {
      resourceId: 'key_x',
      transactionId: 'api:key_x:2024-11-05',
      updatedAt: new Date(t('2024-11-05T18:00:00Z')),
    })
    // Product meters are not usage billing's metrics: no month of their own.
    await insertUsage(u.id, 'activation', 1, 500_000, t('2024-12-01T10:00:00Z'), { prepaid: true })
    // A report through the API adds to its month.
    const reported = await call('/api/usage', { token: admin.accessToken, body: { userId: u.id, month: '2024-11', apiCalls: 3, smsCount: 5 } })
    expect(reported.status, reported.text).toBe(201)
    // Another account's usage is not counted.
    const other = await registerUser()
    await insertUsage(other.id, 'call_minutes', 999, 50_000, t('2024-11-02T10:00:00Z'))

    const res = await call('/api/usage', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(Array.isArray(res.body.data), res.text).toBe(true)
    const months = res.body.data as Record<string, unknown>[]
    expect(
      months.map((m) => m.month),
      res.text,
    ).toEqual(['2024-11', '2024-10'])
    expect(months[0], res.text).toMatchObject({ userId: u.id, month: '2024-11', callMinutes: 75, smsCount: 15, apiCalls: 10 })
    expect(months[1], res.text).toEqual({ id: months[1]!.id, userId: u.id, month: '2024-10', callMinutes: 100, smsCount: 40, apiCalls: 0, recordedAt: '2024-10-20T10:00:00.000Z' })
    // 2024-11's latest row is the report, recorded now.
    expect(Date.parse(months[0]!.recordedAt as string)).toBeGreaterThan(Date.now() - 60_000)
    expect(months[0]!.id).not.toBe(months[1]!.id)

    const limited = await call('/api/usage?limit=1', { token: u.accessToken })
    expect(limited.status, limited.text).toBe(200)
    expect(limited.body.data, limited.text).toEqual([months[0]])
    const byId = await call(`/api/usage?userId=${u.id}&limit=6`, { token: u.accessToken })
    expect(byId.body.data, byId.text).toEqual(months)
    // An admin may read anyone's history.
    const asAdmin = await call(`/api/usage?userId=${u.id}`, { token: admin.accessToken })
    expect(asAdmin.status, asAdmin.text).toBe(200)
    expect(asAdmin.body.data, asAdmin.text).toEqual(months)
  })

  it("another user's usage is a 404; unknown user for an admin is a 404; empty history is []", async () => {
    const u = await registerUser()
    const other = await registerUser()
    await insertUsage(other.id, 'sms', 3, 10_000, t('2024-09-01T10:00:00Z'))
    expectErrorEnvelope(await call(`/api/usage?userId=${other.id}`, { token: u.accessToken }), 404, 'NOT_FOUND')
    const admin = await registerAdmin()
    expectErrorEnvelope(await call('/api/usage?userId=usr_nobody', { token: admin.accessToken }), 404, 'NOT_FOUND')
    const mine = await call('/api/usage', { token: u.accessToken })
    expect(mine.status, mine.text).toBe(200)
    expect(mine.body.data).toEqual([])
  })

  it('API keys need billing:read; bad limit is a 400; no credentials a 401', async () => {
    const u = await registerUser()
    await insertUsage(u.id, 'sms', 2, 10_000, t('2024-08-01T10:00:00Z'))
    const reader = await createApiKey(u, ['billing:read'])
    const res = await call('/api/usage', { apiKey: reader.key })
    expect(res.status, res.text).toBe(200)
    expect(
      res.body.data.find((m: { month: string }) => m.month === '2024-08'),
      res.text,
    ).toMatchObject({ smsCount: 2, callMinutes: 0 })
    const writer = await createApiKey(u, ['usage:write'])
    expectErrorEnvelope(await call('/api/usage', { apiKey: writer.key }), 403, 'FORBIDDEN')
    for (const limit of ['0', '-1', 'x', '1.5']) expectErrorEnvelope(await call(`/api/usage?limit=${limit}`, { token: u.accessToken }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await call('/api/usage'), 401, 'UNAUTHORIZED')
  })
})

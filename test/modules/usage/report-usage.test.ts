import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser, type TestUser } from '../../helpers/api'
import { usageRows } from '../../helpers/usage'

const report = (body: Record<string, unknown>, auth: { token?: string; apiKey?: string }) => call('/api/usage', { body, ...auth })
const as = (u: TestUser) => ({ token: u.accessToken })

async function events(userId: string) {
  const { results } = await env.DB.prepare(`SELECT payload FROM outbox WHERE type = 'usage.recorded' AND user_id = ? ORDER BY created_at, id`).bind(userId).all<{ payload: string }>()
  return results.map((r) => JSON.parse(r.payload) as Record<string, unknown>)
}

describe('POST /api/usage', () => {
  it("an admin reports for a user: 201, usage billing's shape, one row per non-zero metric at the rates, one event", async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await report({ userId: u.id, month: '2024-12', callMinutes: 350, smsCount: 900, apiCalls: 5000 }, as(admin))
    expect(res.status, res.text).toBe(201)
    expect(res.body.message, res.text).toBe('Usage recorded successfully')
    const d = res.body.data
    expect(Object.keys(d).sort(), res.text).toEqual(['apiCalls', 'callMinutes', 'id', 'month', 'recordedAt', 'smsCount', 'userId'])
    expect(d, res.text).toMatchObject({ userId: u.id, month: '2024-12', callMinutes: 350, smsCount: 900, apiCalls: 5000 })
    expect(typeof d.id).toBe('string')
    expect(Date.parse(d.recordedAt), res.text).toBeGreaterThan(Date.now() - 60_000)
    expect(res.body.meta.requestId).toEqual(expect.any(String))

    const rows = await usageRows(u.id)
    const byType = Object.fromEntries(rows.map((r) => [r.resourceType, r]))
    expect(rows).toHaveLength(3)
    expect(byType.call_minutes).toMatchObject({ quantity: 350, unit: 'minute', unitPrice: 50_000, totalCost: 17_500_000, reportId: d.id, month: '2024-12', prepaid: false })
    expect(byType.sms).toMatchObject({ quantity: 900, unit: 'message', unitPrice: 10_000, totalCost: 9_000_000, reportId: d.id })
    expect(byType.api_calls).toMatchObject({ quantity: 5000, unit: 'request', unitPrice: 1_000, totalCost: 5_000_000, reportId: d.id })
    // Dated inside the reported month (a past month: its last instant).
    for (const r of rows) expect(r.occurredAt.toISOString().slice(0, 7)).toBe('2024-12')
    expect(await events(u.id)).toEqual([expect.objectContaining({ id: d.id, userId: u.id, month: '2024-12', callMinutes: 350 })])
  })

  it('a month that has its invoice is closed: 409 MONTH_INVOICED, nothing written', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    expect((await report({ userId: u.id, month: '2024-10', smsCount: 10 }, as(admin))).status).toBe(201)
    const inv = await call('/api/invoices', { token: admin.accessToken, body: { userId: u.id, month: '2024-10' } })
    expect(inv.status, inv.text).toBe(201)
    const late = await report({ userId: u.id, month: '2024-10', smsCount: 5 }, as(admin))
    expectErrorEnvelope(late, 409, 'MONTH_INVOICED')
    expect(late.body.error.details, late.text).toMatchObject({ month: '2024-10', invoiceId: inv.body.data.id })
    expect((await usageRows(u.id)).filter((r) => r.month === '2024-10')).toHaveLength(1)
    expect((await report({ userId: u.id, month: '2024-11', smsCount: 5 }, as(admin))).status).toBe(201)
  })

  it('zero metrics write no row; omitted counts are 0', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await report({ userId: u.id, month: '2025-01', smsCount: 12 }, as(admin))
    expect(res.status, res.text).toBe(201)
    expect(res.body.data, res.text).toMatchObject({ callMinutes: 0, smsCount: 12, apiCalls: 0 })
    const rows = await usageRows(u.id)
    expect(rows.map((r) => [r.resourceType, r.quantity, r.totalCost])).toEqual([['sms', 12, 120_000]])
  })

  it('with a transactionId: the replay answers the first report with 200 and writes nothing', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const body = { userId: u.id, month: '2025-02', callMinutes: 10, smsCount: 0, apiCalls: 3, transactionId: 'cdr-2025-02-a' }
    const first = await report(body, as(admin))
    expect(first.status, first.text).toBe(201)
    const again = await report({ ...body, callMinutes: 999 }, as(admin))
    expect(again.status, again.text).toBe(200)
    expect(again.body.data, again.text).toEqual(first.body.data)
    const rows = await usageRows(u.id)
    expect(rows.map((r) => r.transactionId).sort()).toEqual(['cdr-2025-02-a:api_calls', 'cdr-2025-02-a:call_minutes'])
    expect(await events(u.id)).toHaveLength(1)

    // Concurrent replays of a new transaction: exactly one 201, the rest 200 with the same report.
    const body2 = { ...body, transactionId: 'cdr-2025-02-b' }
    const answers = await Promise.all(Array.from({ length: 4 }, () => report(body2, as(admin))))
    const texts = answers.map((a) => `${a.status} ${a.text}`).join('\n')
    expect(
      answers.filter((a) => a.status === 201),
      texts,
    ).toHaveLength(1)
    expect(
      answers.filter((a) => a.status === 200),
      texts,
    ).toHaveLength(3)
    expect(new Set(answers.map((a) => a.body.data.id)).size, texts).toBe(1)
    expect(await usageRows(u.id)).toHaveLength(4)
    expect(await events(u.id)).toHaveLength(2)

    // The same transactionId on another account is another transaction.
    const v = await registerUser()
    expect((await report({ ...body, userId: v.id }, as(admin))).status).toBe(201)
  })

  it('an API key with usage:write reports for its own account (userId optional); another account is a 404', async () => {
    const u = await registerUser()
    const key = await createApiKey(u, ['usage:write'])
    const own = await report({ month: '2025-03', apiCalls: 7 }, { apiKey: key.key })
    expect(own.status, own.text).toBe(201)
    expect(own.body.data.userId).toBe(u.id)
    const named = await report({ userId: u.id, month: '2025-03', callMinutes: 1 }, { apiKey: key.key })
    expect(named.status, named.text).toBe(201)
    const other = await registerUser()
    expectErrorEnvelope(await report({ userId: other.id, month: '2025-03', callMinutes: 1 }, { apiKey: key.key }), 404, 'NOT_FOUND')
    expect(await usageRows(other.id)).toHaveLength(0)
    const wildcard = await createApiKey(u, ['*'])
    expect((await report({ month: '2025-03', smsCount: 1 }, { apiKey: wildcard.key })).status).toBe(201)
  })

  it('403 for a user session and for a key without usage:write; 401 without credentials', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await report({ userId: u.id, month: '2025-04', callMinutes: 5 }, as(u)), 403, 'FORBIDDEN')
    expectErrorEnvelope(await report({ month: '2025-04', callMinutes: 5 }, as(u)), 403, 'FORBIDDEN')
    const readOnly = await createApiKey(u, ['billing:read', 'billing:write'])
    expectErrorEnvelope(await report({ month: '2025-04', callMinutes: 5 }, { apiKey: readOnly.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await report({ month: '2025-04', callMinutes: 5 }, {}), 401, 'UNAUTHORIZED')
    expect(await usageRows(u.id)).toHaveLength(0)
  })

  it('400 on a bad month, bad counts or nothing to record; 404 for an unknown user', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    for (const month of ['2024-13', '2024-00', '2024-1', '24-12', '2024/12', '2024-12-01', '', 202412]) {
      expectErrorEnvelope(await report({ userId: u.id, month, callMinutes: 1 }, as(admin)), 400, 'VALIDATION_ERROR')
    }
    const missing = await report({ userId: u.id, callMinutes: 1 }, as(admin))
    expectErrorEnvelope(missing, 400, 'VALIDATION_ERROR')
    expect(missing.body.error.details.map((d: { field: string }) => d.field)).toContain('month')
    for (const bad of [{ callMinutes: -1 }, { smsCount: 1.5 }, { apiCalls: '5' }]) {
      expectErrorEnvelope(await report({ userId: u.id, month: '2024-12', ...bad }, as(admin)), 400, 'VALIDATION_ERROR')
    }
    expectErrorEnvelope(await report({ userId: u.id, month: '2024-12', callMinutes: 0, smsCount: 0, apiCalls: 0 }, as(admin)), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await report({ userId: 'usr_nobody', month: '2024-12', callMinutes: 1 }, as(admin)), 404, 'NOT_FOUND')
    expect(await usageRows(u.id)).toHaveLength(0)
  })
})

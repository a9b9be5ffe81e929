import { describe, expect, it } from 'vitest'
import { invoices, subscriptions } from '../../../src/db/schema'
import { newId } from '../../../src/lib/ids'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'
import { db, insertUsage } from '../../helpers/usage'

const DAY = 86_400_000

async function invoice(userId: string, month: string, status: (typeof invoices.$inferInsert)['status'], total: number, amountPaid: number, issueDate: number) {
  const row = {
    id: newId('inv'),
    userId,
    invoiceNumber: `INV-${month}-${newId('x').slice(-6).toUpperCase()}`,
    month,
    status,
    subtotal: total,
    total,
    amountPaid,
    breakdown: { callMinutes: 0, smsCount: 0, apiCalls: 0 },
    periodStart: new Date(Date.parse(`${month}-01T00:00:00Z`)),
    periodEnd: new Date(Date.parse(`${month}-28T00:00:00Z`)),
    issueDate: new Date(issueDate),
    dueDate: new Date(issueDate + 7 * DAY),
    updatedAt: new Date(issueDate),
  }
  await db.insert(invoices).values(row)
  return row
}

describe('GET /api/stats', () => {
  it("usage billing's shape and figures: subscription, current month usage, invoice totals, latest 5 invoices", async () => {
    const u = await registerUser()
    const now = Date.now()
    const month = new Date(now).toISOString().slice(0, 7)
    const periodEnd = Date.parse('2027-01-31T00:00:00Z')
    await db.insert(subscriptions).values({
      id: newId('sub'),
      userId: u.id,
      plan: 'pro',
      status: 'active',
      startDate: new Date(now - 90 * DAY),
      currentPeriodStart: new Date(now - DAY),
      currentPeriodEnd: new Date(periodEnd),
      updatedAt: new Date(now),
    })
    // This month: 30 minutes, 12 SMS, 40 + 2 API calls (reported and metered); older months add to the totals.
    await insertUsage(u.id, 'call_minutes', 30, 50_000, now - 1000)
    await insertUsage(u.id, 'sms', 12, 10_000, now - 1000)
    await insertUsage(u.id, 'api_calls', 40, 1_000, now - 1000)
    await insertUsage(u.id, 'api_calls', 2, 1_000, now - 1000, { resourceId: 'key_x', transactionId: `api:key_x:${month}` })
    await insertUsage(u.id, 'call_minutes', 425, 50_000, Date.parse('2024-11-15T00:00:00Z'))
    await insertUsage(u.id, 'sms', 1150, 10_000, Date.parse('2024-11-15T00:00:00Z'))
    await insertUsage(u.id, 'activation', 1, 900_000, now - 1000, { prepaid: true })

    const base = Date.parse('2024-06-01T00:00:00Z')
    const i1 = await invoice(u.id, '2024-05', 'paid', 39_990_000, 39_990_000, base)
    const i2 = await invoice(u.id, '2024-06', 'paid', 40_000_000, 40_000_000, base + 30 * DAY)
    const i3 = await invoice(u.id, '2024-07', 'partially_paid', 50_000_000, 20_000_000, base + 60 * DAY)
    const i4 = await invoice(u.id, '2024-08', 'overdue', 10_000_000, 0, base + 90 * DAY)
    const i5 = await invoice(u.id, '2024-09', 'void', 99_000_000, 0, base + 120 * DAY)
    const i6 = await invoice(u.id, '2024-10', 'pending', 59_740_000, 0, base + 150 * DAY)
    void i1

    const res = await call('/api/stats', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toEqual({
      subscription: { plan: 'pro', status: 'active', monthlyFee: 29.99, currentPeriodEnd: '2027-01-31T00:00:00.000Z' },
      currentUsage: { callMinutes: 30, smsCount: 12, apiCalls: 42, month },
      totals: {
        totalSpent: 99.99,
        pendingAmount: 99.74,
        invoiceCount: 6,
        callMinutes: 455,
        smsCount: 1162,
        apiCalls: 42,
      },
      recentInvoices: [i6, i5, i4, i3, i2].map((i) => ({
        id: i.id,
        invoiceNumber: i.invoiceNumber,
        status: i.status,
        amount: i.total / 1_000_000,
        dueDate: i.dueDate.toISOString(),
      })),
    })

    // The same for an admin naming the user, and for an API key with billing:read.
    const admin = await registerAdmin()
    const asAdmin = await call(`/api/stats?userId=${u.id}`, { token: admin.accessToken })
    expect(asAdmin.status, asAdmin.text).toBe(200)
    expect(asAdmin.body.data, asAdmin.text).toEqual(res.body.data)
    const key = await createApiKey(u, ['billing:read'])
    const viaKey = await call('/api/stats', { apiKey: key.key })
    expect(viaKey.status, viaKey.text).toBe(200)
    expect(viaKey.body.data.totals, viaKey.text).toEqual(res.body.data.totals)
  })

  it('an account without subscription, usage or invoices', async () => {
    const u = await registerUser()
    const res = await call(`/api/stats?userId=${u.id}`, { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toEqual({
      subscription: null,
      currentUsage: { callMinutes: 0, smsCount: 0, apiCalls: 0, month: new Date().toISOString().slice(0, 7) },
      totals: { totalSpent: 0, pendingAmount: 0, invoiceCount: 0, callMinutes: 0, smsCount: 0, apiCalls: 0 },
      recentInvoices: [],
    })
  })

  it("another user's stats are a 404; keys need billing:read; no credentials is a 401", async () => {
    const u = await registerUser()
    const other = await registerUser()
    await invoice(other.id, '2024-01', 'pending', 5_000_000, 0, Date.parse('2024-02-01T00:00:00Z'))
    expectErrorEnvelope(await call(`/api/stats?userId=${other.id}`, { token: u.accessToken }), 404, 'NOT_FOUND')
    const admin = await registerAdmin()
    expectErrorEnvelope(await call('/api/stats?userId=usr_nobody', { token: admin.accessToken }), 404, 'NOT_FOUND')
    const key = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await call('/api/stats', { apiKey: key.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/stats'), 401, 'UNAUTHORIZED')
  })
})

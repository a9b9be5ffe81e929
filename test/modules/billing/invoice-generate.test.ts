import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { monthOf } from '../../../src/lib/periods'
import { createServices } from '../../../src/services'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser, type TestUser } from '../../helpers/api'
import { addMetrics, addNumber, addUsage, generate, invoiceRow, outboxOf, paymentRows, setBillingAddress, subscribe, workedExample } from '../../helpers/billing'
import { ctxFor } from '../../helpers/context'

const detail = (u: TestUser, id: string) => call(`/api/v1/billing/invoices/${id}`, { token: u.accessToken })
const countInvoices = async (userId: string) => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM invoices WHERE user_id = ?`).bind(userId).first<{ n: number }>())!.n
const D = (y: number, m: number, d: number, h = 0) => Date.UTC(y, m - 1, d, h)

describe('POST /api/invoices (usage billing)', () => {
  it("computes the pro plan's reference month through the real path: pro plan, 425 / 1150 / 5900 → 59.74", async () => {
    const u = await registerUser()
    await subscribe(u.id, [{ plan: 'pro', at: D(2024, 1, 1) }])
    await addMetrics(u.id, '2024-11', { callMinutes: 425, smsCount: 1150, apiCalls: 5900 })
    const res = await generate(u, '2024-11')
    expect(res.status, res.text).toBe(201)
    expect(res.body.message, res.text).toBe('Invoice generated successfully')
    const inv = res.body.data
    expect(inv, res.text).toMatchObject({
      userId: u.id,
      month: '2024-11',
      status: 'pending',
      amount: 59.74,
      subscriptionFee: 29.99,
      usageFee: 29.75,
      breakdown: { callMinutes: 425, smsCount: 1150, apiCalls: 5900 },
      amountPaid: 0,
      amountDue: 59.74,
      currency: 'USD',
      periodStart: '2024-11-01T00:00:00.000Z',
      periodEnd: '2024-11-30T00:00:00.000Z',
      dueDate: '2024-12-07T00:00:00.000Z',
    })
    expect(inv.id, res.text).toMatch(/^inv_/)
    expect(inv.invoiceNumber, res.text).toMatch(/^INV-2024-11-[A-Z0-9]{6}$/)
    expect(Date.parse(inv.createdAt), res.text).toBeGreaterThan(Date.now() - 60_000)

    const d = await detail(u, inv.id)
    expect(d.status, d.text).toBe(200)
    const lines = d.body.data.lineItems as any[]
    expect(
      lines.map((l) => [l.type, l.description, l.quantity, l.unitPrice, l.totalPrice]),
      d.text,
    ).toEqual([
      ['subscription', 'Pro plan - monthly fee (November 2024)', 1, 29.99, 29.99],
      ['usage', 'Call minutes', 425, 0.05, 21.25],
      ['usage', 'SMS messages', 850, 0.01, 8.5],
      ['usage', 'API calls', 0, 0.001, 0],
    ])
    expect(lines[2].details, d.text).toEqual({ resourceType: 'sms', usageDetails: { quantity: 1150, included: 300, billable: 850 } })
    expect(lines[3].details.usageDetails, d.text).toEqual({ quantity: 5900, included: 5900, billable: 0 })
    expect(lines[0].period, d.text).toEqual({ start: '2024-11-01T00:00:00.000Z', end: '2024-11-30T00:00:00.000Z' })
    expect(d.body.data, d.text).toMatchObject({ subtotalAmount: 59.74, taxAmount: 0, discountAmount: 0, totalAmount: 59.74, amountPaid: 0, amountDue: 59.74, payments: [] })
    expect(
      lines.some((l) => l.type === 'tax'),
      d.text,
    ).toBe(false)

    const events = await outboxOf(u.id, 'invoice.generated')
    expect(events, JSON.stringify(events)).toHaveLength(1)
    expect(events[0], JSON.stringify(events)).toMatchObject({ id: inv.id, amount: 59.74, invoiceNumber: inv.invoiceNumber })
  })

  it('generating again answers 200 with the same invoice and writes nothing; concurrent generations make one invoice', async () => {
    const u = await registerUser()
    const first = await workedExample(u, '2024-10')
    const lines = async () => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM invoice_line_items WHERE user_id = ?`).bind(u.id).first<{ n: number }>())!.n
    const before = await lines()
    // New usage after the invoice does not change it.
    await addMetrics(u.id, '2024-10', { callMinutes: 100, smsCount: 0, apiCalls: 0 })
    const again = await generate(u, '2024-10')
    expect(again.status, again.text).toBe(200)
    expect(again.body.data, again.text).toMatchObject({ id: first.id, invoiceNumber: first.invoiceNumber, amount: 59.74 })
    expect(await countInvoices(u.id)).toBe(1)
    expect(await lines()).toBe(before)
    expect(await outboxOf(u.id, 'invoice.generated')).toHaveLength(1)

    const v = await registerUser()
    await subscribe(v.id, [{ plan: 'basic', at: D(2024, 1, 1) }])
    await addMetrics(v.id, '2024-09', { callMinutes: 10, smsCount: 10, apiCalls: 10 })
    const both = await Promise.all([generate(v, '2024-09'), generate(v, '2024-09'), generate(v, '2024-09')])
    for (const r of both) expect([200, 201], r.text).toContain(r.status)
    expect(new Set(both.map((r) => r.body.data.id)).size, both.map((r) => r.text).join('\n')).toBe(1)
    expect(both.filter((r) => r.status === 201).length, both.map((r) => r.text).join('\n')).toBe(1)
    expect(await countInvoices(v.id)).toBe(1)
    expect(await outboxOf(v.id, 'invoice.generated')).toHaveLength(1)
  })

  it('404 when the month has neither usage nor a subscription in force (also one cancelled before the month)', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await generate(u, '2024-11'), 404, 'NOT_FOUND')
    await subscribe(u.id, [
      { plan: 'pro', at: D(2024, 1, 1) },
      { plan: 'pro', status: 'cancelled', at: D(2024, 6, 15) },
    ])
    expectErrorEnvelope(await generate(u, '2024-07'), 404, 'NOT_FOUND')
    // Not yet subscribed in 2023.
    expectErrorEnvelope(await generate(u, '2023-12'), 404, 'NOT_FOUND')
    expect(await countInvoices(u.id)).toBe(0)
    // The month it was cancelled in still has its fee.
    const june = await generate(u, '2024-06')
    expect(june.status, june.text).toBe(201)
    expect(june.body.data, june.text).toMatchObject({ subscriptionFee: 29.99, usageFee: 0, amount: 29.99 })
  })

  it('validates the month: future 400, malformed 400, the current (still open) month 400', async () => {
    const u = await registerUser()
    const now = new Date()
    const next = monthOf(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1))
    expectErrorEnvelope(await generate(u, next), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await generate(u, '2024-13'), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await call('/api/invoices', { token: u.accessToken, body: {} }), 400, 'VALIDATION_ERROR')
    // An invoice of the open month would freeze it: usage after it would never be billed.
    const current = monthOf(Date.now())
    await addUsage(u.id, current, [{ type: 'sms', quantity: 7, at: Date.now() }])
    const res = await generate(u, current)
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(await countInvoices(u.id)).toBe(0)
  })

  it("userId: another user's id is 404 (nothing written), an admin may invoice anyone; auth and permissions", async () => {
    const u = await registerUser()
    const other = await registerUser()
    await subscribe(other.id, [{ plan: 'basic', at: D(2024, 1, 1) }])
    expectErrorEnvelope(await generate(u, '2024-11', { userId: other.id }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/invoices?userId=${other.id}`, { token: u.accessToken }), 404, 'NOT_FOUND')
    expect(await countInvoices(other.id)).toBe(0)

    const admin = await registerAdmin()
    const res = await generate(admin, '2024-11', { userId: other.id })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data, res.text).toMatchObject({ userId: other.id, amount: 9.99 })
    const listed = await call(`/api/invoices?userId=${other.id}`, { token: admin.accessToken })
    expect(
      listed.body.data.map((i: { id: string }) => i.id),
      listed.text,
    ).toEqual([res.body.data.id])
    // The owner sees it; the admin's own list does not have it.
    expect((await call('/api/invoices', { token: other.accessToken })).body.data).toHaveLength(1)
    expect((await call('/api/invoices', { token: admin.accessToken })).body.data).toHaveLength(0)

    expectErrorEnvelope(await call('/api/invoices', { body: { month: '2024-11' } }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await call('/api/invoices'), 401, 'UNAUTHORIZED')
    const reader = await createApiKey(other, ['billing:read'])
    expectErrorEnvelope(await call('/api/invoices', { apiKey: reader.key, body: { month: '2024-10' } }), 403, 'FORBIDDEN')
    expect((await call('/api/invoices', { apiKey: reader.key })).status).toBe(200)
    const writer = await createApiKey(other, ['billing:write'])
    expect((await call('/api/invoices', { apiKey: writer.key, body: { month: '2024-10' } })).status).toBe(201)

    // An admin's API key acts for other accounts only when it holds the `admin` permission.
    const adminBilling = await createApiKey(admin, ['billing:read', 'billing:write'])
    expectErrorEnvelope(await call(`/api/invoices?userId=${other.id}`, { apiKey: adminBilling.key }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call('/api/invoices', { apiKey: adminBilling.key, body: { month: '2024-09', userId: other.id } }), 404, 'NOT_FOUND')
    const adminFull = await createApiKey(admin, ['billing:read', 'admin'])
    expect((await call(`/api/invoices?userId=${other.id}`, { apiKey: adminFull.key })).status).toBe(200)
  })

  it("GET /api/invoices lists the account's invoices newest first in usage billing's shape", async () => {
    const u = await registerUser()
    await subscribe(u.id, [{ plan: 'basic', at: D(2024, 1, 1) }])
    const a = await generate(u, '2024-03')
    const b = await generate(u, '2024-05')
    const c = await generate(u, '2024-04')
    const res = await call('/api/invoices', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(
      res.body.data.map((i: { id: string }) => i.id),
      res.text,
    ).toEqual([c.body.data.id, b.body.data.id, a.body.data.id])
    for (const key of ['id', 'userId', 'invoiceNumber', 'status', 'amount', 'subscriptionFee', 'usageFee', 'breakdown', 'periodStart', 'periodEnd', 'dueDate', 'createdAt']) {
      expect(res.body.data[0], key).toHaveProperty(key)
    }
    expect(res.body.data[2], res.text).toMatchObject({ periodStart: '2024-03-01T00:00:00.000Z', periodEnd: '2024-03-31T00:00:00.000Z', dueDate: '2024-04-07T00:00:00.000Z' })
  })
})

describe('invoice lines', () => {
  it('bills DID fees per number, one-time purchases net of refunds, prorations; prepaid lines count as paid', async () => {
    const u = await registerUser()
    await subscribe(u.id, [
      { plan: 'basic', at: D(2024, 1, 1) },
      { plan: 'pro', at: D(2024, 8, 16) },
    ])
    const n1 = await addNumber(u.id, '+12025550101')
    const n2 = await addNumber(u.id, '+12025550102')
    await setBillingAddress(u.id, { line1: '1 Main St', city: 'Springfield', country: 'US' })
    await addUsage(u.id, '2024-08', [
      { type: 'did_monthly', quantity: 1, unitUsd: 1.15, totalUsd: 1.15, resourceId: n2 },
      { type: 'did_monthly', quantity: 1, unitUsd: 2, totalUsd: 2, resourceId: n1 },
      { type: 'activation', quantity: 1, totalUsd: 0.5, unitUsd: 0.5 },
      { type: 'activation', quantity: 1, totalUsd: 0.75, unitUsd: 0.75 },
      { type: 'activation', quantity: 1, totalUsd: 0.5, unitUsd: 0.5 },
      { type: 'activation', quantity: -1, totalUsd: -0.5, unitUsd: 0.5 },
      { type: 'did_purchase', quantity: 1, totalUsd: 3.15, unitUsd: 3.15 },
      { type: 'subscription_proration', quantity: 1, totalUsd: 10.32, unitUsd: 10.32, prepaid: false, description: 'Upgrade basic → pro (16 of 31 days)' },
      { type: 'sms', quantity: 400 },
    ])
    const res = await generate(u, '2024-08')
    expect(res.status, res.text).toBe(201)
    // fee 9.99 (plan at the start) + proration 10.32; SMS with pro (plan at the end): 100 × 0.01.
    expect(res.body.data, res.text).toMatchObject({ subscriptionFee: 20.31, usageFee: 1, breakdown: { callMinutes: 0, smsCount: 400, apiCalls: 0 } })
    // prepaid: DID fees 3.15 + activations 1.25 + DID purchase 3.15 = 7.55
    const total = 20.31 + 1 + 3.15 + 1.25 + 3.15
    expect(res.body.data.amount, res.text).toBeCloseTo(total, 6)
    expect(res.body.data.amountPaid, res.text).toBe(7.55)
    expect(res.body.data.amountDue, res.text).toBeCloseTo(total - 7.55, 6)
    expect(res.body.data.status, res.text).toBe('pending')

    const d = await call(`/api/v1/billing/invoices/${res.body.data.id}`, { token: u.accessToken })
    const lines = d.body.data.lineItems as any[]
    expect(
      lines.map((l) => [l.type, l.description, l.quantity, l.totalPrice]),
      d.text,
    ).toEqual([
      ['subscription', 'Basic plan - monthly fee (August 2024)', 1, 9.99],
      ['subscription', 'Upgrade basic → pro (16 of 31 days)', 1, 10.32],
      ['subscription', 'Phone number +12025550101 - monthly fee', 1, 2],
      ['subscription', 'Phone number +12025550102 - monthly fee', 1, 1.15],
      ['usage', 'SMS messages', 100, 1],
      ['one_time', 'SMS activations', 2, 1.25],
      ['one_time', 'Phone number purchases (setup and first month)', 1, 3.15],
    ])
    expect(lines[2].details, d.text).toEqual({ resourceType: 'did_number', resourceId: n1 })
    expect(d.body.data.billingAddress, d.text).toEqual({ line1: '1 Main St', city: 'Springfield', country: 'US' })
    expect(d.body.data.payments, d.text).toEqual([
      { id: expect.any(String), amount: 7.55, status: 'succeeded', processor: 'wallet', processedAt: expect.any(String), paymentMethod: 'wallet', failureReason: null },
    ])
    const pays = await paymentRows(res.body.data.id)
    expect(
      pays.map((p) => [p.attempt_key, p.purpose, p.amount]),
      JSON.stringify(pays),
    ).toEqual([[`prepaid_${res.body.data.id}`, 'invoice', 7_550_000]])
  })

  it('an invoice of prepaid purchases only is paid at once (invoice.paid); a subscription begun mid-month pays the full fee', async () => {
    const u = await registerUser()
    await addUsage(u.id, '2024-05', [{ type: 'activation', quantity: 2, totalUsd: 1.1, unitUsd: 0.55 }])
    const res = await generate(u, '2024-05')
    expect(res.status, res.text).toBe(201)
    expect(res.body.data, res.text).toMatchObject({ status: 'paid', amount: 1.1, amountPaid: 1.1, amountDue: 0, subscriptionFee: 0, usageFee: 0 })
    expect((await invoiceRow(res.body.data.id))!.paid_at).toBeGreaterThan(0)
    expect(await outboxOf(u.id, 'invoice.paid')).toHaveLength(1)

    const v = await registerUser()
    await subscribe(v.id, [{ plan: 'enterprise', at: D(2024, 5, 20, 15) }])
    await addMetrics(v.id, '2024-05', { callMinutes: 600, smsCount: 2000, apiCalls: 100000 })
    const may = await generate(v, '2024-05')
    // Full fee; enterprise includes 500 minutes, 2000 SMS, all API calls: 100 × 0.05.
    expect(may.body.data, may.text).toMatchObject({ subscriptionFee: 99.99, usageFee: 5, amount: 104.99 })
    // Before it began: nothing in force, no usage → 404.
    expectErrorEnvelope(await generate(v, '2024-04'), 404, 'NOT_FOUND')
  })

  it('a subscription cancelled during the month keeps its plan for that month; bare rates with no plan; totals round half-up to cents', async () => {
    const u = await registerUser()
    await subscribe(u.id, [
      { plan: 'pro', at: D(2024, 1, 1) },
      { plan: 'pro', status: 'cancelled', at: D(2024, 3, 10) },
    ])
    await addMetrics(u.id, '2024-03', { callMinutes: 0, smsCount: 300, apiCalls: 5905 })
    await addMetrics(u.id, '2024-04', { callMinutes: 1, smsCount: 300, apiCalls: 5905 })
    const march = await generate(u, '2024-03')
    expect(march.body.data, march.text).toMatchObject({ subscriptionFee: 29.99, usageFee: 0, amount: 29.99 })
    // April: cancelled before it began, so bare rates: 0.05 + 3.00 + 5.905 → 5.91 (half-up).
    const april = await generate(u, '2024-04')
    expect(april.body.data, april.text).toMatchObject({ subscriptionFee: 0, usageFee: 8.96, amount: 8.96 })
  })

  it('adds a tax line when BILLING_TAX_RATE_PERCENT is set', async () => {
    const u = await registerUser()
    await subscribe(u.id, [{ plan: 'pro', at: D(2024, 1, 1) }])
    await addMetrics(u.id, '2024-11', { callMinutes: 425, smsCount: 1150, apiCalls: 5900 })
    const services = createServices({ ...env, BILLING_TAX_RATE_PERCENT: '10' } as Env, createExecutionContext())
    const { invoice, created } = await services.invoices.generate(ctxFor(u.id), '2024-11')
    expect(created).toBe(true)
    expect([invoice.subtotal, invoice.tax, invoice.total]).toEqual([59_740_000, 5_970_000, 65_710_000])
    const d = await call(`/api/v1/billing/invoices/${invoice.id}`, { token: u.accessToken })
    expect(d.body.data, d.text).toMatchObject({ subtotalAmount: 59.74, taxAmount: 5.97, totalAmount: 65.71, amountDue: 65.71 })
    expect(d.body.data.lineItems.at(-1), d.text).toMatchObject({ type: 'tax', description: 'Tax (10%)', quantity: 1, totalPrice: 5.97 })
  })
})

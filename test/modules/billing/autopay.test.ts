import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { invoices } from '../../../src/db/schema'
import type { Env } from '../../../src/env'
import { autoPayInvoice } from '../../../src/modules/billing/autopay'
import { runBilling, runInvoiceJob } from '../../../src/modules/billing/billing.job'
import { CONSUMERS } from '../../../src/queue'
import { createServices } from '../../../src/services'
import { call, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { fakeQueue } from '../../helpers/webhooks'
import { addMetrics, addUsage, invoiceRow, outboxOf, paymentRows, subscribe } from '../../helpers/billing'

const MONTH = '2024-11'
const DUE = 59_740_000 // the pro plan's reference month (src/modules/subscriptions/plans.ts)

function harness() {
  const jobs = fakeQueue()
  const events = fakeQueue()
  const ctx = createExecutionContext()
  const services = createServices({ ...env, JOBS: jobs, EVENTS: events } as Env, ctx)
  return { jobs, services, ctx }
}

const job = (userId: string, month = MONTH) => ({ type: 'billing.invoice', userId, month })

/** A user on pro since January 2024 with the reference usage in `month` (59.74 due), auto-pay as asked. */
async function customer(opts: { autoPay: boolean; token?: string; walletUsd?: number; month?: string }) {
  const u = await registerUser()
  await subscribe(u.id, [{ plan: 'pro', at: Date.UTC(2024, 0, 1) }])
  await addMetrics(u.id, opts.month ?? MONTH, { callMinutes: 425, smsCount: 1150, apiCalls: 5900 })
  const acc = await call('/api/v1/billing/account', { method: 'PUT', token: u.accessToken, body: { autoPayEnabled: opts.autoPay } })
  expect(acc.status, acc.text).toBe(200)
  let methodId: string | null = null
  if (opts.token) {
    const pm = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: 'card', token: opts.token } })
    expect(pm.status, pm.text).toBe(201)
    expect(pm.body.data.isDefault, pm.text).toBe(true)
    methodId = pm.body.data.id as string
  }
  if (opts.walletUsd) await fund(u.id, opts.walletUsd)
  return { u, methodId }
}

async function invoiceOf(userId: string, month = MONTH) {
  const row = await env.DB.prepare(`SELECT * FROM invoices WHERE user_id = ? AND month = ?`).bind(userId, month).first<Record<string, any>>()
  expect(row, `no invoice for ${userId} ${month}`).not.toBeNull()
  return row!
}

/** Everything a rerun must leave alone. */
async function state(userId: string, invoiceId: string) {
  return {
    invoice: await invoiceRow(invoiceId),
    payments: await paymentRows(invoiceId),
    events: (await env.DB.prepare(`SELECT id, type FROM outbox WHERE user_id = ? ORDER BY id`).bind(userId).all()).results,
    wallet: await walletAudit(userId),
  }
}

const detail = (u: TestUser, id: string) => call(`/api/v1/billing/invoices/${id}`, { token: u.accessToken })

describe('billing.invoice job: auto-pay', () => {
  it('auto-pay on with a default card (tok_visa): the generated invoice is paid by the card, with its payment row and events; a rerun charges nothing', async () => {
    const h = harness()
    const { u, methodId } = await customer({ autoPay: true, token: 'tok_visa', walletUsd: 100 })
    await runInvoiceJob(job(u.id), h.services)

    const inv = await invoiceOf(u.id)
    expect([inv.status, inv.total, inv.amount_paid, inv.payment_seq], JSON.stringify(inv)).toEqual(['paid', DUE, DUE, 1])
    expect(inv.paid_at).toEqual(expect.any(Number))
    const rows = await paymentRows(inv.id)
    expect(
      rows.map((p) => [p.attempt_key, p.status, p.amount, p.processor, p.payment_method_id, p.purpose]),
      JSON.stringify(rows),
    ).toEqual([[`invpay_${inv.id}_1`, 'succeeded', DUE, 'sandbox', methodId, 'invoice']])
    expect(rows[0]!.processor_ref).toMatch(/^ch_sandbox_/)
    // The card paid: the wallet is untouched.
    expect((await walletAudit(u.id)).balance).toBe(100_000_000)

    const paid = await outboxOf(u.id, 'invoice.paid')
    expect(paid, JSON.stringify(paid)).toHaveLength(1)
    expect(paid[0], JSON.stringify(paid)).toMatchObject({ id: inv.id, status: 'paid', amount: 59.74, amountPaid: 59.74, amountDue: 0 })
    const ok = await outboxOf(u.id, 'PAYMENT_SUCCEEDED')
    expect(ok, JSON.stringify(ok)).toEqual([{ paymentId: rows[0]!.id, invoiceId: inv.id, amount: 59.74, currency: 'USD', status: 'succeeded', paymentMethod: methodId }])
    expect(await outboxOf(u.id, 'invoice.generated')).toHaveLength(1)

    // The API shows it as any payment.
    const d = await detail(u, inv.id)
    expect(d.status, d.text).toBe(200)
    expect(d.body.data, d.text).toMatchObject({ id: inv.id, status: 'paid', amountPaid: 59.74, amountDue: 0 })
    expect(d.body.data.payments, d.text).toEqual([expect.objectContaining({ id: rows[0]!.id, amount: 59.74, status: 'succeeded', paymentMethod: methodId })])

    const before = await state(u.id, inv.id)
    await runInvoiceJob(job(u.id), h.services)
    await runInvoiceJob(job(u.id), h.services)
    expect(await state(u.id, inv.id)).toEqual(before)
  })

  it('a declined card (tok_chargeDeclined): the invoice stays pending with a failed payment row and PAYMENT_FAILED; the job is acked, not retried; a rerun tries once more', async () => {
    const h = harness()
    const { u, methodId } = await customer({ autoPay: true, token: 'tok_chargeDeclined', walletUsd: 100 })
    const batch = createMessageBatch('jobs', [{ id: `declined-${u.id}`, timestamp: new Date(), attempts: 1, body: job(u.id) }])
    await CONSUMERS.jobs!(batch, h.services)
    const q = await getQueueResult(batch, h.ctx)
    expect(q.retryMessages, JSON.stringify(q)).toEqual([])
    expect(q.explicitAcks, JSON.stringify(q)).toEqual([`declined-${u.id}`])

    const inv = await invoiceOf(u.id)
    expect([inv.status, inv.amount_paid, inv.payment_seq, inv.paid_at], JSON.stringify(inv)).toEqual(['pending', 0, 1, null])
    let rows = await paymentRows(inv.id)
    expect(
      rows.map((p) => [p.attempt_key, p.status, p.amount, p.processor, p.payment_method_id]),
      JSON.stringify(rows),
    ).toEqual([[`invpay_${inv.id}_1`, 'failed', DUE, 'sandbox', methodId]])
    expect(rows[0]!.failure_reason).toBe('Your card was declined.')
    const failed = await outboxOf(u.id, 'PAYMENT_FAILED')
    expect(failed, JSON.stringify(failed)).toEqual([
      { paymentId: rows[0]!.id, invoiceId: inv.id, amount: 59.74, currency: 'USD', status: 'failed', paymentMethod: methodId, failureReason: 'Your card was declined.' },
    ])
    expect(await outboxOf(u.id, 'invoice.paid')).toEqual([])
    // The default card declined: the wallet is not tried instead.
    expect((await walletAudit(u.id)).balance).toBe(100_000_000)

    // A rerun for the still unpaid invoice: one more attempt under the next key, declined again.
    await runInvoiceJob(job(u.id), h.services)
    rows = await paymentRows(inv.id)
    expect(
      rows.map((p) => [p.attempt_key, p.status]),
      JSON.stringify(rows),
    ).toEqual([
      [`invpay_${inv.id}_1`, 'failed'],
      [`invpay_${inv.id}_2`, 'failed'],
    ])
    expect((await invoiceOf(u.id)).status).toBe('pending')
    expect(await outboxOf(u.id, 'PAYMENT_FAILED')).toHaveLength(2)
  })

  it('auto-pay off (explicitly, or never set): the invoice stays pending and nothing is charged', async () => {
    const h = harness()
    const { u } = await customer({ autoPay: false, token: 'tok_visa', walletUsd: 100 })
    await runInvoiceJob(job(u.id), h.services)
    const inv = await invoiceOf(u.id)
    expect([inv.status, inv.amount_paid, inv.payment_seq], JSON.stringify(inv)).toEqual(['pending', 0, 0])
    expect(await paymentRows(inv.id)).toEqual([])
    expect(await outboxOf(u.id, 'invoice.paid')).toEqual([])
    expect((await walletAudit(u.id)).balance).toBe(100_000_000)

    // No billing account row at all (never opened): the default is off.
    const v = await registerUser()
    await subscribe(v.id, [{ plan: 'pro', at: Date.UTC(2024, 0, 1) }])
    await fund(v.id, 100)
    await runInvoiceJob(job(v.id), h.services)
    const vi = await invoiceOf(v.id)
    expect(vi.status).toBe('pending')
    expect(await paymentRows(vi.id)).toEqual([])
    const row = await h.services.db.select().from(invoices).where(eq(invoices.id, vi.id)).get()
    expect(await autoPayInvoice(h.services, row!)).toEqual({
      status: 'skipped',
      reason: 'disabled',
    })
  })

  it('no payment method: the wallet pays; a rerun debits nothing twice; concurrent deliveries debit once', async () => {
    const h = harness()
    const { u } = await customer({ autoPay: true, walletUsd: 100 })
    await Promise.all([runInvoiceJob(job(u.id), h.services), runInvoiceJob(job(u.id), h.services)])
    const inv = await invoiceOf(u.id)
    expect([inv.status, inv.amount_paid, inv.payment_seq], JSON.stringify(inv)).toEqual(['paid', DUE, 1])
    const rows = await paymentRows(inv.id)
    expect(
      rows.map((p) => [p.attempt_key, p.status, p.amount, p.processor, p.payment_method_id]),
      JSON.stringify(rows),
    ).toEqual([[`invpay_${inv.id}_1`, 'succeeded', DUE, 'wallet', 'wallet']])
    const audit = await walletAudit(u.id)
    expect(audit.balance, JSON.stringify(audit)).toBe(100_000_000 - DUE)
    expect(audit.entries, JSON.stringify(audit)).toBe(2) // the funding and one debit
    expect(audit.ledgerSum).toBe(audit.balance)
    expect(await outboxOf(u.id, 'invoice.paid')).toHaveLength(1)
    expect(await outboxOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(1)

    const before = await state(u.id, inv.id)
    await runInvoiceJob(job(u.id), h.services)
    expect(await state(u.id, inv.id)).toEqual(before)
  })

  it('a deleted default card is not used: the wallet pays', async () => {
    const h = harness()
    const { u, methodId } = await customer({ autoPay: true, token: 'tok_visa', walletUsd: 80 })
    const del = await call(`/api/v1/billing/payment-methods/${methodId}`, { method: 'DELETE', token: u.accessToken })
    expect(del.status, del.text).toBe(200)
    await runInvoiceJob(job(u.id), h.services)
    const inv = await invoiceOf(u.id)
    expect(inv.status).toBe('paid')
    expect((await paymentRows(inv.id)).map((p) => p.processor)).toEqual(['wallet'])
    expect((await walletAudit(u.id)).balance).toBe(80_000_000 - DUE)
  })

  it('too little in the wallet: nothing moves, nothing is recorded, the job succeeds; a rerun after a top-up pays', async () => {
    const h = harness()
    const { u } = await customer({ autoPay: true, walletUsd: 10 })
    const batch = createMessageBatch('jobs', [{ id: `poor-${u.id}`, timestamp: new Date(), attempts: 1, body: job(u.id) }])
    await CONSUMERS.jobs!(batch, h.services)
    const q = await getQueueResult(batch, h.ctx)
    expect(q.retryMessages, JSON.stringify(q)).toEqual([])
    expect(q.explicitAcks, JSON.stringify(q)).toEqual([`poor-${u.id}`])

    const inv = await invoiceOf(u.id)
    expect([inv.status, inv.amount_paid, inv.payment_seq], JSON.stringify(inv)).toEqual(['pending', 0, 0])
    expect(await paymentRows(inv.id)).toEqual([])
    expect(await outboxOf(u.id, 'PAYMENT_FAILED')).toEqual([])
    const audit = await walletAudit(u.id)
    expect([audit.balance, audit.entries]).toEqual([10_000_000, 1])

    await fund(u.id, 50)
    await runInvoiceJob(job(u.id), h.services)
    const after = await invoiceOf(u.id)
    expect([after.status, after.amount_paid], JSON.stringify(after)).toEqual(['paid', DUE])
    expect((await walletAudit(u.id)).balance).toBe(60_000_000 - DUE)
    expect((await paymentRows(inv.id)).map((p) => [p.attempt_key, p.status])).toEqual([[`invpay_${inv.id}_1`, 'succeeded']])
  })

  it('an invoice paid by hand before the job reruns, or fully prepaid at generation, is left alone', async () => {
    const h = harness()
    const { u } = await customer({ autoPay: false, walletUsd: 100 })
    await runInvoiceJob(job(u.id), h.services)
    const inv = await invoiceOf(u.id)
    const pay = await call(`/api/v1/billing/invoices/${inv.id}/pay`, { method: 'POST', token: u.accessToken, body: { paymentMethodId: 'wallet' } })
    expect(pay.status, pay.text).toBe(200)
    const acc = await call('/api/v1/billing/account', { method: 'PUT', token: u.accessToken, body: { autoPayEnabled: true } })
    expect(acc.status, acc.text).toBe(200)
    const before = await state(u.id, inv.id)
    await runInvoiceJob(job(u.id), h.services)
    expect(await state(u.id, inv.id)).toEqual(before)

    // Only prepaid usage (a DID fee taken from the wallet): paid when generated, nothing to auto-pay.
    const p = await registerUser()
    const on = await call('/api/v1/billing/account', { method: 'PUT', token: p.accessToken, body: { autoPayEnabled: true } })
    expect(on.status, on.text).toBe(200)
    await fund(p.id, 20)
    await addUsage(p.id, MONTH, [{ type: 'did_monthly', quantity: 1, totalUsd: 1.15, resourceId: 'pn_gone' }])
    await runInvoiceJob(job(p.id), h.services)
    const pi = await invoiceOf(p.id)
    expect([pi.status, pi.total, pi.amount_paid], JSON.stringify(pi)).toEqual(['paid', 1_150_000, 1_150_000])
    expect((await paymentRows(pi.id)).map((r) => r.attempt_key)).toEqual([`prepaid_${pi.id}`])
    expect((await walletAudit(p.id)).balance).toBe(20_000_000)
  })

  it('through the billing cron on the 1st: the fanned-out job auto-pays the month just closed', async () => {
    const h = harness()
    const { u, methodId } = await customer({ autoPay: true, token: 'tok_mastercard', month: '2025-01' })
    await runBilling(h.services, Date.UTC(2025, 1, 1, 3))
    const bodies = h.jobs.sent.filter((b: any) => b.userId === u.id)
    expect(bodies, JSON.stringify(h.jobs.sent)).toEqual([{ ...job(u.id, '2025-01'), at: Date.UTC(2025, 1, 1, 3) }])
    const batch = createMessageBatch(
      'jobs',
      bodies.map((body, i) => ({ id: `cron-${u.id}-${i}`, timestamp: new Date(), attempts: 1, body })),
    )
    await CONSUMERS.jobs!(batch, h.services)
    const q = await getQueueResult(batch, h.ctx)
    expect(q.retryMessages, JSON.stringify(q)).toEqual([])
    const inv = await invoiceOf(u.id, '2025-01')
    expect([inv.status, inv.total, inv.amount_paid], JSON.stringify(inv)).toEqual(['paid', DUE, DUE])
    expect((await paymentRows(inv.id)).map((p) => [p.status, p.payment_method_id])).toEqual([['succeeded', methodId]])
  })
})

import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { newId } from '../../../src/lib/ids'
import { toMicros } from '../../../src/lib/money'
import { runBilling, runInvoiceJob } from '../../../src/modules/billing/billing.job'
import { CONSUMERS, JOB_HANDLERS } from '../../../src/queue'
import { CRONS } from '../../../src/scheduled'
import { createServices } from '../../../src/services'
import { fund, walletAudit } from '../../helpers/catalog'
import { fakeQueue } from '../../helpers/webhooks'
import { addMetrics, addNumber, addUsage, db, subscribe } from '../../helpers/billing'
import { phoneNumbers } from '../../../src/db/schema'
import { eq } from 'drizzle-orm'
import { InvoicesService } from '../../../src/modules/billing/invoices.service'
import { runDidRenewalsJob } from '../../../src/modules/dids/renewals.job'
import { ctxFor } from '../../helpers/context'

const D = (y: number, m: number, d: number, h = 0) => Date.UTC(y, m - 1, d, h)

async function insertUser() {
  const id = newId('usr')
  await env.DB.prepare(`INSERT INTO users (id, email, password_hash, updated_at) VALUES (?, ?, 'x', ?)`).bind(id, `${id}@example.com`, Date.now()).run()
  return id
}

/** Services as the cron builds them, with the `jobs` and `events` queues captured. */
function harness() {
  const jobs = fakeQueue()
  const events = fakeQueue()
  const ctx = createExecutionContext()
  const services = createServices({ ...env, JOBS: jobs, EVENTS: events } as Env, ctx)
  return { jobs, events, services, ctx }
}

/** Runs the billing cron, then hands every `jobs` message it sent to the jobs consumer. */
async function runDay(h: ReturnType<typeof harness>, scheduledTime: number) {
  const before = h.jobs.sent.length
  const result = await runBilling(h.services, scheduledTime)
  const bodies = h.jobs.sent.slice(before)
  if (bodies.length) {
    const batch = createMessageBatch(
      'jobs',
      bodies.map((body, i) => ({ id: `m-${scheduledTime}-${before + i}`, timestamp: new Date(), attempts: 1, body })),
    )
    await CONSUMERS.jobs!(batch, h.services)
    const q = await getQueueResult(batch, h.ctx)
    expect(q.retryMessages, JSON.stringify(q)).toEqual([])
    expect(q.explicitAcks.length, JSON.stringify(q)).toBe(bodies.length)
  }
  return { result, bodies }
}

async function snapshot(users: string[]) {
  const all = async (q: string) => (await env.DB.prepare(q).all()).results
  return {
    invoices: await all(`SELECT id, user_id, month, status, total, amount_paid, payment_seq, updated_at FROM invoices ORDER BY id`),
    lines: await all(`SELECT id, invoice_id, position, type, total_price FROM invoice_line_items ORDER BY id`),
    payments: await all(`SELECT id, invoice_id, amount, status, attempt_key FROM payments ORDER BY id`),
    usage: await all(`SELECT id, user_id, resource_type, month, total_cost FROM usage_records ORDER BY id`),
    renewals: await all(`SELECT id, phone_number_id, period_start, status FROM did_renewals ORDER BY id`),
    wallets: await Promise.all(users.map(async (u) => ({ u, ...(await walletAudit(u)) }))),
  }
}

describe('billing cron (0 3 * * *)', () => {
  it('is registered in CRONS and its job types in JOB_HANDLERS', () => {
    expect(CRONS['0 3 * * *']).toEqual({ name: 'billing', run: runBilling })
    expect(JOB_HANDLERS['billing.invoice']).toBe(runInvoiceJob)
    expect(JOB_HANDLERS['billing.did-renewals']).toBe(runDidRenewalsJob)
  })

  it('on the 1st: renews DIDs, invoices the closed month once per account, marks overdue; a second run changes nothing', async () => {
    const h = harness()
    const pro = await insertUser() // subscribed all year, usage in December
    await subscribe(pro, [{ plan: 'pro', at: D(2024, 1, 1) }])
    await addMetrics(pro, '2024-12', { callMinutes: 425, smsCount: 1150, apiCalls: 5900 })
    const usageOnly = await insertUser()
    await addUsage(usageOnly, '2024-12', [{ type: 'sms', quantity: 12 }])
    const cancelled = await insertUser() // cancelled in October: nothing for December
    await subscribe(cancelled, [
      { plan: 'basic', at: D(2024, 1, 1) },
      { plan: 'basic', status: 'cancelled', at: D(2024, 10, 5) },
    ])
    const lateStarter = await insertUser() // subscribed on 15 December: full fee
    await subscribe(lateStarter, [{ plan: 'basic', at: D(2024, 12, 15, 9) }])
    const novemberOnly = await insertUser()
    await addUsage(novemberOnly, '2024-11', [{ type: 'sms', quantity: 5 }])
    const didOwner = await insertUser() // a DID due for renewal on 20 December, charged by this run
    await fund(didOwner, 10)
    const numberId = await addNumber(didOwner, '+12025559876', 1.15)
    await db()
      .update(phoneNumbers)
      .set({ purchasedAt: new Date(D(2024, 11, 20, 10)), nextRenewalAt: new Date(D(2024, 12, 20, 10)), monthlyPrice: toMicros(1.15) })
      .where(eq(phoneNumbers.id, numberId))
    const invoicedAlready = await insertUser() // December already invoiced; its November invoice is overdue
    await subscribe(invoicedAlready, [{ plan: 'basic', at: D(2024, 1, 1) }])
    const svc = new InvoicesService({ db: h.services.db, taxRatePercent: 0 })
    const nov = await svc.generate(ctxFor(invoicedAlready), '2024-11', new Date(D(2024, 12, 1, 3)))
    await svc.generate(ctxFor(invoicedAlready), '2024-12', new Date(D(2024, 12, 31)))
    const users = [pro, usageOnly, cancelled, lateStarter, novemberOnly, didOwner, invoicedAlready]

    const jan1 = D(2025, 1, 1, 3)
    const first = await runDay(h, jan1)
    expect(first.result, JSON.stringify(first.result)).toEqual({ renewals: { pages: 1, numbers: 1 }, invoiceMonth: '2024-12', invoicesEnqueued: 4, overdue: 1, autoTopUpsEnqueued: 0 })
    // The renewal goes through a jobs page; the invoices one job per account.
    expect(first.bodies.filter((b: any) => b.type === 'billing.did-renewals')).toEqual([{ type: 'billing.did-renewals', at: jan1, numbers: [{ id: numberId, periodStart: D(2024, 12, 20, 10) }] }])
    const invoiceJobs = first.bodies.filter((b: any) => b.type === 'billing.invoice')
    expect(invoiceJobs.map((b: any) => b.userId).sort()).toEqual([pro, usageOnly, lateStarter, didOwner].sort())
    for (const b of invoiceJobs) expect(b).toMatchObject({ type: 'billing.invoice', month: '2024-12', at: jan1 })

    const inv = async (userId: string, month = '2024-12') => env.DB.prepare(`SELECT * FROM invoices WHERE user_id = ? AND month = ?`).bind(userId, month).first<Record<string, any>>()
    expect(await inv(pro), 'pro').toMatchObject({ total: 59_740_000, subscription_fee: 29_990_000, usage_fee: 29_750_000, status: 'pending' })
    expect(await inv(usageOnly)).toMatchObject({ total: 120_000, status: 'pending' })
    expect(await inv(lateStarter)).toMatchObject({ total: 9_990_000 })
    // The renewal of 20 December is on the December invoice, already paid from the wallet.
    expect(await inv(didOwner)).toMatchObject({ total: 1_150_000, amount_paid: 1_150_000, status: 'paid' })
    expect(await inv(cancelled)).toBeNull()
    expect(await inv(novemberOnly)).toBeNull()
    expect(await inv(novemberOnly, '2024-11')).toBeNull()
    expect((await inv(invoicedAlready, '2024-11'))!.status).toBe('overdue')
    expect((await inv(invoicedAlready, '2024-12'))!.status).toBe('pending')
    expect((await inv(invoicedAlready, '2024-11'))!.id).toBe(nov.invoice.id)
    expect((await walletAudit(didOwner)).balance).toBe(toMicros(10 - 1.15))

    const after = await snapshot(users)
    const second = await runDay(h, jan1)
    expect(second.result).toEqual({ renewals: { pages: 0, numbers: 0 }, invoiceMonth: '2024-12', invoicesEnqueued: 0, overdue: 0, autoTopUpsEnqueued: 0 })
    expect(second.bodies).toEqual([])
    expect(await snapshot(users)).toEqual(after)

    // A redelivered job for an invoiced month writes nothing either.
    await runInvoiceJob({ type: 'billing.invoice', userId: pro, month: '2024-12' }, h.services)
    expect(await snapshot(users)).toEqual(after)
  })

  it('a missed 1st is caught up within the first seven days; a later run invoices nothing', async () => {
    const h = harness()
    const u = await insertUser()
    await addUsage(u, '2025-06', [{ type: 'sms', quantity: 4 }])
    const third = await runDay(h, D(2025, 7, 3, 3))
    expect(third.result.invoiceMonth).toBe('2025-06')
    expect(third.bodies.map((b: any) => b.userId)).toContain(u)
    const invoiced = async () => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM invoices WHERE user_id = ? AND month = '2025-06'`).bind(u).first<{ n: number }>())!.n
    expect(await invoiced()).toBe(1)
    // The next catch-up day finds it invoiced and sends nothing for it.
    expect((await runDay(h, D(2025, 7, 4, 3))).bodies.map((b: any) => b.userId)).not.toContain(u)
    expect(await invoiced()).toBe(1)
  })

  it('other days renew and mark overdue but invoice nothing; a job with nothing to bill or a malformed body is dropped', async () => {
    const h = harness()
    const u = await insertUser()
    await addUsage(u, '2025-02', [{ type: 'sms', quantity: 3 }])
    const { result, bodies } = await runDay(h, D(2025, 3, 8, 3))
    expect(result.invoiceMonth).toBeNull()
    expect(result.invoicesEnqueued).toBe(0)
    expect(bodies).toEqual([])
    const count = async () => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM invoices WHERE user_id = ?`).bind(u).first<{ n: number }>())!.n
    expect(await count()).toBe(0)

    const nobody = await insertUser()
    const batch = createMessageBatch('jobs', [
      { id: 'j1', timestamp: new Date(), attempts: 1, body: { type: 'billing.invoice', userId: nobody, month: '2025-02' } },
      { id: 'j2', timestamp: new Date(), attempts: 1, body: { type: 'billing.invoice', userId: u, month: 'February' } },
      { id: 'j3', timestamp: new Date(), attempts: 1, body: { type: 'billing.invoice', userId: u, month: '2025-02' } },
    ])
    await CONSUMERS.jobs!(batch, h.services)
    const q = await getQueueResult(batch, h.ctx)
    expect(q.explicitAcks.sort(), JSON.stringify(q)).toEqual(['j1', 'j2', 'j3'])
    expect(await count()).toBe(1)
  })

  it('an invoice becomes overdue the day after its due date, not on it', async () => {
    const h = harness()
    const u = await insertUser()
    await addUsage(u, '2025-04', [{ type: 'sms', quantity: 3 }])
    const svc = new InvoicesService({ db: h.services.db, taxRatePercent: 0 })
    const { invoice } = await svc.generate(ctxFor(u), '2025-04', new Date(D(2025, 5, 1, 3)))
    expect(invoice.dueDate.toISOString()).toBe('2025-05-07T00:00:00.000Z')
    await runBilling(h.services, D(2025, 5, 7, 3))
    const status = async () => (await env.DB.prepare(`SELECT status FROM invoices WHERE id = ?`).bind(invoice.id).first<{ status: string }>())!.status
    expect(await status()).toBe('pending')
    await runBilling(h.services, D(2025, 5, 8, 3))
    expect(await status()).toBe('overdue')
  })
})

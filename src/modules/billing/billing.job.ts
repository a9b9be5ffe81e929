/**
 * The daily billing run (cron `0 3 * * *`), and the `billing.invoice` job it fans out.
 *
 * Each run, for the instant it was scheduled at:
 *   0. automatic top-ups (billing/auto-top-up.ts): one `jobs` message `billing.auto-top-up` per
 *      account with the setting on, sent first so that they tend to run before the renewals;
 *   1. DID monthly renewals (src/modules/dids/renewals.job.ts): the due numbers, one `jobs`
 *      message `billing.did-renewals` per page; the job charges the wallet;
 *   2. on the 1st of a month (UTC), and the six days after as a catch-up: one `jobs` message
 *      `{ type: 'billing.invoice', userId, month, at }` per account that had usage rows in the month
 *      just closed, a subscription in force during it, or a number whose renewal period starts in
 *      it, and has no invoice for it yet; the job renews that account's numbers of the month still
 *      due (their page may still be in the queue), generates the invoice and, with auto-pay on,
 *      pays it (billing/autopay.ts);
 *   3. open invoices (pending, partially paid) from the day after their due date: `overdue`.
 *
 * Idempotent for its day: renewals are unique per number and period (a page names each number's
 * period: a second run's page, or a redelivered one, skips what was renewed); invoices are unique
 * per account and month (a second run enqueues only the accounts still without one, and a job for
 * an invoice that exists writes nothing); the overdue UPDATE finds nothing left to mark. A step
 * that fails does not stop the others; the run then throws so the failure is seen, and the next
 * run (or a re-trigger) finishes the work.
 */
import { and, eq, sql } from 'drizzle-orm'
import { z } from 'zod'
import { chunk } from '../../db/chunk'
import { invoices } from '../../db/schema'
import { NotFound } from '../../lib/errors'
import type { Services } from '../../services'
import { enqueueDidRenewals, renewAccountPeriods } from '../dids/renewals.job'
import { drainOutbox } from '../events/outbox'
import { monthOf, previousMonth } from '../../lib/periods'
import { monthPeriod } from './invoice-compose'
import { MONTH_FORMAT } from './schemas'
import type { InvoicesService } from './invoices.service'
import { autoPayInvoice, type AutoPayResult } from './autopay'
import { enqueueAutoTopUps } from './auto-top-up'
import { systemContext } from '../../lib/context'
import { logger } from '../../lib/logger'

/** Days at the start of a month on which the closed month's invoices are enqueued (the 1st, then catch-up). */
export const INVOICE_CATCH_UP_DAYS = 7

/** Accounts read per query when enqueueing a month's invoices. */
export const ENQUEUE_PAGE = 500
/** A queue batch holds at most 100 messages. */
const SEND_BATCH = 100

const { log } = logger

/**
 * Sends one `billing.invoice` job per account to invoice for `month`: usage rows in the month, a
 * subscription in force at some time of it, or a number due for renewal in it (the job decides
 * exactly; one with nothing to bill is dropped), and no invoice yet. Returns how many were sent.
 */
export async function enqueueInvoices(services: Services, month: string, at = Date.now()): Promise<number> {
  const { start, end } = monthPeriod(month)
  let cursor = ''
  let sent = 0
  for (;;) {
    const rows = await services.db.all<{ user_id: string }>(sql`
      select c.user_id from (
        select user_id from usage_records where month = ${month}
        union
        select user_id from subscriptions
          where start_date < ${end} and (status <> 'cancelled' or cancelled_at is null or cancelled_at > ${start})
        union
        select user_id from subscription_changes where at >= ${start} and at < ${end}
        union
        select user_id from phone_numbers
          where status in ('active', 'suspended') and next_renewal_at >= ${start} and next_renewal_at < ${end}
      ) c
      where c.user_id > ${cursor}
        and not exists (select 1 from invoices i where i.user_id = c.user_id and i.month = ${month})
      order by c.user_id
      limit ${ENQUEUE_PAGE}`)
    if (!rows.length) break
    for (const part of chunk(rows, SEND_BATCH)) {
      await services.env.JOBS.sendBatch(part.map((r) => ({ body: { type: 'billing.invoice', userId: r.user_id, month, at } })))
      sent += part.length
    }
    cursor = rows[rows.length - 1]!.user_id
    if (rows.length < ENQUEUE_PAGE) break
  }
  return sent
}

export async function runBilling(services: Services, scheduledTime: number) {
  const now = new Date(scheduledTime)
  const failures: string[] = []
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn()
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`)
      log('error', 'billing: step failed', { step: name, error: (e as Error).message })
      return null
    }
  }

  const autoTopUpsEnqueued = await step('auto-top-up', () => enqueueAutoTopUps(services, scheduledTime))
  const renewals = await step('did-renewals', () => enqueueDidRenewals(services, now))
  // On the 1st, and the next six days as a catch-up for a run that failed or did not fire (cron
  // runs are not retried): accounts already invoiced for the month are skipped, so it costs little.
  const month = now.getUTCDate() <= INVOICE_CATCH_UP_DAYS ? previousMonth(monthOf(scheduledTime)) : null
  const invoicesEnqueued = month ? await step('invoices', () => enqueueInvoices(services, month, scheduledTime)) : 0
  const overdue = await step('overdue', () => services.invoices.markOverdue(scheduledTime))

  const result = { renewals, invoiceMonth: month, invoicesEnqueued, overdue, autoTopUpsEnqueued }
  if (failures.length) throw new Error(`billing run incomplete (${failures.join('; ')})`)
  return result
}

export const InvoiceJob = z.object({
  type: z.literal('billing.invoice'),
  userId: z.string().min(1).max(64),
  month: z.string().regex(MONTH_FORMAT),
  /** The billing run's time (ms); renewals the job makes are counted from it. Default: now. */
  at: z.number().int().positive().optional(),
})

/**
 * Renews the account's numbers whose period starts in the month and are still due (normally done
 * by the renewal pages; on the 1st a page may still be in the queue), generates the account's
 * invoice for the month (nothing when it exists or there is nothing to bill), then auto-pays it
 * when the account has auto-pay on and something is due — also on a rerun for an invoice still
 * unpaid, once per run (billing/autopay.ts). Throws to be retried.
 */
export async function runInvoiceJob(body: unknown, services: Services): Promise<void> {
  const parsed = InvoiceJob.safeParse(body)
  if (!parsed.success) {
    log('error', 'billing.invoice: malformed job dropped', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) })
    return
  }
  const { userId, month } = parsed.data
  const exists = await services.db
    .select({ id: invoices.id })
    .from(invoices)
    .where(and(eq(invoices.userId, userId), eq(invoices.month, month)))
    .get()
  if (!exists) {
    const { start, end } = monthPeriod(month)
    await renewAccountPeriods(services, userId, new Date(start), new Date(end), parsed.data.at ?? Date.now())
  }
  let generated: Awaited<ReturnType<InvoicesService['generate']>>
  try {
    generated = await services.invoices.generate(systemContext('billing', userId), month)
  } catch (e) {
    // Nothing to bill for that month: retrying cannot change that.
    if (e instanceof NotFound) return log('info', 'billing.invoice: nothing to invoice', { userId, month })
    throw e
  }
  const { invoice, created } = generated
  if (created) log('info', 'billing.invoice: generated', { userId, month, invoiceId: invoice.id })
  let autoPay: AutoPayResult | null = null
  try {
    autoPay = await autoPayInvoice(services, invoice)
    if (autoPay.status !== 'skipped') log(autoPay.status === 'paid' ? 'info' : 'warn', 'billing.invoice: auto-pay', { userId, month, invoiceId: invoice.id, ...autoPay })
  } finally {
    if (created || (autoPay && autoPay.status !== 'skipped')) services.defer(drainOutbox(services))
  }
}

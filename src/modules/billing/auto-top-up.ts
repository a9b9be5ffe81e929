/**
 * Automatic wallet top-up (the billing account's `autoTopUp` setting), run by the daily billing
 * cron: `enqueueAutoTopUps` sends one `jobs` message `{ type: 'billing.auto-top-up', userId, day }`
 * per active account with the setting on; `runAutoTopUpJob` tops that account up when its available
 * balance is below the threshold.
 *
 * Invariants:
 * - At most once per account and UTC day: the top-up's attempt key is `autotopup_<userId>_<day>`
 *   (payments/auto-top-up-key.ts), and a day that has an attempt — succeeded, declined or still
 *   pending — gets no other. A repeated cron run or a redelivered message changes nothing.
 * - It is the top-up of POST /api/v1/billing/top-up (TopUpService): the same payment row, the same
 *   charge idempotent by the attempt key, the same credit idempotent by the payment, the same
 *   PAYMENT_SUCCEEDED / PAYMENT_FAILED events (marked `autoTopUp: true`). The Wallet is credited
 *   once, with one ledger entry.
 * - A decline is recorded (a failed payment of the day) and evented, then left alone until the next
 *   day: the job does not retry it. No method to charge (deleted since) is recorded the same way.
 * - A charge whose outcome is unknown (processor unreachable) leaves the day's payment pending: the
 *   sweeper finishes it under the same key (payments/pending-payments.job.ts), never twice.
 * - Anything that fails before the payment exists (D1, the Wallet) throws: the job is retried.
 */
import { and, eq, gt, sql } from 'drizzle-orm'
import { z } from 'zod'
import { chunk } from '../../db/chunk'
import { insertWhere } from '../../db/insert-where'
import { billingAccounts, outbox, payments, users } from '../../db/schema'
import { AppError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import type { Services } from '../../services'
import { runBatch } from '../../db/batch'
import { drainOutbox, newEventId } from '../events/outbox'
import { autoTopUpKey } from '../payments/auto-top-up-key'
import { systemContext } from '../../lib/context'
import { logger } from '../../lib/logger'

/** Accounts read per query when enqueueing. */
const ENQUEUE_PAGE = 500
/** A queue batch holds at most 100 messages. */
const SEND_BATCH = 100

export const utcDay = (t: number) => new Date(t).toISOString().slice(0, 10)

export const AutoTopUpJob = z.object({
  type: z.literal('billing.auto-top-up'),
  userId: z.string().min(1).max(64),
  /** The UTC day of the billing run (YYYY-MM-DD): one top-up at most per account and day. */
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
})

const { log } = logger

/** One `billing.auto-top-up` job per active account with the automatic top-up on. Returns how many were sent. */
export async function enqueueAutoTopUps(services: Services, scheduledTime: number): Promise<number> {
  const day = utcDay(scheduledTime)
  let cursor = ''
  let sent = 0
  for (;;) {
    const rows = await services.db
      .select({ userId: billingAccounts.userId })
      .from(billingAccounts)
      .innerJoin(users, eq(users.id, billingAccounts.userId))
      .where(and(eq(billingAccounts.autoTopUpEnabled, true), eq(users.status, 'active'), gt(billingAccounts.userId, cursor)))
      .orderBy(billingAccounts.userId)
      .limit(ENQUEUE_PAGE)
      .all()
    if (!rows.length) break
    for (const part of chunk(rows, SEND_BATCH)) {
      await services.env.JOBS.sendBatch(part.map((r) => ({ body: { type: 'billing.auto-top-up', userId: r.userId, day } })))
      sent += part.length
    }
    cursor = rows[rows.length - 1]!.userId
    if (rows.length < ENQUEUE_PAGE) break
  }
  return sent
}

export type AutoTopUpResult =
  | { status: 'skipped'; reason: 'disabled' | 'attempted_today' | 'above_threshold' }
  | { status: 'succeeded' | 'failed' | 'pending'; paymentId: string; amount: number; failureReason?: string | null }

/** Tops the account up for `day` when it should; see the module comment. */
export async function autoTopUp(services: Services, userId: string, day: string): Promise<AutoTopUpResult> {
  const { db } = services
  const attemptKey = autoTopUpKey(userId, day)
  const [account, done] = await db.batch([
    db.select().from(billingAccounts).where(eq(billingAccounts.userId, userId)),
    db
      .select({ id: payments.id })
      .from(payments)
      .where(and(eq(payments.attemptKey, attemptKey), eq(payments.userId, userId))),
  ])
  const a = account[0]
  if (!a?.autoTopUpEnabled || a.autoTopUpThreshold === null || a.autoTopUpAmount === null) return { status: 'skipped', reason: 'disabled' }
  if (done.length) return { status: 'skipped', reason: 'attempted_today' }
  const balance = await services.wallet.balance(userId)
  if (balance.available >= a.autoTopUpThreshold) return { status: 'skipped', reason: 'above_threshold' }

  const amount = a.autoTopUpAmount
  try {
    const { payment } = await services.topUps.topUp(systemContext('auto-top-up', userId), { amount, paymentMethodId: a.autoTopUpPaymentMethodId ?? undefined, attemptKey })
    return { status: 'succeeded', paymentId: payment.id, amount }
  } catch (e) {
    const payment = await db
      .select()
      .from(payments)
      .where(and(eq(payments.attemptKey, attemptKey), eq(payments.userId, userId)))
      .get()
    // Declined (recorded and evented by the top-up), or left pending for the sweeper.
    if (payment) return outcome(payment)
    // No method to charge: recorded as the day's failed attempt, with its event.
    if (e instanceof AppError && (e.code === 'NOT_FOUND' || e.code === 'VALIDATION_ERROR')) return recordNoMethod(services, userId, attemptKey, amount, a.autoTopUpPaymentMethodId)
    throw e
  }
}

async function recordNoMethod(services: Services, userId: string, attemptKey: string, amount: number, paymentMethodId: string | null): Promise<AutoTopUpResult> {
  const { db } = services
  const now = new Date()
  const id = newId('pay', now.getTime())
  const failureReason = paymentMethodId ? 'The payment method of the automatic top-up was deleted' : 'The account has no payment method'
  const first = sql`not exists (select 1 from ${payments} where ${payments.attemptKey} = ${attemptKey})`
  await runBatch(db, [
    // The event first, guarded by the payment not existing yet: written once.
    insertWhere(
      db,
      outbox,
      {
        id: newEventId(now),
        type: 'PAYMENT_FAILED',
        userId,
        payload: {
          paymentId: id,
          purpose: 'wallet_topup',
          amount: fromMicros(amount),
          currency: 'USD',
          status: 'failed',
          paymentMethod: paymentMethodId,
          processor: null,
          failureReason,
          autoTopUp: true,
        },
        createdAt: now,
      },
      first,
    ),
    db
      .insert(payments)
      .values({
        id,
        userId,
        purpose: 'wallet_topup',
        amount,
        currency: 'USD',
        status: 'failed',
        processor: 'none',
        paymentMethodId,
        failureReason,
        attemptKey,
        processedAt: now,
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoNothing({ target: payments.attemptKey }),
  ])
  return outcome((await db.select().from(payments).where(eq(payments.attemptKey, attemptKey)).get())!)
}

function outcome(p: typeof payments.$inferSelect): AutoTopUpResult {
  const status = p.status === 'succeeded' || p.status === 'failed' ? p.status : 'pending'
  return { status, paymentId: p.id, amount: p.amount, failureReason: p.failureReason }
}

/** The `billing.auto-top-up` job (queue `jobs`): throws only to be retried. */
export async function runAutoTopUpJob(body: unknown, services: Services): Promise<void> {
  const parsed = AutoTopUpJob.safeParse(body)
  if (!parsed.success) {
    log('error', 'billing.auto-top-up: malformed job dropped', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) })
    return
  }
  const { userId, day } = parsed.data
  const r = await autoTopUp(services, userId, day)
  if (r.status === 'skipped') return
  log(r.status === 'failed' ? 'warn' : 'info', 'billing.auto-top-up', { userId, day, ...r })
  // Its PAYMENT_* event goes out now rather than with the sweeper's next drain.
  services.defer(drainOutbox(services))
}

/**
 * Sweeper step: payments left `pending` — a top-up or an invoice payment whose request died after
 * claiming its key, with or without having charged — are finished here, under the same key, so a
 * charge that went through is recorded (and a top-up credited) even if its client never retries.
 *
 * Only attempts older than `MIN_AGE_MS` (their own request may still be running) and younger
 * than `STALE_CLAIM_MS` (processors forget idempotency keys after about a day; older ones are left
 * for review) are taken, `PER_RUN` per run.
 *
 * Backoff per row: a run that leaves a row pending (it threw, or it could not be finished yet)
 * counts one more `resume_attempts` and sets `resume_after` to now + resumeBackoffMs(attempts)
 * (2, 4, 8 … minutes, at most an hour). A row is never taken before its `resume_after`, and rows
 * are taken in order of `coalesce(resume_after, created_at)`: one that failed goes behind those
 * that were already waiting, so a set of rows that can never finish cannot starve the others.
 */
import { and, asc, eq, gt, isNull, lt, lte, or, sql } from 'drizzle-orm'
import { payments } from '../../db/schema'
import type { Services } from '../../services'
import { STALE_CLAIM_MS } from '../../providers/payments/types'
import type { PaymentRow } from './top-up.service'
import { MINUTE_MS } from '../../lib/time'
import { logger } from '../../lib/logger'

export const MIN_AGE_MS = 2 * 60_000
export const PER_RUN = 25

/** Wait after the `attempts`-th run that left a row pending: 2 min, 4, 8, 16, 32, then 60. */
export function resumeBackoffMs(attempts: number): number {
  return Math.min(60 * MINUTE_MS, 2 * MINUTE_MS * 2 ** Math.max(0, attempts - 1))
}

export async function resumePendingPayments(services: Services, now: number): Promise<{ resumed: number; failed: number; deferred: number }> {
  const at = new Date(now)
  const rows = await services.db
    .select()
    .from(payments)
    .where(
      and(
        eq(payments.status, 'pending'),
        lt(payments.createdAt, new Date(now - MIN_AGE_MS)),
        gt(payments.createdAt, new Date(now - STALE_CLAIM_MS)),
        or(isNull(payments.resumeAfter), lte(payments.resumeAfter, at)),
      ),
    )
    .orderBy(sql`coalesce(${payments.resumeAfter}, ${payments.createdAt})`, asc(payments.createdAt), asc(payments.id))
    .limit(PER_RUN)
    .all()
  let resumed = 0
  let failed = 0
  let deferred = 0
  for (const row of rows) {
    let error: string | null = null
    let status: PaymentRow['status'] = row.status
    try {
      status = row.purpose === 'wallet_topup' ? await services.topUps.resume(row) : await services.invoicePayments.resume(row)
    } catch (e) {
      error = (e as Error).message
    }
    if (error === null && status !== 'pending') {
      resumed += 1
      continue
    }
    if (error !== null) failed += 1
    else deferred += 1
    const attempts = row.resumeAttempts + 1
    const resumeAfter = new Date(now + resumeBackoffMs(attempts))
    logger.warn('pending payment not finished; retried after a backoff', { paymentId: row.id, attempts, resumeAfter: resumeAfter.toISOString(), error })
    await services.db
      .update(payments)
      .set({ resumeAttempts: sql`${payments.resumeAttempts} + 1`, resumeAfter, updatedAt: at })
      .where(and(eq(payments.id, row.id), eq(payments.status, 'pending')))
      .run()
  }
  return { resumed, failed, deferred }
}

/**
 * Sweeper step: payments left `pending` — a top-up or an invoice payment whose request died after
 * claiming its key, with or without having charged — are finished here, under the same key, so a
 * charge that went through is recorded (and a top-up credited) even if its client never retries.
 *
 * Only attempts older than `MIN_AGE_MS` (their own request may still be running) and younger
 * than `STALE_CLAIM_MS` (processors forget idempotency keys after about a day; older ones are left
 * for review) are taken, a few per run; each one failing is logged and left for the next run.
 */
import { and, asc, eq, gt, lt } from 'drizzle-orm'
import { payments } from '../../db/schema'
import type { Services } from '../../services'
import { invoicePaymentsOf } from '../invoices/deps'
import { STALE_CLAIM_MS } from '../../providers/payments/types'
import { TopUpService } from './top-up.service'

export const MIN_AGE_MS = 2 * 60_000
const PER_RUN = 25

export async function resumePendingPayments(services: Services, now: number): Promise<{ resumed: number; failed: number }> {
  const rows = await services.db
    .select()
    .from(payments)
    .where(and(eq(payments.status, 'pending'), lt(payments.createdAt, new Date(now - MIN_AGE_MS)), gt(payments.createdAt, new Date(now - STALE_CLAIM_MS))))
    .orderBy(asc(payments.createdAt))
    .limit(PER_RUN)
    .all()
  let resumed = 0
  let failed = 0
  for (const row of rows) {
    try {
      const status = row.purpose === 'wallet_topup' ? await new TopUpService(services).resume(row) : await invoicePaymentsOf(services).resume(row)
      if (status !== 'pending') resumed += 1
    } catch (e) {
      failed += 1
      console.error(JSON.stringify({ level: 'warn', message: 'pending payment not finished; next run retries', paymentId: row.id, error: (e as Error).message }))
    }
  }
  return { resumed, failed }
}

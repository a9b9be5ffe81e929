/**
 * The end of an unpaid renewal (renewals.job.ts): numbers suspended past
 * SUSPENSION_BEFORE_RELEASE_MS are claimed, then released through the ordinary release path.
 */
import { and, eq, isNull } from 'drizzle-orm'
import { phoneNumbers, type PhoneNumber } from '../../db/schema'
import type { Services } from '../../services'
import { errorText, runBatch } from '../../db/batch'
import type { DidsService } from './dids.service'
import { logger } from '../../lib/logger'
import { changes, RENEWAL_RELEASE_REASON } from './renewals.statements'

/**
 * A claimed release is scheduled this far ahead (wall clock): the run releases the number at once,
 * and the sweeper only when the run stopped before it did.
 */
export const RELEASE_CLAIM_MS = 15 * 60_000

/**
 * Releases numbers unpaid past their suspension. Each is claimed first (renewals.job.ts's top comment): only a
 * number still suspended and due for the period is released, so a run that paid it meanwhile
 * keeps it. A release that fails upstream is undone (the next run tries again); none fails the
 * run — it is logged and counted in `releaseFailed`.
 */
export async function releaseUnpaid(services: Services, items: { n: PhoneNumber; periodStart: number }[], at: number, counts: { released: number; releaseFailed?: number }): Promise<void> {
  const db = services.db
  const now = new Date(at)
  // Wall clock: the sweeper's schedule, should this run stop before the release.
  const claimedUntil = new Date(Date.now() + RELEASE_CLAIM_MS)
  const failed = (n: number, message: string, fields: Record<string, unknown>) => {
    counts.releaseFailed = (counts.releaseFailed ?? 0) + n
    logger.error(message, { job: 'billing', step: 'did-renewals-release', ...fields })
  }

  let claimed: { n: PhoneNumber; periodStart: number }[]
  try {
    const results = await runBatch(
      db,
      items.map(({ n, periodStart }) =>
        db
          .update(phoneNumbers)
          .set({ nextRenewalAt: null, releaseAt: claimedUntil, releaseReason: RENEWAL_RELEASE_REASON, updatedAt: now })
          .where(
            and(
              eq(phoneNumbers.id, n.id),
              eq(phoneNumbers.status, 'suspended'),
              eq(phoneNumbers.nextRenewalAt, new Date(periodStart)),
              n.releaseAt ? eq(phoneNumbers.releaseAt, n.releaseAt) : isNull(phoneNumbers.releaseAt),
            ),
          ),
      ),
    )
    claimed = items.filter((_, i) => changes(results[i]) > 0)
  } catch (e) {
    // Nothing claimed: the numbers are still due, the next run tries again.
    return failed(items.length, 'release not claimed; the next run tries again', { numberIds: items.map((i) => i.n.id), error: errorText(e) })
  }
  if (!claimed.length) return

  let result: Awaited<ReturnType<DidsService['releaseNow']>>
  try {
    result = await services.dids.releaseNow(
      claimed.map((c) => c.n),
      at,
      RENEWAL_RELEASE_REASON,
    )
  } catch (e) {
    // Stopped midway (some may be released upstream already): the claims stand, and the sweeper
    // releases the numbers at claimedUntil through the same path.
    return failed(claimed.length, 'release interrupted; the sweeper finishes it', { numberIds: claimed.map((c) => c.n.id), releaseAt: claimedUntil.toISOString(), error: errorText(e) })
  }
  counts.released += result.released.length
  if (!result.failed.length) return

  // Refused upstream: the claim is undone (due for the period again, the scheduled release as it was).
  const periodOf = new Map(claimed.map((c) => [c.n.id, c.periodStart]))
  for (const f of result.failed) failed(1, 'release failed upstream; the next run tries again', { numberId: f.row.id, error: errorText(f.error) })
  try {
    await runBatch(
      db,
      result.failed.map(({ row }) =>
        db
          .update(phoneNumbers)
          .set({ nextRenewalAt: new Date(periodOf.get(row.id)!), releaseAt: row.releaseAt, releaseReason: row.releaseReason, updatedAt: now })
          .where(and(eq(phoneNumbers.id, row.id), eq(phoneNumbers.status, 'suspended'), isNull(phoneNumbers.nextRenewalAt), eq(phoneNumbers.releaseAt, claimedUntil))),
      ),
    )
  } catch (e) {
    logger.error('claim not undone; the sweeper releases the numbers', { job: 'billing', step: 'did-renewals-release', numberIds: result.failed.map((f) => f.row.id), error: errorText(e) })
  }
}

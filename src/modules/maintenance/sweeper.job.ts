/**
 * The per-minute sweeper. Each step is idempotent (a set-based change whose result is the same
 * however often it runs) and independent: one failing step is logged and the others still run.
 */
import { and, eq, inArray, isNotNull, lt, lte, or } from 'drizzle-orm'
import { authTokens, refreshTokens, sessions, users } from '../../db/schema'
import type { Services } from '../../services'
import { expireActivations } from '../activations/expiry.job'
import { sweepPendingRefunds, sweepWithheldSms } from '../activations/settlement'
import { releaseScheduledNumbers } from '../dids/release.job'
import { returnAbandonedCharges } from '../dids/renewal-charges'
import { purgeIdempotencyKeys } from './idempotency.job'
import { purgeFailedJobs } from '../jobs/failed-jobs.job'
import { drainOutbox } from '../events/outbox'
import { confirmPurchases } from '../dids/confirm-purchases.job'
import { reconcileStuckOrders } from '../dids/stuck-orders.job'
import { resumePendingPayments } from '../payments/pending-payments.job'
import { finishPendingCredits } from '../wallet/pending-credits'
import { logger } from '../../lib/logger'

/** Outbox rows younger than this are left to the request that wrote them (it sends them after its answer). */
export const OUTBOX_GRACE_MS = 30_000

/** Revoked or expired sessions (and their tokens) are kept this long for audit, then deleted. */
const SESSION_RETENTION_MS = 30 * 86_400_000

export async function runSweeper(services: Services, scheduledTime: number) {
  const steps = {
    auth: () => sweepAuth(services, scheduledTime),
    activations: () => expireActivations(services, scheduledTime),
    refunds: () => sweepPendingRefunds(services, scheduledTime),
    withheldSms: () => sweepWithheldSms(services, scheduledTime),
    releases: () => releaseScheduledNumbers(services, scheduledTime),
    stuckOrders: () => reconcileStuckOrders(services, scheduledTime),
    unconfirmedPurchases: () => confirmPurchases(services, scheduledTime),
    idempotency: () => purgeIdempotencyKeys(services, scheduledTime),
    // Dead jobs 30 days after they died; retrying ones whose last failure is as old.
    failedJobs: () => purgeFailedJobs(services, scheduledTime),
    // Rows younger than the grace were just sent by the request that wrote them.
    payments: () => resumePendingPayments(services, scheduledTime),
    // Renewal debits no run closed, of numbers no longer renewable: given back (if made).
    renewalCharges: () => returnAbandonedCharges(services, scheduledTime),
    // Credits owed (renewal debits given back) whose first try failed.
    credits: () => finishPendingCredits(services, scheduledTime),
    // Messages whose enqueue failed after their row was written (the send answered 202 anyway).
    messages: () => services.messages.requeueStale(),
    outbox: () => drainOutbox(services, 1000, OUTBOX_GRACE_MS),
  }
  const out: Record<string, unknown> = {}
  for (const [name, step] of Object.entries(steps)) {
    try {
      out[name] = await step()
    } catch (e) {
      logger.error((e as Error).message, { job: 'sweeper', step: name })
      out[name] = { error: (e as Error).message }
    }
  }
  return out
}

/** End suspensions whose time is up; delete expired or consumed tokens and long-dead sessions. */
async function sweepAuth({ db }: Services, scheduledTime: number) {
  const now = new Date(scheduledTime)
  const cutoff = new Date(scheduledTime - SESSION_RETENTION_MS)
  const dead = db
    .select({ id: sessions.id })
    .from(sessions)
    .where(or(and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, cutoff)), lt(sessions.expiresAt, cutoff)))
  const results = await db.batch([
    db
      .update(users)
      .set({ status: 'active', statusReason: null, suspendedUntil: null, updatedAt: now })
      .where(and(eq(users.status, 'suspended'), isNotNull(users.suspendedUntil), lte(users.suspendedUntil, now))),
    db.delete(authTokens).where(or(lt(authTokens.expiresAt, now), isNotNull(authTokens.usedAt))),
    db.delete(refreshTokens).where(inArray(refreshTokens.sessionId, dead)),
    db.delete(sessions).where(inArray(sessions.id, dead)),
  ])
  return {
    suspensionsEnded: results[0].meta.changes,
    authTokensDeleted: results[1].meta.changes,
    sessionsDeleted: results[3].meta.changes,
  }
}

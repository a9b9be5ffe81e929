/**
 * Sweeper step (every minute): activations past their time.
 * - `active` with no SMS → cancelled upstream (errors ignored: the upstream expires it anyway),
 *   `expired`, `billing = refunded`, and the price credited back (op `refund_<id>`).
 * - `sms_received` → `completed` (the number's time is up; it was paid for).
 * - Refunds whose credit did not go through (a crash between the D1 update and the credit)
 *   are credited again for a few minutes: the op id makes every retry after the first a no-op.
 * Set-based: one select, batched updates; the only per-row calls are upstream cancels and
 * Wallet credits. Running it twice changes nothing the second time.
 */
import { and, eq, gt, inArray, lt, lte } from 'drizzle-orm'
import { activations, providers, type Activation, type Provider } from '../../db/schema'
import type { Services } from '../../services'
import { activationAdapter, log, refund } from './activations.service'
import { refundIfCaptured } from './activations.service'
import { activationRefundMeter } from '../usage/product-meters'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'

/** Activations expired per run; the rest wait for the next minute. */
const BATCH = 200
/** Refund credits are re-driven for activations refunded between these ages. */
const REFUND_RETRY_MIN_AGE_MS = 60_000
const REFUND_RETRY_MAX_AGE_MS = 10 * 60_000
/** How late after its expiry an activation may be expired or cancelled (a sweeper that lagged). */
const EXPIRY_LAG_MS = 30 * 60_000

type Deps = Pick<Services, 'db' | 'wallet'> & { providers: Pick<Services['providers'], 'adapters'> }

export async function expireActivations(services: Deps, now: number) {
  const { db } = services
  const at = new Date(now)
  const due = await db
    .select({ activation: activations, provider: providers })
    .from(activations)
    .innerJoin(providers, eq(providers.id, activations.providerId))
    .where(and(eq(activations.status, 'active'), lte(activations.expiresAt, at))) // activations_status_expires_idx
    .orderBy(activations.expiresAt)
    .limit(BATCH)
    .all()

  await Promise.all(due.map(({ activation, provider }) => cancelUpstream(services, activation, provider)))

  // Only rows still active change (an SMS may have landed meanwhile); RETURNING says which.
  const expired: Activation[] = []
  const byId = new Map(due.map((d) => [d.activation.id, d.activation]))
  const chunks = chunk([...byId.keys()], IDS_PER_STATEMENT)
  const completedStatement = db
    .update(activations)
    .set({ status: 'completed', updatedAt: at })
    .where(and(eq(activations.status, 'sms_received'), lte(activations.expiresAt, at)))
  const results = await db.batch([
    completedStatement,
    ...chunks.map((ids) =>
      db
        .update(activations)
        // Only money that was taken comes back: an `unbilled` number expires unbilled.
        .set({ status: 'expired', billing: refundIfCaptured, updatedAt: at })
        .where(and(inArray(activations.id, ids), eq(activations.status, 'active')))
        .returning({ id: activations.id, billing: activations.billing }),
    ),
    // The refunds' usage rows (after every update above: only rows they refunded match).
    ...chunks.map((ids) => activationRefundMeter(db, and(inArray(activations.id, ids), eq(activations.status, 'expired'))!, at, 'expired')),
  ])
  const [completed, ...rest] = results
  const updates = rest.slice(0, chunks.length)
  const owed: Activation[] = []
  for (const rows of updates as { id: string; billing: string }[][]) {
    for (const r of rows) {
      expired.push(byId.get(r.id)!)
      if (r.billing === 'refunded') owed.push(byId.get(r.id)!)
    }
  }

  let refunded = 0
  for (const a of owed) if ((await refund(services.wallet, a)) !== 'failed') refunded++

  const retried = await retryRefunds(services, now, new Set(expired.map((a) => a.id)))
  return { expired: expired.length, refunded, completed: (completed as D1Result).meta?.changes ?? 0, refundsRetried: retried }
}

async function cancelUpstream(services: Deps, a: Activation, p: Provider) {
  try {
    await activationAdapter((x) => services.providers.adapters(x), p).cancel(a.upstreamId)
  } catch (e) {
    log('warn', 'expiry: upstream cancel failed (ignored)', { activationId: a.id, provider: p.code, error: (e as Error).message })
  }
}

/**
 * Refunded activations of the last few minutes get their credit again: a no-op replay when the
 * first one went through, the refund itself when it did not. Bounded by the (status, expires_at)
 * index: a refunded activation was cancelled before its expiry or expired soon after it, so its
 * expires_at is close to the refund.
 */
async function retryRefunds(services: Deps, now: number, skip: Set<string>) {
  const { db } = services
  const rows = await db
    .select({ id: activations.id, userId: activations.userId, price: activations.price, phone: activations.phone })
    .from(activations)
    .where(
      and(
        inArray(activations.status, ['cancelled', 'expired']),
        gt(activations.expiresAt, new Date(now - REFUND_RETRY_MAX_AGE_MS - EXPIRY_LAG_MS)),
        eq(activations.billing, 'refunded'),
        lt(activations.updatedAt, new Date(now - REFUND_RETRY_MIN_AGE_MS)),
        gt(activations.updatedAt, new Date(now - REFUND_RETRY_MAX_AGE_MS)),
      ),
    )
    .limit(BATCH)
    .all()
  let n = 0
  // Counts only refunds that had been lost: a replay moves nothing.
  for (const a of rows) if (!skip.has(a.id) && (await refund(services.wallet, a)) === 'credited') n++
  return n
}

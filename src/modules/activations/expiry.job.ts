/**
 * Sweeper step (every minute): activations past their time.
 * - `active` with no SMS → cancelled upstream (errors ignored: the upstream expires it anyway),
 *   `expired`, `billing = refund_pending`, and the price credited back (op `refund_<id>`), then
 *   `refunded`. A credit that does not go through stays `refund_pending` for the sweeper's refund
 *   step (settlement.ts), however long the wallet is unreachable.
 * - `sms_received` → `completed` (the number's time is up; it was paid for).
 * Set-based: one select, batched updates; the only per-row calls are upstream cancels and
 * Wallet credits. Running it twice changes nothing the second time.
 */
import { and, eq, inArray, lte } from 'drizzle-orm'
import { activations, providers, type Activation, type Provider } from '../../db/schema'
import type { Services } from '../../services'
import { activationAdapter } from './activation-purchase'
import { log } from './activations.service'
import { finishRefunds, refundIfCaptured } from './settlement'
import { activationRefundMeter } from '../usage/product-meters'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'

/** Activations expired per run; the rest wait for the next minute. */
const BATCH = 200

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
  for (const rows of updates as { id: string; billing: Activation['billing'] }[][]) {
    for (const r of rows) {
      expired.push(byId.get(r.id)!)
      if (r.billing === 'refund_pending') owed.push({ ...byId.get(r.id)!, billing: r.billing })
    }
  }
  const { credited } = await finishRefunds(services, owed, now)
  return { expired: expired.length, refunded: credited, completed: (completed as D1Result).meta?.changes ?? 0 }
}

async function cancelUpstream(services: Deps, a: Activation, p: Provider) {
  try {
    await activationAdapter((x) => services.providers.adapters(x), p).cancel(a.upstreamId)
  } catch (e) {
    log('warn', 'expiry: upstream cancel failed (ignored)', { activationId: a.id, provider: p.code, error: (e as Error).message })
  }
}

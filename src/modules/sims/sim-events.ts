/**
 * SIM events: a row in the SIM's history (GET /api/v1/sims/{iccid}/events) and, for the kinds
 * partners subscribe to, the matching webhook event in the outbox — written together, in the
 * batch of the change that caused them.
 *
 * Invariants:
 * - A crossing (quota threshold, quota depleted, connectivity lost or restored, a status change)
 *   is recorded once, even when two readers (an overlapping sync, a read-through) observe it at
 *   the same time: each carries a `dedupeKey` naming the crossing (the quota's total volume, the
 *   previous reading's instant), the history row is unique by (sim, dedupeKey), and the outbox
 *   row's id derives from the same key, so a second insert of either does nothing.
 * - Events without a key (a reset, a top-up) are written once by construction: their flow's own
 *   row is written once.
 */
import { simEvents, outbox, type Sim } from '../../db/schema'
import type { Db } from '../../db/client'
import type { Stmt } from '../../db/batch'
import { newEventId, noteEvent } from '../events/outbox'

export type SimEventKind =
  | 'sim_registered'
  | 'sim_activated'
  | 'sim_suspended'
  | 'sim_status_changed'
  | 'sim_updated'
  | 'quota_threshold_reached'
  | 'quota_depleted'
  | 'quota_topped_up'
  | 'connectivity_lost'
  | 'connectivity_restored'
  | 'connectivity_reset'
  | 'sms_received'

type Category = (typeof simEvents.$inferInsert)['eventCategory']
type Severity = (typeof simEvents.$inferInsert)['severity']

const KINDS: Record<SimEventKind, { category: Category; severity: Severity; webhook?: string }> = {
  sim_registered: { category: 'status', severity: 'info' },
  sim_activated: { category: 'status', severity: 'info', webhook: 'sim.activated' },
  sim_suspended: { category: 'status', severity: 'warning', webhook: 'sim.suspended' },
  sim_status_changed: { category: 'status', severity: 'info' },
  sim_updated: { category: 'status', severity: 'info' },
  quota_threshold_reached: { category: 'quota', severity: 'warning', webhook: 'quota.threshold_reached' },
  quota_depleted: { category: 'quota', severity: 'critical', webhook: 'quota.depleted' },
  quota_topped_up: { category: 'topup', severity: 'info' },
  connectivity_lost: { category: 'connectivity', severity: 'warning', webhook: 'connectivity.lost' },
  connectivity_restored: { category: 'connectivity', severity: 'info', webhook: 'connectivity.restored' },
  connectivity_reset: { category: 'connectivity', severity: 'info' },
  sms_received: { category: 'sms', severity: 'info', webhook: 'sms.received' },
}

export interface SimEventInput {
  kind: SimEventKind
  description: string
  /** The history row's `event_data`, and the webhook's `data` (with the ICCID added). */
  data?: Record<string, unknown>
  /** Names the crossing, for events more than one reader may observe (see the header). */
  dedupeKey?: string
}

type SimRef = Pick<Sim, 'id' | 'userId' | 'iccid'>

/** The history row and (for subscribed kinds) the outbox row of one event. */
export function simEventStatements(db: Db, sim: SimRef, e: SimEventInput, at: Date): Stmt[] {
  const kind = KINDS[e.kind]
  const stmts: Stmt[] = [
    db
      .insert(simEvents)
      .values({
        simId: sim.id,
        userId: sim.userId,
        eventType: e.kind,
        eventCategory: kind.category,
        severity: kind.severity,
        description: e.description,
        eventData: e.data ?? null,
        dedupeKey: e.dedupeKey ?? null,
        occurredAt: at,
      })
      .onConflictDoNothing(),
  ]
  if (kind.webhook) {
    const id = e.dedupeKey ? noteEvent(`evt_sim${sim.id}_${e.dedupeKey.replace(/[^A-Za-z0-9]/g, '_')}`) : newEventId(at)
    stmts.push(
      db
        .insert(outbox)
        .values({ id, type: kind.webhook, userId: sim.userId, payload: { iccid: sim.iccid, ...(e.data ?? {}) }, createdAt: at })
        .onConflictDoNothing(),
    )
  }
  return stmts
}

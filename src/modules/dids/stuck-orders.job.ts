/**
 * Sweeper step: orders a crash left `processing`. An order is written `processing` before its
 * hold is taken and its numbers are bought; the last batch of the purchase moves it on. When that
 * batch never ran, nothing else will: after the hold's lifetime the Wallet has voided the hold
 * (no `hold_outcomes` row), and the timed number locks have lapsed. This step then closes the
 * order as `failed` with its pending items, and a timeline entry — so the customer sees the end
 * of it and can order again. Numbers bought upstream before the crash have no row of ours; they
 * are logged for the operator (upstream release by hand or by the provider sync).
 */
import { and, eq, inArray, lt } from 'drizzle-orm'
import { holdOutcomes, orderEvents, orderItems, orders } from '../../db/schema'
import { newId } from '../../lib/ids'
import type { Services } from '../../services'
import { PURCHASE_HOLD_TTL_MS } from './purchase-steps'
import { chunk, rowsPerInsert } from '../../db/chunk'
import { logger } from '../../lib/logger'

/** Past the hold's expiry, with a minute for the Wallet's alarm to settle it. */
const STUCK_AFTER_MS = PURCHASE_HOLD_TTL_MS + 60_000
const BATCH = 50

export async function reconcileStuckOrders({ db }: Services, scheduledTime: number) {
  const now = new Date(scheduledTime)
  const stuck = await db
    .select({ id: orders.id, userId: orders.userId, holdId: orders.holdId })
    .from(orders)
    .where(and(eq(orders.status, 'processing'), lt(orders.updatedAt, new Date(scheduledTime - STUCK_AFTER_MS))))
    .limit(BATCH)
    .all()
  if (!stuck.length) return { failed: 0 }
  // A hold that recorded an outcome belongs to a purchase whose last batch did run: leave it.
  const holdIds = stuck.map((o) => o.holdId).filter((h): h is string => !!h)
  const settled = holdIds.length
    ? new Set((await db.select({ holdId: holdOutcomes.holdId }).from(holdOutcomes).where(inArray(holdOutcomes.holdId, holdIds)).all()).map((r) => r.holdId))
    : new Set<string>()
  const ids = stuck.filter((o) => !o.holdId || !settled.has(o.holdId)).map((o) => o.id)
  if (!ids.length) return { failed: 0 }
  const [closed] = await db.batch([
    db
      .update(orders)
      .set({ status: 'failed', paymentStatus: 'failed', updatedAt: now })
      .where(and(inArray(orders.id, ids), eq(orders.status, 'processing')))
      .returning({ id: orders.id }),
    db
      .update(orderItems)
      .set({ status: 'failed', error: 'INTERRUPTED: the purchase did not finish; nothing was charged', updatedAt: now })
      .where(and(inArray(orderItems.orderId, ids), eq(orderItems.status, 'pending'))),
  ])
  if (closed.length) {
    const events = closed.map((o, i) => ({
      id: newId('oev', scheduledTime + i),
      orderId: o.id,
      status: 'failed',
      message: 'The purchase was interrupted and did not finish; the payment hold was released and nothing was charged',
      createdAt: now,
    }))
    const inserts = chunk(events, rowsPerInsert(orderEvents)).map((rows) => db.insert(orderEvents).values(rows))
    await db.batch(inserts as [(typeof inserts)[0], ...typeof inserts])
    logger.warn('orders closed as failed; check upstream for numbers bought before the interruption', { job: 'sweeper', step: 'stuck-orders', orders: closed.map((o) => o.id) })
  }
  return { failed: closed.length }
}

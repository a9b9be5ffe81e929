/**
 * Fan-out of one domain event: one delivery per active endpoint of the account that subscribes
 * to the event (or to `*`), plus the number's own smsUrl for `SMS_RECEIVED`, each enqueued on
 * `webhooks`. Deliveries are unique per (target, event), so a redelivered event message creates
 * nothing twice and only re-enqueues deliveries that never had an attempt.
 *
 * `fanOutAll` does a whole consumer batch of events in the same few round trips as one: a read
 * batch (events marked sent, the events, their accounts' endpoints, deliveries left unattempted),
 * a write batch (every delivery row, then the batch's unattempted deliveries read back) and the
 * queue sends — instead of those per event.
 *
 * An SMS to an owned number writes two events (the DID API's `SMS_RECEIVED` and the activation
 * API's `sms.received`, both with `phoneNumberId`); the smsUrl — a DID setting — gets only the
 * first, so it receives one delivery per SMS, in the DID API's shape.
 */
import { and, eq, inArray, isNull } from 'drizzle-orm'
import type { BatchItem } from 'drizzle-orm/batch'
import { chunk, IDS_PER_STATEMENT, rowsPerInsert } from '../../db/chunk'
import { outbox, phoneNumbers, users, webhookDeliveries, webhookEndpoints } from '../../db/schema'
import { newId } from '../../lib/ids'
import { sendAll } from '../../lib/queue'
import type { DeliveryDeps as Services } from './delivery'

/** The events a number's own smsUrl receives (one per SMS: see above). */
const SMS_URL_EVENTS = new Set(['SMS_RECEIVED'])

type Delivery = typeof webhookDeliveries.$inferInsert

/** Runs statements in one round trip (D1's batch is one transaction, its statements in order). */
async function batch(db: Services['db'], stmts: BatchItem<'sqlite'>[]): Promise<unknown[][]> {
  if (!stmts.length) return []
  return (await db.batch(stmts as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])) as unknown[][]
}

const unattempted = (db: Services['db'], eventIds: string[]) =>
  db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(inArray(webhookDeliveries.eventId, eventIds), eq(webhookDeliveries.status, 'pending'), eq(webhookDeliveries.attemptCount, 0)))

export async function fanOut(services: Services, eventId: string): Promise<{ deliveries: number }> {
  return fanOutAll(services, [eventId])
}

/**
 * Fans out every event of `eventIds` (see the top of the file); throws if any step fails. Run again, it writes no row
 * twice; a delivery it enqueues again is claimed once by the `webhooks` consumer (its attempt count is the claim).
 */
export async function fanOutAll(services: Services, eventIds: readonly string[]): Promise<{ deliveries: number }> {
  const { db } = services
  const parts = chunk([...new Set(eventIds)], IDS_PER_STATEMENT)
  if (!parts.length) return { deliveries: 0 }
  // Round trip 1 (most events have no endpoint: then it is all).
  const read = await batch(db, [
    ...parts.map((ids) =>
      db
        .update(outbox)
        .set({ sentAt: new Date() })
        .where(and(inArray(outbox.id, ids), isNull(outbox.sentAt))),
    ),
    ...parts.map((ids) => db.select({ event: outbox, email: users.email }).from(outbox).leftJoin(users, eq(users.id, outbox.userId)).where(inArray(outbox.id, ids))),
    ...parts.map((ids) =>
      db
        .select({ id: webhookEndpoints.id, userId: webhookEndpoints.userId, url: webhookEndpoints.url, events: webhookEndpoints.events })
        .from(webhookEndpoints)
        .where(and(inArray(webhookEndpoints.userId, db.select({ userId: outbox.userId }).from(outbox).where(inArray(outbox.id, ids))), eq(webhookEndpoints.isActive, true))),
    ),
    ...parts.map((ids) => unattempted(db, ids)),
  ])
  const n = parts.length
  const events = read.slice(n, 2 * n).flat() as { event: typeof outbox.$inferSelect; email: string | null }[]
  const endpoints = [...new Map((read.slice(2 * n, 3 * n).flat() as { id: string; userId: string; url: string; events: string[] }[]).map((e) => [e.id, e])).values()]
  let pending = read.slice(3 * n).flat() as { id: string }[]

  // A number's smsUrl, for the SMS events that name an owned number (one more read, only when there are some).
  const numberIds = [...new Set(events.flatMap(({ event }) => (SMS_URL_EVENTS.has(event.type) && typeof event.payload.phoneNumberId === 'string' ? [event.payload.phoneNumberId] : [])))]
  const smsUrls = new Map<string, { userId: string; smsUrl: string | null }>()
  if (numberIds.length) {
    const rows = await batch(
      db,
      chunk(numberIds, IDS_PER_STATEMENT).map((ids) =>
        db.select({ id: phoneNumbers.id, userId: phoneNumbers.userId, smsUrl: phoneNumbers.smsUrl }).from(phoneNumbers).where(inArray(phoneNumbers.id, ids)),
      ),
    )
    for (const r of rows.flat() as { id: string; userId: string; smsUrl: string | null }[]) smsUrls.set(r.id, r)
  }

  const now = new Date()
  const rows: Delivery[] = []
  for (const { event, email } of events) {
    if (!event.userId) continue
    const userId = event.userId
    const targets: { target: string; endpointId: string | null; url: string }[] = endpoints
      .filter((e) => e.userId === userId && (e.events.includes('*') || e.events.includes(event.type)))
      .map((e) => ({ target: e.id, endpointId: e.id, url: e.url }))
    const numberId = typeof event.payload.phoneNumberId === 'string' ? event.payload.phoneNumberId : null
    const number = numberId && SMS_URL_EVENTS.has(event.type) ? smsUrls.get(numberId) : undefined
    if (numberId && number?.userId === userId && number.smsUrl) targets.push({ target: `sms_url:${numberId}`, endpointId: null, url: number.smsUrl })
    if (!targets.length) continue
    const payload = JSON.stringify({ id: event.id, event: event.type, timestamp: event.createdAt.toISOString(), data: event.payload, account: { id: userId, email } })
    const size = new TextEncoder().encode(payload).length
    for (const t of targets) {
      rows.push({
        id: newId('dlv'),
        userId,
        endpointId: t.endpointId,
        target: t.target,
        url: t.url,
        eventId: event.id,
        eventType: event.type,
        payload,
        status: 'pending',
        payloadSize: size,
        createdAt: now,
        updatedAt: now,
      })
    }
  }
  if (rows.length) {
    // Round trip 2: the rows (a redelivered event's already exist: nothing twice), then every unattempted delivery of the batch.
    const written = await batch(db, [
      ...chunk(rows, rowsPerInsert(webhookDeliveries)).map((part) => db.insert(webhookDeliveries).values(part).onConflictDoNothing()),
      ...parts.map((ids) => unattempted(db, ids)),
    ])
    pending = written.slice(-n).flat() as { id: string }[]
  }
  if (pending.length)
    await sendAll(
      services.env.WEBHOOKS,
      pending.map((p) => ({ deliveryId: p.id })),
    )
  return { deliveries: pending.length }
}

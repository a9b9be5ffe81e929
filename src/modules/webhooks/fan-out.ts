/**
 * Fan-out of one domain event: one delivery per active endpoint of the account that subscribes
 * to the event (or to `*`), plus the number's own smsUrl for `SMS_RECEIVED`, each enqueued on
 * `webhooks`. Deliveries are unique per (target, event), so a redelivered event message creates
 * nothing twice and only re-enqueues deliveries that never had an attempt.
 *
 * An SMS to an owned number writes two events (the DID API's `SMS_RECEIVED` and the activation
 * API's `sms.received`, both with `phoneNumberId`); the smsUrl — a DID setting — gets only the
 * first, so it receives one delivery per SMS, in the DID API's shape.
 */
import { and, eq, isNull, sql } from 'drizzle-orm'
import { outbox, phoneNumbers, users, webhookDeliveries, webhookEndpoints } from '../../db/schema'
import { newId } from '../../lib/ids'
import { pendingOf, type DeliveryDeps as Services } from './delivery'

/** The events a number's own smsUrl receives (one per SMS: see above). */
const SMS_URL_EVENTS = new Set(['SMS_RECEIVED'])

export async function fanOut(services: Services, eventId: string): Promise<{ deliveries: number }> {
  const { db } = services
  // One round trip: the event marked sent (it reached its consumer), the event, its account's
  // endpoints, and deliveries a previous run of this event left unattempted (most events have no
  // endpoint: then that is all).
  const [, evRows, endpoints, pendingBefore] = await db.batch([
    db
      .update(outbox)
      .set({ sentAt: new Date() })
      .where(and(eq(outbox.id, eventId), isNull(outbox.sentAt))),
    db.select({ event: outbox, email: users.email }).from(outbox).leftJoin(users, eq(users.id, outbox.userId)).where(eq(outbox.id, eventId)).limit(1),
    db
      .select({ id: webhookEndpoints.id, url: webhookEndpoints.url, events: webhookEndpoints.events })
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.userId, sql`(select o.user_id from outbox o where o.id = ${eventId})`), eq(webhookEndpoints.isActive, true))),
    pendingOf(services, eventId),
  ])
  const ev = evRows[0]
  if (!ev?.event.userId) return { deliveries: 0 }
  const { event } = ev
  const userId = event.userId!
  const targets: { target: string; endpointId: string | null; url: string }[] = endpoints
    .filter((e) => e.events.includes('*') || e.events.includes(event.type))
    .map((e) => ({ target: e.id, endpointId: e.id, url: e.url }))
  const numberId = typeof event.payload.phoneNumberId === 'string' ? event.payload.phoneNumberId : null
  if (SMS_URL_EVENTS.has(event.type) && numberId) {
    const number = await db
      .select({ smsUrl: phoneNumbers.smsUrl })
      .from(phoneNumbers)
      .where(and(eq(phoneNumbers.id, numberId), eq(phoneNumbers.userId, userId)))
      .get()
    if (number?.smsUrl) targets.push({ target: `sms_url:${numberId}`, endpointId: null, url: number.smsUrl })
  }
  if (targets.length) {
    const payload = JSON.stringify({
      id: event.id,
      event: event.type,
      timestamp: event.createdAt.toISOString(),
      data: event.payload,
      account: { id: userId, email: ev.email },
    })
    const now = new Date()
    const size = new TextEncoder().encode(payload).length
    const inserts = targets.map((t) =>
      db
        .insert(webhookDeliveries)
        .values({
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
        .onConflictDoNothing(),
    )
    await db.batch(inserts as [(typeof inserts)[0], ...typeof inserts])
  }
  const pending = targets.length ? await pendingOf(services, event.id).all() : pendingBefore
  if (pending.length) await services.env.WEBHOOKS.sendBatch(pending.map((p) => ({ body: { deliveryId: p.id } })))
  return { deliveries: pending.length }
}

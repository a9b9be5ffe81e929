/**
 * The three consumers of the webhook pipeline. Each acks what is done and retries what failed,
 * message by message, and is idempotent by event or delivery id.
 *   events        → fan-out (one `webhooks` message per delivery), the batch's events together
 *                   (fan-out.ts `fanOutAll`), event by event if that fails
 *   webhooks      → one attempt per message, the batch's requests in parallel and its attempts
 *                   written in one D1 batch (delivery.ts `deliverAll`); a failure is retried on
 *                   the delivery schedule
 *   webhooks-dlq  → a delivery whose messages kept crashing the consumer is marked failed
 */
import { and, eq, notInArray } from 'drizzle-orm'
import { z } from 'zod'
import { webhookDeliveries } from '../../db/schema'
import type { Consumer } from '../jobs/consumer'
import { deliverAll } from './delivery'
import { fanOut, fanOutAll } from './fan-out'
import { logger } from '../../lib/logger'
import { mapLimit } from '../../lib/concurrency'

const EventMessage = z.object({ eventId: z.string().min(1) })
const DeliveryMessage = z.object({ deliveryId: z.string().min(1) })

/** Events of a batch fanned out at once. */
const FAN_OUT_CONCURRENCY = 10

/** Backoff for a consumer's own failures (D1 or queue errors), not for partners' answers. */
const backoff = (attempts: number) => Math.min(600, 5 * 2 ** Math.max(0, attempts - 1))

export const eventsConsumer: Consumer = async (batch, services) => {
  const events: { msg: Message<unknown>; eventId: string }[] = []
  for (const msg of batch.messages) {
    const body = EventMessage.safeParse(msg.body)
    if (body.success) events.push({ msg, eventId: body.data.eventId })
    else {
      logger.error('malformed message dropped', { queue: 'events', id: msg.id })
      msg.ack()
    }
  }
  if (!events.length) return
  try {
    // The whole batch in a few round trips.
    await fanOutAll(
      services,
      events.map((e) => e.eventId),
    )
    for (const { msg } of events) msg.ack()
    return
  } catch (e) {
    logger.warn('batch fan-out failed; fanning out event by event', { queue: 'events', size: events.length, error: (e as Error).message })
  }
  // Fan-outs are idempotent by event id, so a batch that failed part-way is redone one event at a time: each message
  // acked or retried on its own outcome, one bad event holding back no other.
  await mapLimit(events, FAN_OUT_CONCURRENCY, async ({ msg, eventId }) => {
    try {
      await fanOut(services, eventId)
      msg.ack()
    } catch (e) {
      logger.error('fan-out failed; retrying', { queue: 'events', eventId, error: (e as Error).message })
      msg.retry({ delaySeconds: backoff(msg.attempts) })
    }
  })
}

export const webhooksConsumer: Consumer = async (batch, services) => {
  const messages: { msg: Message<unknown>; deliveryId: string }[] = []
  for (const msg of batch.messages) {
    const body = DeliveryMessage.safeParse(msg.body)
    if (body.success) messages.push({ msg, deliveryId: body.data.deliveryId })
    else msg.ack()
  }
  if (!messages.length) return
  let outcomes: Awaited<ReturnType<typeof deliverAll>>
  try {
    outcomes = await deliverAll(
      services,
      messages.map((m) => m.deliveryId),
    )
  } catch (e) {
    // The deliveries could not be read or claimed: nothing was sent.
    logger.error('delivery batch failed before sending; retrying', { queue: 'webhooks', size: messages.length, error: (e as Error).message })
    for (const { msg } of messages) msg.retry({ delaySeconds: backoff(msg.attempts) })
    return
  }
  // Each message is acked or retried on its own outcome, and only once its attempt is written.
  messages.forEach(({ msg, deliveryId }, i) => {
    const outcome = outcomes[i]!
    if (outcome instanceof Error) {
      logger.error('delivery attempt failed; retrying', { queue: 'webhooks', deliveryId, error: outcome.message })
      msg.retry({ delaySeconds: backoff(msg.attempts) })
    } else if (outcome.kind === 'retry') msg.retry({ delaySeconds: outcome.delaySeconds })
    else msg.ack()
  })
}

export const webhooksDlqConsumer: Consumer = async (batch, services) => {
  for (const msg of batch.messages) {
    const body = DeliveryMessage.safeParse(msg.body)
    if (body.success) {
      await services.db
        .update(webhookDeliveries)
        .set({ status: 'failed', errorMessage: 'dead-lettered: the delivery could not be processed', nextRetryAt: null, updatedAt: new Date() })
        .where(and(eq(webhookDeliveries.id, body.data.deliveryId), notInArray(webhookDeliveries.status, ['succeeded', 'failed'])))
        .run()
    }
    msg.ack()
  }
}

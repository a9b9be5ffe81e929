/**
 * The `messages` queue and its dead-letter queue. Each message is sent (or its receipt applied) by
 * the Dispatcher; the queue retries what asks to wait (pacing, 429/5xx, an attempt still running)
 * after the delay it names. A message the queue gave up on reaches `messages-dlq`, whose consumer
 * fails it (`THIRD_PARTY_ERROR`: the upstream kept failing) and releases its hold — unless it was sent meanwhile.
 * Events the moves wrote go to the `events` queue at once (the sweeper is the fallback).
 */
import { eq } from 'drizzle-orm'
import { messages } from '../../db/schema'
import { mapLimit } from '../../lib/concurrency'
import { logger } from '../../lib/logger'
import type { Services } from '../../services'
import { eventScope, sendEvents } from '../events/outbox'
import { backoffSeconds } from './dispatch'
import type { MessagesQueueBody } from './messages.service'

const { log } = logger.with({ module: 'messaging' })

async function withEvents<T>(services: Services, run: () => Promise<T>): Promise<T> {
  const events: string[] = []
  const out = await eventScope.run(events, run)
  if (events.length) await sendEvents(services.env, events).catch((e) => log('warn', 'messaging: event send failed; the sweeper sends them', { error: (e as Error).message }))
  return out
}

/** Messages of a batch handled at once: their upstream calls and D1 round trips overlap. */
const CONCURRENCY = 5

export async function messagesConsumer(batch: MessageBatch<unknown>, services: Services): Promise<void> {
  await mapLimit(batch.messages, CONCURRENCY, async (message) => {
    const body = message.body as MessagesQueueBody
    try {
      const outcome = await withEvents(services, () => services.dispatcher.handle(body))
      if ('ack' in outcome) message.ack()
      else message.retry({ delaySeconds: outcome.retryAfterSeconds })
    } catch (e) {
      log('error', 'messaging: dispatch failed; retrying', { messageId: body?.messageId, attempts: message.attempts, error: (e as Error).message })
      message.retry({ delaySeconds: backoffSeconds(message.attempts) })
    }
  })
}

export async function messagesDlqConsumer(batch: MessageBatch<unknown>, services: Services): Promise<void> {
  for (const message of batch.messages) {
    const body = message.body as MessagesQueueBody
    try {
      if (body?.kind === 'send') {
        const m = await services.db.select().from(messages).where(eq(messages.id, body.messageId)).get()
        if (m?.status === 'queued') {
          await withEvents(services, () => services.dispatcher.fail(m, 'THIRD_PARTY_ERROR', `Not sent: the upstream kept failing (${m.errorCode ?? 'no answer'}) until the retries ran out`))
        }
      }
      message.ack()
    } catch (e) {
      log('error', 'messaging: dead-letter handling failed; retrying', { messageId: body?.messageId, error: (e as Error).message })
      message.retry({ delaySeconds: 60 })
    }
  }
}

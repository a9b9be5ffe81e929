/**
 * Queue consumers, dispatched by queue name. Delivery is at-least-once: every consumer is
 * idempotent by message id. The foundation declares the queues; the features that produce to
 * them (webhooks, messaging, billing jobs) register their consumer here.
 */
import type { Env } from './env'
import { createServices, type Services } from './services'

export type Consumer = (batch: MessageBatch<unknown>, services: Services) => Promise<void>

export const CONSUMERS: Record<string, Consumer> = {}

/** Queue names in wrangler.toml may carry an environment suffix (`events-staging`). */
function baseName(queue: string): string {
  return queue.replace(/-(staging|preview)$/, '')
}

export async function queue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const consumer = CONSUMERS[baseName(batch.queue)]
  if (!consumer) {
    // No consumer yet: keep the messages (retry later) rather than drop them.
    console.error(JSON.stringify({ level: 'error', message: 'no consumer for queue', queue: batch.queue, size: batch.messages.length }))
    batch.retryAll({ delaySeconds: 300 })
    return
  }
  await consumer(batch, createServices(env, ctx))
}

/**
 * Queue consumers, dispatched by queue name. Delivery is at-least-once: every consumer is
 * idempotent by message id. The foundation declares the queues; the features that produce to
 * them (webhooks, messaging, billing jobs) register their consumer here.
 *
 * `jobs` gives up on a message after wrangler.toml's max_retries and moves it to `jobs-dlq`; every
 * failed attempt is written to failed_jobs (modules/jobs/failed-jobs.ts), and the `jobs-dlq`
 * consumer marks the job dead there, for admins to read.
 */
import type { Env } from './env'
import { runInvoiceJob } from './modules/billing/billing.job'
import { runAutoTopUpJob } from './modules/billing/auto-top-up'
import { runDidRenewalsJob } from './modules/dids/renewals.job'
import { eventScope, sendEvents } from './modules/events/outbox'
import { runSandboxSmsJob } from './modules/sms/sandbox-sms.consumer'
import { runSimTopUpJob } from './modules/sims/bulk-topup.job'
import { runSimSyncJob } from './modules/sims/sim-sync.job'
import { messagesConsumer, messagesDlqConsumer } from './modules/messaging/messages.consumer'
import { createServices, type Services } from './services'
import type { Consumer, JobHandler } from './modules/jobs/consumer'
import { clearJobFailure, jobsDlqConsumer, recordJobFailure } from './modules/jobs/failed-jobs'
import { eventsConsumer, webhooksConsumer, webhooksDlqConsumer } from './modules/webhooks/webhooks.consumer'
import { logger } from './lib/logger'

/** `jobs` messages are `{ type, … }`; each feature registers its types here. */
export const JOB_HANDLERS: Record<string, JobHandler> = {
  'sandbox.sms': runSandboxSmsJob,
  'billing.invoice': runInvoiceJob,
  'billing.did-renewals': runDidRenewalsJob,
  'billing.auto-top-up': runAutoTopUpJob,
  'sims.topup': runSimTopUpJob,
  'sims.sync': runSimSyncJob,
}

/** Retry delay after `attempts` failed deliveries: 10 s, 20 s, 40 s … capped at 10 minutes. */
export function jobBackoffSeconds(attempts: number): number {
  return Math.min(600, 10 * 2 ** Math.max(0, attempts - 1))
}

/** The `jobs` queue: one message at a time, dispatched by `type`; ack on success, retry with backoff. */
async function jobs(batch: MessageBatch<unknown>, services: Services): Promise<void> {
  for (const message of batch.messages) {
    const type = (message.body as { type?: unknown } | null)?.type
    const handler = typeof type === 'string' ? JOB_HANDLERS[type] : undefined
    if (!handler) {
      // A type whose feature is not deployed (yet): keep it rather than drop it.
      logger.error('jobs: no handler for message type', { type, id: message.id })
      await noteFailure(services, message, `no handler for job type ${JSON.stringify(type ?? null)}`)
      message.retry({ delaySeconds: 300 })
      continue
    }
    try {
      // Events the job wrote go to the `events` queue now, as a request's do (the sweeper is the fallback).
      const events: string[] = []
      await eventScope.run(events, () => handler(message.body, services))
      if (events.length) await sendEvents(services.env, events).catch((e) => logger.warn('jobs: event send failed; the sweeper sends them', { error: (e as Error).message }))
      // It may have failed before: it is no longer a failed job.
      if (message.attempts > 1) await clearJobFailure(services, message.body).catch((e) => logger.warn('jobs: failed-job record not cleared', { id: message.id, error: (e as Error).message }))
      message.ack()
    } catch (e) {
      logger.error('jobs: handler failed; retrying', { type, id: message.id, attempts: message.attempts, error: (e as Error).message })
      await noteFailure(services, message, (e as Error).message ?? String(e))
      message.retry({ delaySeconds: jobBackoffSeconds(message.attempts) })
    }
  }
}

/** Writes the failed attempt to failed_jobs; a failure to write is logged, never thrown (the message is retried anyway). */
async function noteFailure(services: Services, message: Message<unknown>, error: string): Promise<void> {
  await recordJobFailure(services, message, error).catch((e) => logger.error('jobs: failed attempt not recorded', { id: message.id, error: (e as Error).message }))
}

export const CONSUMERS: Record<string, Consumer> = {
  jobs,
  'jobs-dlq': jobsDlqConsumer,
  events: eventsConsumer,
  webhooks: webhooksConsumer,
  'webhooks-dlq': webhooksDlqConsumer,
  messages: messagesConsumer,
  'messages-dlq': messagesDlqConsumer,
}

/** Queue names in wrangler.toml may carry an environment suffix (`events-staging`). */
export function queueBaseName(queue: string): string {
  return queue.replace(/-(staging|preview)$/, '')
}

export async function queue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const consumer = CONSUMERS[queueBaseName(batch.queue)]
  if (!consumer) {
    // No consumer yet: keep the messages (retry later) rather than drop them.
    logger.error('no consumer for queue', { queue: batch.queue, size: batch.messages.length })
    batch.retryAll({ delaySeconds: 300 })
    return
  }
  await consumer(batch, createServices(env, ctx))
}

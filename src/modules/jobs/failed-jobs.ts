/**
 * The record of `jobs` queue messages that failed (table failed_jobs), and the `jobs-dlq` consumer.
 *
 * A job is named by its body (`failedJobId`): a redelivery, a retry or a duplicate of the same
 * job lands on the same row, and the dead-letter queue's copy of a message — which need not keep
 * the message id — finds the row its failures wrote.
 *   - the jobs consumer, on a failed attempt: the row is `retrying`, with the attempt and the error;
 *   - the jobs consumer, when a later attempt succeeds: the row is removed (the job is done);
 *   - the `jobs-dlq` consumer (the queue gave up after max_retries): the row is `dead`, kept for
 *     admins (GET /api/v1/admin/failed-jobs), with the last error the consumer saw;
 *   - the sweeper (failed-jobs.job.ts) deletes dead rows 30 days after they died, and retrying
 *     rows whose last failure is as old.
 * Recording is best effort on the jobs side (a failure to record is logged; the message is retried
 * all the same); the DLQ consumer retries until its record is written.
 */
import { eq, sql } from 'drizzle-orm'
import { failedJobs } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import type { Consumer } from './consumer'
import type { Services } from '../../services'
import { logger } from '../../lib/logger'

/** Longest error text kept. */
const MAX_ERROR = 1000

/** A job's id: its type and a hash of its body (bodies are built the same way for the same job). */
export async function failedJobId(body: unknown): Promise<string> {
  return `job_${(await sha256Hex(JSON.stringify(body ?? null))).slice(0, 40)}`
}

const typeOf = (body: unknown) => {
  const t = (body as { type?: unknown } | null)?.type
  return typeof t === 'string' ? t.slice(0, 100) : '(none)'
}

/** A failed attempt of `message`: the row is `retrying` with this attempt's error. */
export async function recordJobFailure(services: Pick<Services, 'db'>, message: Message<unknown>, error: string, at = new Date()): Promise<void> {
  const id = await failedJobId(message.body)
  const lastError = error.slice(0, MAX_ERROR)
  await services.db
    .insert(failedJobs)
    .values({ id, type: typeOf(message.body), body: message.body ?? null, status: 'retrying', attempts: message.attempts, lastError, messageId: message.id, firstFailedAt: at, lastFailedAt: at })
    .onConflictDoUpdate({
      target: failedJobs.id,
      set: {
        status: 'retrying',
        attempts: sql`max(${failedJobs.attempts}, excluded.attempts)`,
        lastError,
        messageId: message.id,
        lastFailedAt: at,
        deadAt: null,
      },
    })
    .run()
}

/** The job succeeded after failing: it is no longer a failed job. */
export async function clearJobFailure(services: Pick<Services, 'db'>, body: unknown): Promise<void> {
  await services.db
    .delete(failedJobs)
    .where(eq(failedJobs.id, await failedJobId(body)))
    .run()
}

const backoff = (attempts: number) => Math.min(600, 10 * 2 ** Math.max(0, attempts - 1))

/** `jobs-dlq`: each message is a job the queue stopped retrying; its row becomes `dead`. */
export const jobsDlqConsumer: Consumer = async (batch, services) => {
  for (const msg of batch.messages) {
    const at = new Date()
    try {
      const id = await failedJobId(msg.body)
      await services.db
        .insert(failedJobs)
        .values({
          id,
          type: typeOf(msg.body),
          body: msg.body ?? null,
          status: 'dead',
          attempts: 0,
          lastError: 'dead-lettered: the job kept failing and no error was recorded',
          messageId: msg.id,
          firstFailedAt: at,
          lastFailedAt: at,
          deadAt: at,
        })
        .onConflictDoUpdate({ target: failedJobs.id, set: { status: 'dead', deadAt: sql`coalesce(${failedJobs.deadAt}, excluded.dead_at)` } })
        .run()
      logger.error('jobs: dead-lettered', { queue: batch.queue, id: msg.id, failedJobId: id, type: typeOf(msg.body) })
      msg.ack()
    } catch (e) {
      logger.error('jobs-dlq: could not record the failed job; retrying', { id: msg.id, error: (e as Error).message })
      msg.retry({ delaySeconds: backoff(msg.attempts) })
    }
  }
}

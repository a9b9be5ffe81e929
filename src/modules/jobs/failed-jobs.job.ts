/**
 * Sweeper step: retention of failed_jobs (src/modules/jobs/failed-jobs.ts), so that the table and
 * the admin list's count stay small.
 *   - `dead` rows are kept FAILED_JOB_RETENTION_MS after the job died (`dead_at`; a row without
 *     one counts from its last failure), long enough for an operator to look at them;
 *   - `retrying` rows whose last failure is as old: the queue retries within hours, so its message
 *     is long gone (a job that runs again later writes a fresh row).
 * A dead row's `dead_at` is never before its last failure, so both are found by a range on
 * `last_failed_at` (failed_jobs_last_failed_idx), then checked on `dead_at`. Bounded per run (the
 * sweeper runs every minute and catches up); idempotent.
 */
import { sql } from 'drizzle-orm'
import type { Services } from '../../services'

export const FAILED_JOB_RETENTION_MS = 30 * 86_400_000
export const FAILED_JOBS_PURGE_BATCH = 1_000

export async function purgeFailedJobs({ db }: Pick<Services, 'db'>, now: number, limit = FAILED_JOBS_PURGE_BATCH) {
  const cutoff = now - FAILED_JOB_RETENTION_MS
  const r = await db.run(
    sql`DELETE FROM failed_jobs WHERE rowid IN (SELECT rowid FROM failed_jobs WHERE last_failed_at < ${cutoff} AND (status = 'retrying' OR dead_at IS NULL OR dead_at < ${cutoff}) LIMIT ${limit})`,
  )
  return { failedJobsDeleted: r.meta.changes }
}

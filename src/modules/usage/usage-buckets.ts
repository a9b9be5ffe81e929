/**
 * The buckets of a usage range (per day, ISO week or month, UTC): the SQL that puts a record in
 * its bucket, the same computed in code (to list every bucket of a range, empty ones too), and
 * the choice of bucket for a range. Usage (GET /api/v1/billing/usage) and call analytics share them.
 */
import { sql } from 'drizzle-orm'
import { usageRecords } from '../../db/schema'
import { ValidationError } from '../../lib/errors'

export type GroupBy = 'day' | 'week' | 'month'

/** SQL for the bucket (`YYYY-MM-DD` of its first day, UTC) of `occurred_at`; weeks start on Monday (ISO 8601). */
export function bucketSql(groupBy: GroupBy) {
  const t = sql`${usageRecords.occurredAt} / 1000, 'unixepoch'`
  if (groupBy === 'day') return sql<string>`strftime('%Y-%m-%d', ${t})`
  if (groupBy === 'week') return sql<string>`date(${t}, 'weekday 0', '-6 days')`
  return sql<string>`strftime('%Y-%m-01', ${t})`
}

/** The bucket of an instant, as bucketSql computes it. */
export function bucketOf(ms: number, groupBy: GroupBy): string {
  const d = new Date(ms)
  if (groupBy === 'month') return `${d.toISOString().slice(0, 7)}-01`
  if (groupBy === 'week') {
    const back = (d.getUTCDay() + 6) % 7
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - back)).toISOString().slice(0, 10)
  }
  return d.toISOString().slice(0, 10)
}

/** The next bucket after `bucket` (a `YYYY-MM-DD`). */
export function nextBucket(bucket: string, groupBy: GroupBy): string {
  const [y, m, d] = bucket.split('-').map(Number) as [number, number, number]
  const next = groupBy === 'month' ? Date.UTC(y, m, 1) : Date.UTC(y, m - 1, d + (groupBy === 'week' ? 7 : 1))
  return new Date(next).toISOString().slice(0, 10)
}

/** Most buckets one answer's `trends` may have. */
export const MAX_BUCKETS = 1000

/** The buckets a range may be answered in, finest first. */
export const GROUP_BY_FINEST_FIRST: readonly GroupBy[] = ['day', 'week', 'month']

/**
 * The bucket a range answer uses. Asked for: that one, and a 400 (`groupBy`) when the range spans
 * more than MAX_BUCKETS of it. Not asked for: the finest of day, week and month that keeps the range
 * within MAX_BUCKETS, so a long range is answered, coarser, rather than refused; a 400 (`endDate`)
 * only when even months are too many.
 */
export function resolveGroupBy(start: number, end: number, asked: GroupBy | undefined): GroupBy {
  if (asked) {
    if (bucketCount(start, end, asked) > MAX_BUCKETS) {
      throw ValidationError.field('groupBy', `The range has more than ${MAX_BUCKETS} ${asked} buckets; use a shorter range or a coarser groupBy, or leave groupBy out to get the finest that fits`)
    }
    return asked
  }
  const fits = GROUP_BY_FINEST_FIRST.find((g) => bucketCount(start, end, g) <= MAX_BUCKETS)
  if (!fits) throw ValidationError.field('endDate', `The range has more than ${MAX_BUCKETS} months; use a shorter range`)
  return fits
}

/** Buckets of the range [start, end), exactly as `trends` lists them (for the MAX_BUCKETS check, before any query runs). */
export function bucketCount(start: number, end: number, groupBy: GroupBy): number {
  const first = bucketOf(start, groupBy)
  const last = bucketOf(Math.max(start, end - 1), groupBy)
  if (groupBy === 'month') {
    const [y1, m1] = first.split('-').map(Number) as [number, number]
    const [y2, m2] = last.split('-').map(Number) as [number, number]
    return (y2 - y1) * 12 + (m2 - m1) + 1
  }
  const days = Math.round((Date.parse(last) - Date.parse(first)) / 86_400_000)
  return groupBy === 'day' ? days + 1 : days / 7 + 1
}

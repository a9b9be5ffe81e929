/**
 * Call records. Switchboard has no call detail records: a call is one `call_minutes` usage
 * record, its minutes the record's quantity and its cost the record's total_cost; it is on a
 * number when its resource_id is that number's id (phone_numbers.id). Every view of calls reads
 * them through this module: GET /api/v1/analytics/calls, a number's `usage` and `analytics`
 * (GET /api/v1/numbers, GET /api/v1/numbers/{id}), the dashboard's and the admin views' call totals.
 *
 * Every query is scoped by the record's user_id; a number id alone never reaches another
 * account's records. Lookups by number start from usage_records_user_type_resource_idx
 * (user_id, resource_type, resource_id, occurred_at).
 */
import { and, eq, gte, inArray, lt, sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { usageRecords } from '../../db/schema'

export interface CallRange {
  /** Inclusive start, ms; open when omitted. */
  start?: number
  /** Exclusive end, ms; open when omitted. */
  end?: number
}

export interface CallFilter extends CallRange {
  /** Only the calls on this number (a phone_numbers id). */
  numberId?: string
}

/** The range condition on a record's time. */
function inRange(r: CallRange): SQL | undefined {
  return and(r.start !== undefined ? gte(usageRecords.occurredAt, new Date(r.start)) : undefined, r.end !== undefined ? lt(usageRecords.occurredAt, new Date(r.end)) : undefined)
}

/** The account's call records that pass `f`: the WHERE of every call query. */
export function callRecords(userId: string, f: CallFilter = {}): SQL {
  return and(eq(usageRecords.userId, userId), eq(usageRecords.resourceType, 'call_minutes'), f.numberId !== undefined ? eq(usageRecords.resourceId, f.numberId) : undefined, inRange(f))!
}

/** Aggregates over selected call records: how many calls, their minutes, their cost (micro-units). */
export const callCount = () => sql<number>`count(*)`
export const callMinutes = () => sql<number>`coalesce(sum(${usageRecords.quantity}), 0)`
export const callCost = () => sql<number>`coalesce(sum(${usageRecords.totalCost}), 0)`

/**
 * The same aggregates over the records of `r` only (for several ranges in one pass). Aliased by
 * `name`: two ranges give the same SQL text, and D1 batch answers are keyed by column name.
 */
function rangeTotals(r: CallRange, name: string) {
  const inside = inRange(r) ?? sql`1`
  return {
    calls: sql<number>`coalesce(sum(case when ${inside} then 1 else 0 end), 0)`.as(`${name}_calls`),
    minutes: sql<number>`coalesce(sum(case when ${inside} then ${usageRecords.quantity} else 0 end), 0)`.as(`${name}_minutes`),
    cost: sql<number>`coalesce(sum(case when ${inside} then ${usageRecords.totalCost} else 0 end), 0)`.as(`${name}_cost`),
  }
}

/** The calendar month (UTC) of `now`, and the one before it, as ranges. */
export function monthRanges(now: number): { thisMonth: Required<CallRange>; lastMonth: Required<CallRange> } {
  const d = new Date(now)
  const at = (back: number) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1)
  return { thisMonth: { start: at(0), end: at(-1) }, lastMonth: { start: at(1), end: at(0) } }
}

export interface NumberCalls {
  numberId: string
  /** All the number's calls. */
  totalCalls: number
  thisMonth: { calls: number; minutes: number; cost: number }
  lastMonth: { calls: number; minutes: number; cost: number }
}

export const NO_CALLS: Omit<NumberCalls, 'numberId'> = {
  totalCalls: 0,
  thisMonth: { calls: 0, minutes: 0, cost: 0 },
  lastMonth: { calls: 0, minutes: 0, cost: 0 },
}

/**
 * One query: per number of `numberIds` (ids, or a subquery selecting them) that has calls, its
 * call count and this and last calendar month's calls, minutes and cost. Numbers without calls
 * have no row (use NO_CALLS).
 */
export function callsPerNumberQuery(db: Db, userId: string, numberIds: string[] | SQLWrapper, now: number) {
  const { thisMonth, lastMonth } = monthRanges(now)
  const t = rangeTotals(thisMonth, 'this_month')
  const l = rangeTotals(lastMonth, 'last_month')
  return db
    .select({
      numberId: sql<string>`${usageRecords.resourceId}`,
      totalCalls: callCount(),
      thisCalls: t.calls,
      thisMinutes: t.minutes,
      thisCost: t.cost,
      lastCalls: l.calls,
      lastMinutes: l.minutes,
      lastCost: l.cost,
    })
    .from(usageRecords)
    .where(and(callRecords(userId), inArray(usageRecords.resourceId, numberIds)))
    .groupBy(usageRecords.resourceId)
}

type CallsRow = Awaited<ReturnType<ReturnType<typeof callsPerNumberQuery>['all']>>[number]

/** The rows of callsPerNumberQuery by number id (figures as numbers, cost in micro-units). */
export function callsByNumber(rows: CallsRow[]): Map<string, NumberCalls> {
  const n = (x: unknown) => Number(x ?? 0)
  return new Map(
    rows.map((r) => [
      r.numberId,
      {
        numberId: r.numberId,
        totalCalls: n(r.totalCalls),
        thisMonth: { calls: n(r.thisCalls), minutes: n(r.thisMinutes), cost: n(r.thisCost) },
        lastMonth: { calls: n(r.lastCalls), minutes: n(r.lastMinutes), cost: n(r.lastCost) },
      },
    ]),
  )
}

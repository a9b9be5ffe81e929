/**
 * Usage (usage billing's /api/usage, the DID API's /api/v1/billing/usage): reports from outside
 * systems, the monthly history, and the itemised usage of a date range.
 *
 * Invariants:
 * - A report writes one `usage_records` row per non-zero metric, all sharing `reportId` (the
 *   report's id), and its `usage.recorded` event, in one D1 batch. With a `transactionId` the
 *   rows' transaction ids are `<transactionId>:<metric>`; the unique (user_id, transaction_id)
 *   index makes a repeated report write nothing and answer the first one — also when two
 *   identical reports race (the loser's batch fails whole and it reads the winner's rows).
 * - Every query is scoped by `user_id` and starts from an index on it:
 *   usage_records_user_month_idx for months, usage_records_user_occurred_idx for date ranges.
 * - Money is micro-units; costs are quantity × the rate of the metric (subscriptions/plans.ts RATES).
 * - A range's buckets (day, week, month) are usage-buckets.ts's, shared with call analytics.
 */
import { and, asc, desc, eq, gte, inArray, lt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { isUniqueViolation } from '../../db/errors'
import { invoices, USAGE_TYPES, usageRecords, type UsageType } from '../../db/schema'
import { Conflict, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import { RATES, type Metric } from '../subscriptions/plans'
import { outboxInsert } from '../events/outbox'
import { UNITS } from './product-meters'
import { bucketOf, bucketSql, nextBucket, type GroupBy } from './usage-buckets'
import type { RequestContext } from '../../lib/context'

/** The three metrics of usage billing (`/api/usage`), as usage types. */
export const METRIC_TYPES: Record<Metric, UsageType> = { callMinutes: 'call_minutes', smsCount: 'sms', apiCalls: 'api_calls' }
const METRICS = Object.keys(METRIC_TYPES) as Metric[]
const REPORTED_TYPES = Object.values(METRIC_TYPES)

export interface UsageReport {
  id: string
  userId: string
  month: string
  callMinutes: number
  smsCount: number
  apiCalls: number
  recordedAt: string
}

export interface ReportInput {
  userId: string
  month: string
  callMinutes: number
  smsCount: number
  apiCalls: number
  transactionId?: string
}

/** First and last instant (exclusive) of `YYYY-MM`, UTC. */
export function monthRange(month: string): { start: number; end: number } {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return { start: Date.UTC(y, m - 1, 1), end: Date.UTC(y, m, 1) }
}

export interface UsageRangeQuery {
  /** Inclusive start and exclusive end, ms. */
  start: number
  end: number
  groupBy: GroupBy
  resourceTypes?: UsageType[]
  resourceId?: string
}

export class UsageService {
  constructor(private readonly deps: { db: Db; now?: () => number }) {}

  private get db() {
    return this.deps.db
  }

  private now() {
    return (this.deps.now ?? Date.now)()
  }

  // ---- POST /api/usage --------------------------------------------------------------------

  /** Records a report; `created` is false when `transactionId` had been reported before (nothing written). */
  async report(ctx: RequestContext, body: Omit<ReportInput, 'userId'>): Promise<{ report: UsageReport; created: boolean }> {
    const input: ReportInput = { ...body, userId: ctx.accountId }
    const { db } = this
    if (input.transactionId) {
      const first = await this.findReport(input.userId, input.transactionId)
      if (first) return { report: first, created: false }
    }
    // An invoiced month is closed: usage reported for it now would never be billed.
    const invoiced = await db
      .select({ id: invoices.id })
      .from(invoices)
      .where(and(eq(invoices.userId, input.userId), eq(invoices.month, input.month)))
      .get()
    if (invoiced) {
      throw new Conflict('MONTH_INVOICED', `${input.month} is already invoiced (${invoiced.id}); report its usage in the current month`, { month: input.month, invoiceId: invoiced.id })
    }
    const metrics = METRICS.filter((m) => input[m] > 0)
    if (!metrics.length) {
      throw new ValidationError('Nothing to record: at least one of callMinutes, smsCount and apiCalls must be greater than 0', [
        { field: 'callMinutes', message: 'callMinutes, smsCount and apiCalls are all 0' },
      ])
    }
    const now = this.now()
    const at = new Date(now)
    const { start, end } = monthRange(input.month)
    // Reported usage belongs to its month: it is dated now when that is inside the month, else at the month's edge.
    const occurredAt = new Date(Math.min(Math.max(now, start), end - 1))
    const id = newId('usg', now)
    const rows = metrics.map((m, i) => {
      const type = METRIC_TYPES[m]
      return {
        id: i === 0 ? id : newId('usg', now),
        userId: input.userId,
        resourceType: type,
        resourceId: null,
        quantity: input[m],
        unit: UNITS[type],
        unitPrice: RATES[m],
        totalCost: input[m] * RATES[m],
        currency: 'USD',
        prepaid: false,
        description: `Reported usage for ${input.month}: ${input[m]} ${UNITS[type]}${input[m] === 1 ? '' : 's'}`,
        month: input.month,
        occurredAt,
        transactionId: input.transactionId ? `${input.transactionId}:${type}` : null,
        reportId: id,
        createdAt: at,
        updatedAt: at,
      }
    })
    const report: UsageReport = {
      id,
      userId: input.userId,
      month: input.month,
      callMinutes: input.callMinutes,
      smsCount: input.smsCount,
      apiCalls: input.apiCalls,
      recordedAt: at.toISOString(),
    }
    try {
      await db.batch([db.insert(usageRecords).values(rows), outboxInsert(db, { type: 'usage.recorded', userId: input.userId, data: { ...report } }, at)])
    } catch (e) {
      if (input.transactionId && isUniqueViolation(e)) {
        const first = await this.findReport(input.userId, input.transactionId)
        if (first) return { report: first, created: false }
      }
      throw e
    }
    return { report, created: true }
  }

  /** The report recorded under `transactionId`, rebuilt from its rows (unique index lookups). */
  private async findReport(userId: string, transactionId: string): Promise<UsageReport | null> {
    const rows = await this.db
      .select()
      .from(usageRecords)
      .where(
        and(
          eq(usageRecords.userId, userId),
          inArray(
            usageRecords.transactionId,
            REPORTED_TYPES.map((t) => `${transactionId}:${t}`),
          ),
        ),
      )
      .all()
    if (!rows.length) return null
    const qty = (t: UsageType) => rows.filter((r) => r.resourceType === t).reduce((s, r) => s + r.quantity, 0)
    const first = rows.reduce((a, b) => (a.createdAt <= b.createdAt ? a : b))
    return {
      id: first.reportId ?? first.id,
      userId,
      month: first.month,
      callMinutes: qty('call_minutes'),
      smsCount: qty('sms'),
      apiCalls: qty('api_calls'),
      recordedAt: first.createdAt.toISOString(),
    }
  }

  // ---- GET /api/usage ---------------------------------------------------------------------

  /** One entry per month (newest first): the month's call minutes, SMS and API calls, reported and metered. */
  historyQuery(userId: string, limit?: number) {
    const sum = (t: UsageType) => sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = ${t} then ${usageRecords.quantity} else 0 end), 0)`
    const q = this.db
      .select({
        month: usageRecords.month,
        callMinutes: sum('call_minutes'),
        smsCount: sum('sms'),
        apiCalls: sum('api_calls'),
        recordedAt: sql<number>`max(${usageRecords.updatedAt})`,
      })
      .from(usageRecords)
      .where(and(eq(usageRecords.userId, userId), inArray(usageRecords.resourceType, REPORTED_TYPES)))
      .groupBy(usageRecords.month)
      .orderBy(desc(usageRecords.month))
    return limit ? q.limit(limit) : q
  }

  async history(ctx: RequestContext, limit?: number): Promise<UsageReport[]> {
    const userId = ctx.accountId
    const rows = await this.historyQuery(userId, limit).all()
    return rows.map((r) => ({
      id: `usage_${userId}_${r.month}`,
      userId,
      month: r.month,
      callMinutes: Number(r.callMinutes),
      smsCount: Number(r.smsCount),
      apiCalls: Number(r.apiCalls),
      recordedAt: new Date(Number(r.recordedAt)).toISOString(),
    }))
  }

  // ---- GET /api/v1/billing/usage ----------------------------------------------------------

  private rangeWhere(userId: string, q: UsageRangeQuery) {
    return and(
      eq(usageRecords.userId, userId),
      gte(usageRecords.occurredAt, new Date(q.start)),
      lt(usageRecords.occurredAt, new Date(q.end)),
      q.resourceTypes?.length ? inArray(usageRecords.resourceType, q.resourceTypes) : undefined,
      q.resourceId ? eq(usageRecords.resourceId, q.resourceId) : undefined,
    )
  }

  /** Records of the range summed per bucket, type and resource (usage_records_user_occurred_idx). */
  rangeQuery(userId: string, q: UsageRangeQuery) {
    const bucket = bucketSql(q.groupBy)
    return this.db
      .select({
        date: bucket,
        resourceType: usageRecords.resourceType,
        resourceId: usageRecords.resourceId,
        quantity: sql<number>`sum(${usageRecords.quantity})`,
        totalCost: sql<number>`sum(${usageRecords.totalCost})`,
        minPrice: sql<number>`min(${usageRecords.unitPrice})`,
        maxPrice: sql<number>`max(${usageRecords.unitPrice})`,
        unit: sql<string>`max(${usageRecords.unit})`,
        currency: sql<string>`max(${usageRecords.currency})`,
        rows: sql<number>`count(*)`,
        description: sql<string | null>`group_concat(${usageRecords.description}, '; ')`,
      })
      .from(usageRecords)
      .where(this.rangeWhere(userId, q))
      .groupBy(bucket, usageRecords.resourceType, usageRecords.resourceId)
      .orderBy(asc(bucket), asc(usageRecords.resourceType), asc(usageRecords.resourceId))
  }

  async range(ctx: RequestContext, q: UsageRangeQuery) {
    const userId = ctx.accountId
    const rows = await this.rangeQuery(userId, q).all()
    const usage = rows.map((r) => {
      const quantity = Number(r.quantity)
      const totalCost = Number(r.totalCost)
      // One price in the group is that price; several (a price change) give the average paid per unit.
      const unitPrice = Number(r.minPrice) === Number(r.maxPrice) ? Number(r.minPrice) : quantity ? Math.round(totalCost / quantity) : 0
      return {
        date: r.date,
        resourceType: r.resourceType,
        resourceId: r.resourceId,
        quantity,
        unit: r.unit,
        unitPrice: fromMicros(unitPrice),
        totalCost: fromMicros(totalCost),
        currency: r.currency,
        // A few rows (a purchase and its refund) keep their descriptions; many (reports of one day) are counted.
        description: Number(r.rows) <= 3 ? r.description : `${r.rows} records`,
        _cost: totalCost,
      }
    })

    const breakdown: Partial<Record<UsageType, { quantity: number; cost: number; unit: string }>> = {}
    const costs: Partial<Record<UsageType, number>> = {}
    const trendsBy = new Map<string, { cost: number; quantity: number }>()
    let totalCost = 0
    let totalQuantity = 0
    for (const u of usage) {
      totalCost += u._cost
      totalQuantity += u.quantity
      const b = breakdown[u.resourceType] ?? { quantity: 0, cost: 0, unit: UNITS[u.resourceType] }
      breakdown[u.resourceType] = b
      b.quantity += u.quantity
      costs[u.resourceType] = (costs[u.resourceType] ?? 0) + u._cost
      const t = trendsBy.get(u.date) ?? { cost: 0, quantity: 0 }
      t.cost += u._cost
      t.quantity += u.quantity
      trendsBy.set(u.date, t)
    }
    for (const type of USAGE_TYPES) if (breakdown[type]) breakdown[type]!.cost = fromMicros(costs[type] ?? 0)

    // Every bucket of the range, those without usage at 0, so a chart has no gaps.
    const trends: { date: string; cost: number; quantity: number }[] = []
    const last = bucketOf(q.end - 1, q.groupBy)
    for (let b = bucketOf(q.start, q.groupBy); b <= last; b = nextBucket(b, q.groupBy)) {
      const t = trendsBy.get(b)
      trends.push({ date: b, cost: fromMicros(t?.cost ?? 0), quantity: t?.quantity ?? 0 })
    }

    return {
      usage: usage.map(({ _cost, ...u }) => u),
      summary: {
        totalCost: fromMicros(totalCost),
        totalQuantity,
        period: { start: new Date(q.start).toISOString(), end: new Date(q.end - 1).toISOString() },
        breakdown,
      },
      trends,
    }
  }
}

/**
 * Account statistics (usage billing's GET /api/stats) and the DID API's analytics dashboard
 * (GET /api/v1/analytics/dashboard), computed from real data.
 *
 * Invariants:
 * - Each answer is ONE D1 batch of aggregate queries (no per-number or per-month round trips),
 *   every one scoped by `user_id` and starting from an index on it.
 * - Sources: usage_records (reported and metered usage, product meters), subscriptions and
 *   invoices (written by the billing modules; read here only), phone_numbers, activations,
 *   sms_messages, payments, wallet_ledger (the D1 copy of the Wallet's ledger).
 * - We have no call records: a "call" is one `call_minutes` usage record and its minutes are the
 *   record's quantity (reported usage; outbound by convention, inbound 0), as usage/call-records.ts
 *   defines them for every view of calls. Call analytics (GET /api/v1/analytics/calls)
 *   count them all `completed`; a record belongs to a number when its `resource_id` is one of the
 *   account's phone_numbers.
 */
import { and, asc, desc, eq, gte, inArray, ne, or, isNull, notInArray, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { activations, invoices, payments, phoneNumbers, smsMessages, subscriptions, usageRecords, users, walletLedger } from '../../db/schema'
import { fromMicros, usd } from '../../lib/money'
import { PLANS } from '../subscriptions/plans'
import { netSpend, SPEND_REFERENCES, spendEntry } from '../wallet/spend'
import { callCost, callCount, callMinutes, callRecords } from '../usage/call-records'
import { bucketOf, bucketSql, nextBucket } from '../usage/usage.service'
import { CALL_STATUSES, type CallStatus } from './schemas'
import type { RequestContext } from '../../lib/context'
import { monthOf, previousMonth } from '../../lib/periods'
import { DAY_MS } from '../../lib/time'

/** Days of the dashboard's charts (callVolume, costTrend, numberUtilization). */
export const CHART_DAYS = 30
/** Most numbers in numberUtilization (the most active first). */
export const UTILIZATION_LIMIT = 100
const RECENT = 10
/** Invoice states with money still owed. */
const UNPAID = ['pending', 'partially_paid', 'overdue'] as const
/** Wallet credits that are not payments: refunds of activations and orders; top-ups by payment method show as their `payments` row. */
const NOT_PAYMENT_CREDITS = ['activation', 'order', 'payment', 'invoice']

const round2 = (x: number) => Math.round(x * 100) / 100
const num = (x: unknown) => Number(x ?? 0)

/** Percent change from `last` to `now` (2 decimals); 0 when there was nothing last time. */
export function growth(now: number, last: number): number {
  if (!last) return 0
  return round2(((now - last) / Math.abs(last)) * 100)
}

export interface ActivityItem {
  type: 'call' | 'sms' | 'number_purchased' | 'payment'
  description: string
  timestamp: string
  amount?: number
}

// ---- GET /api/v1/analytics/calls -----------------------------------------------------------

/** Most numbers in a call analytics' `topNumbers` (the most calls first). */
export const TOP_NUMBERS = 10

export interface CallAnalyticsInput {
  /** Inclusive start and exclusive end, ms. */
  start: number
  end: number
  numberId?: string
  direction?: 'inbound' | 'outbound'
  status?: CallStatus
  groupBy: 'hour' | 'day' | 'week' | 'month'
}

/** The `byDay` bucket of a call analytics answer: `hour` keeps days (the hours are in `byHour`). */
export const callBucket = (g: CallAnalyticsInput['groupBy']) => (g === 'hour' ? 'day' : g)

export class AnalyticsService {
  constructor(private readonly deps: { db: Db; now?: () => number }) {}

  private get db() {
    return this.deps.db
  }

  private now() {
    return (this.deps.now ?? Date.now)()
  }

  // ---- GET /api/stats -----------------------------------------------------------------------

  statsQueries(userId: string, month: string) {
    const { db } = this
    const metricSums = {
      callMinutes: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'call_minutes' then ${usageRecords.quantity} else 0 end), 0)`,
      smsCount: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'sms' then ${usageRecords.quantity} else 0 end), 0)`,
      apiCalls: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'api_calls' then ${usageRecords.quantity} else 0 end), 0)`,
    }
    const metricTypes = inArray(usageRecords.resourceType, ['call_minutes', 'sms', 'api_calls'])
    return [
      db.select().from(subscriptions).where(eq(subscriptions.userId, userId)).limit(1),
      db.select(metricSums).from(usageRecords).where(and(eq(usageRecords.userId, userId), eq(usageRecords.month, month), metricTypes)),
      db.select(metricSums).from(usageRecords).where(and(eq(usageRecords.userId, userId), metricTypes)),
      db
        .select({
          count: sql<number>`count(*)`,
          paid: sql<number>`coalesce(sum(${invoices.amountPaid}), 0)`,
          pending: sql<number>`coalesce(sum(case when ${invoices.status} in ${UNPAID} then ${invoices.total} - ${invoices.amountPaid} else 0 end), 0)`,
        })
        .from(invoices)
        .where(eq(invoices.userId, userId)),
      db
        .select({ id: invoices.id, invoiceNumber: invoices.invoiceNumber, status: invoices.status, total: invoices.total, dueDate: invoices.dueDate })
        .from(invoices)
        .where(eq(invoices.userId, userId))
        .orderBy(desc(invoices.issueDate), desc(invoices.id))
        .limit(5),
    ] as const
  }

  async stats(ctx: RequestContext) {
    const userId = ctx.accountId
    const month = monthOf(this.now())
    const [subs, current, allTime, inv, recent] = await this.db.batch(this.statsQueries(userId, month))
    const sub = subs[0]
    const cur = current[0]
    const all = allTime[0]
    const totals = inv[0]
    return {
      subscription: sub
        ? { plan: sub.plan, status: sub.status, monthlyFee: fromMicros(PLANS[sub.plan].monthlyFee), currentPeriodEnd: sub.currentPeriodEnd.toISOString() }
        : null,
      currentUsage: { callMinutes: num(cur?.callMinutes), smsCount: num(cur?.smsCount), apiCalls: num(cur?.apiCalls), month },
      totals: {
        totalSpent: fromMicros(num(totals?.paid)),
        pendingAmount: fromMicros(num(totals?.pending)),
        invoiceCount: num(totals?.count),
        callMinutes: num(all?.callMinutes),
        smsCount: num(all?.smsCount),
        apiCalls: num(all?.apiCalls),
      },
      recentInvoices: recent.map((i) => ({ id: i.id, invoiceNumber: i.invoiceNumber, status: i.status, amount: fromMicros(i.total), dueDate: i.dueDate.toISOString() })),
    }
  }

  // ---- GET /api/v1/analytics/dashboard ------------------------------------------------------

  dashboardQueries(userId: string, now: number) {
    const { db } = this
    const thisMonth = monthOf(now)
    const lastMonth = previousMonth(thisMonth)
    const lastMonthStart = Date.parse(`${lastMonth}-01T00:00:00Z`)
    const thisMonthStart = Date.parse(`${thisMonth}-01T00:00:00Z`)
    const today = Date.parse(new Date(now).toISOString().slice(0, 10) + 'T00:00:00Z')
    const chartStart = today - (CHART_DAYS - 1) * DAY_MS
    const day = sql<string>`strftime('%Y-%m-%d', ${usageRecords.occurredAt} / 1000, 'unixepoch')`
    const isCall = sql`${usageRecords.resourceType} = 'call_minutes'`
    return [
      // 0. numbers (phone_numbers_user_status_idx)
      db
        .select({
          total: sql<number>`coalesce(sum(case when ${phoneNumbers.status} <> 'released' then 1 else 0 end), 0)`,
          active: sql<number>`coalesce(sum(case when ${phoneNumbers.status} = 'active' then 1 else 0 end), 0)`,
        })
        .from(phoneNumbers)
        .where(eq(phoneNumbers.userId, userId)),
      // 1. this and last month's usage per month (usage_records_user_month_idx)
      db
        .select({
          month: usageRecords.month,
          calls: sql<number>`coalesce(sum(case when ${isCall} then 1 else 0 end), 0)`,
          minutes: sql<number>`coalesce(sum(case when ${isCall} then ${usageRecords.quantity} else 0 end), 0)`,
          sms: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'sms' then ${usageRecords.quantity} else 0 end), 0)`,
          cost: sql<number>`coalesce(sum(${usageRecords.totalCost}), 0)`,
        })
        .from(usageRecords)
        .where(and(eq(usageRecords.userId, userId), inArray(usageRecords.month, [thisMonth, lastMonth])))
        .groupBy(usageRecords.month),
      // 2. all-time calls and minutes
      db.select({ calls: callCount(), minutes: callMinutes() }).from(usageRecords).where(callRecords(userId)),
      // 3. SMS received this and last month (sms_user_idx)
      db
        .select({
          thisMonth: sql<number>`coalesce(sum(case when ${smsMessages.receivedAt} >= ${thisMonthStart} then 1 else 0 end), 0)`,
          lastMonth: sql<number>`coalesce(sum(case when ${smsMessages.receivedAt} < ${thisMonthStart} then 1 else 0 end), 0)`,
        })
        .from(smsMessages)
        .where(and(eq(smsMessages.userId, userId), gte(smsMessages.receivedAt, new Date(lastMonthStart)))),
      // 4. daily cost and calls of the chart window (usage_records_user_occurred_idx)
      db
        .select({
          date: day,
          cost: sql<number>`coalesce(sum(${usageRecords.totalCost}), 0)`,
          calls: sql<number>`coalesce(sum(case when ${isCall} then 1 else 0 end), 0)`,
        })
        .from(usageRecords)
        .where(and(eq(usageRecords.userId, userId), gte(usageRecords.occurredAt, new Date(chartStart))))
        .groupBy(day),
      // 5. the most active live numbers of the chart window: SMS per number (sms_number_idx per number)
      db
        .select({
          id: phoneNumbers.id,
          phoneNumber: phoneNumbers.phoneNumber,
          // Written out: inside a selection drizzle leaves columns unqualified.
          sms: sql<number>`(select count(*) from sms_messages s where s.phone_number_id = "phone_numbers"."id" and s.received_at >= ${chartStart} and s.user_id = ${userId})`,
        })
        .from(phoneNumbers)
        .where(and(eq(phoneNumbers.userId, userId), ne(phoneNumbers.status, 'released')))
        .orderBy(desc(sql`3`), phoneNumbers.phoneNumber)
        .limit(UTILIZATION_LIMIT),
      // 6. SMS on all the account's live numbers in the chart window: the utilization denominator (sms_user_idx)
      db
        .select({ n: sql<number>`count(*)` })
        .from(smsMessages)
        .where(
          and(
            eq(smsMessages.userId, userId),
            gte(smsMessages.receivedAt, new Date(chartStart)),
            inArray(
              smsMessages.phoneNumberId,
              db.select({ id: phoneNumbers.id }).from(phoneNumbers).where(and(eq(phoneNumbers.userId, userId), ne(phoneNumbers.status, 'released'))),
            ),
          ),
        ),
      // 7–11. recent activity, each newest first
      db
        .select({ phone: smsMessages.phone, sender: smsMessages.sender, at: smsMessages.receivedAt })
        .from(smsMessages)
        // Withheld SMS (their number is not paid for) show nowhere until they are.
        .where(and(eq(smsMessages.userId, userId), eq(smsMessages.withheld, false)))
        .orderBy(desc(smsMessages.receivedAt))
        .limit(RECENT),
      db
        .select({ phoneNumber: phoneNumbers.phoneNumber, setup: phoneNumbers.setupPrice, monthly: phoneNumbers.monthlyPrice, at: phoneNumbers.createdAt })
        .from(phoneNumbers)
        .where(eq(phoneNumbers.userId, userId))
        .orderBy(desc(phoneNumbers.createdAt))
        .limit(RECENT),
      db
        .select({ phone: activations.phone, serviceCode: activations.serviceCode, price: activations.price, billing: activations.billing, at: activations.createdAt })
        .from(activations)
        .where(eq(activations.userId, userId))
        .orderBy(desc(activations.createdAt))
        .limit(RECENT),
      db
        .select({ amount: payments.amount, purpose: payments.purpose, processor: payments.processor, at: payments.createdAt, processedAt: payments.processedAt })
        .from(payments)
        .where(and(eq(payments.userId, userId), eq(payments.status, 'succeeded')))
        .orderBy(desc(payments.createdAt))
        .limit(RECENT),
      db
        .select({ amount: walletLedger.amount, description: walletLedger.description, at: walletLedger.createdAt })
        .from(walletLedger)
        .where(
          and(
            eq(walletLedger.userId, userId),
            eq(walletLedger.type, 'credit'),
            or(isNull(walletLedger.referenceType), notInArray(walletLedger.referenceType, NOT_PAYMENT_CREDITS)),
          ),
        )
        .orderBy(desc(walletLedger.createdAt))
        .limit(RECENT),
    ] as const
  }

  async dashboard(ctx: RequestContext) {
    const userId = ctx.accountId
    const now = this.now()
    const thisMonth = monthOf(now)
    const lastMonth = previousMonth(thisMonth)
    const [numbers, months, allCalls, smsRecv, daily, perNumber, smsOnNumbers, recentSms, recentNumbers, recentActivations, recentPayments, recentCredits] =
      await this.db.batch(this.dashboardQueries(userId, now))

    const monthOfRow = (m: string) => months.find((r) => r.month === m)
    const period = (m: string, received: number) => {
      const r = monthOfRow(m)
      return { calls: num(r?.calls), minutes: num(r?.minutes), sms: num(r?.sms) + received, cost: num(r?.cost) }
    }
    const cur = period(thisMonth, num(smsRecv[0]?.thisMonth))
    const last = period(lastMonth, num(smsRecv[0]?.lastMonth))
    const money = (p: typeof cur) => ({ ...p, cost: fromMicros(p.cost) })

    const today = Date.parse(new Date(now).toISOString().slice(0, 10) + 'T00:00:00Z')
    const byDay = new Map(daily.map((d) => [d.date, d]))
    const days = Array.from({ length: CHART_DAYS }, (_, i) => new Date(today - (CHART_DAYS - 1 - i) * DAY_MS).toISOString().slice(0, 10))

    const totalSms = num(smsOnNumbers[0]?.n)
    const activity: (ActivityItem & { ms: number })[] = [
      ...recentSms.map((s) => ({
        type: 'sms' as const,
        description: `SMS received on ${s.phone}${s.sender ? ` from ${s.sender}` : ''}`,
        timestamp: s.at.toISOString(),
        ms: s.at.getTime(),
      })),
      ...recentNumbers.map((n) => {
        const amount = (n.setup ?? 0) + n.monthly
        return { type: 'number_purchased' as const, description: `Phone number ${n.phoneNumber} purchased`, timestamp: n.at.toISOString(), amount: fromMicros(amount), ms: n.at.getTime() }
      }),
      ...recentActivations.map((a) => ({
        type: 'number_purchased' as const,
        description: `Activation number ${a.phone} (${a.serviceCode}) purchased${a.billing === 'refunded' ? ', refunded since' : ''}`,
        timestamp: a.at.toISOString(),
        amount: fromMicros(a.price),
        ms: a.at.getTime(),
      })),
      ...recentPayments.map((p) => {
        const at = p.processedAt ?? p.at
        const what = p.purpose === 'invoice' ? 'Invoice payment' : 'Wallet top-up'
        return { type: 'payment' as const, description: `${what} of ${usd(p.amount)} (${p.processor})`, timestamp: at.toISOString(), amount: fromMicros(p.amount), ms: at.getTime() }
      }),
      ...recentCredits.map((w) => ({
        type: 'payment' as const,
        description: `Wallet credit of ${usd(w.amount)}${w.description ? `: ${w.description}` : ''}`,
        timestamp: w.at.toISOString(),
        amount: fromMicros(w.amount),
        ms: w.at.getTime(),
      })),
    ]
    activity.sort((a, b) => b.ms - a.ms)

    return {
      summary: {
        totalNumbers: num(numbers[0]?.total),
        activeNumbers: num(numbers[0]?.active),
        totalCalls: num(allCalls[0]?.calls),
        totalMinutes: num(allCalls[0]?.minutes),
        monthlyCost: fromMicros(cur.cost),
        currency: 'USD',
      },
      usage: {
        thisMonth: money(cur),
        lastMonth: money(last),
        growth: { calls: growth(cur.calls, last.calls), minutes: growth(cur.minutes, last.minutes), sms: growth(cur.sms, last.sms), cost: growth(cur.cost, last.cost) },
      },
      charts: {
        callVolume: days.map((date) => ({ date, inbound: 0, outbound: num(byDay.get(date)?.calls) })),
        costTrend: days.map((date) => ({ date, cost: fromMicros(num(byDay.get(date)?.cost)) })),
        numberUtilization: perNumber.map((n) => ({
          numberId: n.id,
          phoneNumber: n.phoneNumber,
          calls: 0,
          minutes: 0,
          sms: num(n.sms),
          utilization: totalSms ? round2((num(n.sms) / totalSms) * 100) : 0,
        })),
      },
      recentActivity: activity.slice(0, RECENT).map(({ ms: _ms, ...a }) => a),
    }
  }

  // ---- GET /api/v1/analytics/calls ----------------------------------------------------------

  /**
   * The call_minutes records of the range that pass the filters. Reported usage is outbound and
   * completed: asking for inbound calls or another status matches nothing.
   */
  private callFilter(userId: string, q: CallAnalyticsInput): SQL {
    const none = q.direction === 'inbound' || (q.status !== undefined && q.status !== 'completed')
    return and(callRecords(userId, { start: q.start, end: q.end, numberId: q.numberId }), none ? sql`0` : undefined)!
  }

  callQueries(userId: string, q: CallAnalyticsInput) {
    const { db } = this
    const where = this.callFilter(userId, q)
    const calls = callCount()
    const minutes = callMinutes()
    const cost = callCost()
    const hour = sql<number>`cast(strftime('%H', ${usageRecords.occurredAt} / 1000, 'unixepoch') as integer)`
    const bucket = bucketSql(callBucket(q.groupBy))
    // The account's own numbers only: a resource_id naming anyone else's number is not one of its numbers.
    const onNumber = and(eq(phoneNumbers.id, usageRecords.resourceId), eq(phoneNumbers.userId, userId))
    const country = sql<string>`upper(${phoneNumbers.countryCode})`
    // All from usage_records_user_occurred_idx (user_id, occurred_at); the joins look numbers up by primary key.
    return [
      // 0. totals
      db.select({ calls, minutes, cost }).from(usageRecords).where(where),
      // 1. per hour of the day (UTC)
      db.select({ hour, calls, minutes }).from(usageRecords).where(where).groupBy(hour),
      // 2. per bucket
      db.select({ date: bucket, calls, minutes }).from(usageRecords).where(where).groupBy(bucket),
      // 3. per number of the account, most calls first
      db
        .select({ id: phoneNumbers.id, phoneNumber: phoneNumbers.phoneNumber, calls, minutes, cost })
        .from(usageRecords)
        .innerJoin(phoneNumbers, onNumber)
        .where(where)
        .groupBy(phoneNumbers.id)
        .orderBy(desc(calls), desc(minutes), asc(phoneNumbers.phoneNumber))
        .limit(TOP_NUMBERS),
      // 4. per country of those numbers
      db
        .select({ country, calls, minutes })
        .from(usageRecords)
        .innerJoin(phoneNumbers, onNumber)
        .where(where)
        .groupBy(country)
        .orderBy(desc(calls), asc(country)),
    ] as const
  }

  async calls(ctx: RequestContext, q: CallAnalyticsInput) {
    const userId = ctx.accountId
    const [totals, hours, buckets, numbers, countries] = await this.db.batch(this.callQueries(userId, q))
    const calls = num(totals[0]?.calls)
    const minutes = num(totals[0]?.minutes)
    const cost = fromMicros(num(totals[0]?.cost))

    const perHour = new Map(hours.map((h) => [num(h.hour), h]))
    const perBucket = new Map(buckets.map((b) => [b.date, b]))
    const g = callBucket(q.groupBy)
    const byDay: { date: string; calls: number; minutes: number }[] = []
    const last = bucketOf(q.end - 1, g)
    for (let b = bucketOf(q.start, g); b <= last; b = nextBucket(b, g)) {
      byDay.push({ date: b, calls: num(perBucket.get(b)?.calls), minutes: num(perBucket.get(b)?.minutes) })
    }

    return {
      summary: {
        totalCalls: calls,
        totalMinutes: minutes,
        averageDuration: calls ? round2(minutes / calls) : 0,
        successRate: calls ? 100 : 0,
        totalCost: cost,
        currency: 'USD',
      },
      breakdown: {
        byDirection: { inbound: { calls: 0, minutes: 0, cost: 0 }, outbound: { calls, minutes, cost } },
        byStatus: Object.fromEntries(CALL_STATUSES.map((s) => [s, s === 'completed' ? calls : 0])) as Record<CallStatus, number>,
        byHour: Array.from({ length: 24 }, (_, hour) => ({ hour, calls: num(perHour.get(hour)?.calls), minutes: num(perHour.get(hour)?.minutes) })),
        byDay,
      },
      topNumbers: numbers.map((n) => ({ numberId: n.id, phoneNumber: n.phoneNumber, calls: num(n.calls), minutes: num(n.minutes), cost: fromMicros(num(n.cost)) })),
      geographic: countries.map((c) => ({
        country: c.country,
        calls: num(c.calls),
        minutes: num(c.minutes),
        percentage: calls ? round2((num(c.calls) / calls) * 100) : 0,
      })),
    }
  }
  // ---- GET /api/v1/admin/analytics/overview -------------------------------------------------

  /** All accounts' figures: one batch of aggregates over whole tables (no per-user queries). */
  systemQueries(now: number) {
    const { db } = this
    const months = lastMonths(monthOf(now), GROWTH_MONTHS)
    const windowStart = new Date(Date.parse(`${months[0]}-01T00:00:00Z`))
    const monthSql = (col: unknown) => sql<string>`strftime('%Y-%m', ${col} / 1000, 'unixepoch')`
    const userMonth = monthSql(users.createdAt)
    const numberMonth = monthSql(phoneNumbers.purchasedAt)
    const ledgerMonth = monthSql(walletLedger.createdAt)
    const revenue = netSpend()
    const category = sql<string>`case when ${inArray(walletLedger.referenceType, SPEND_REFERENCES)} then 'numbers' when ${walletLedger.referenceType} = 'invoice' then 'usage' else 'other' end`
    return [
      // 0. accounts
      db
        .select({
          total: sql<number>`count(*)`,
          active: sql<number>`coalesce(sum(case when ${users.status} = 'active' and ${users.lastLoginAt} >= ${now - ACTIVE_DAYS * DAY_MS} then 1 else 0 end), 0)`,
        })
        .from(users),
      // 1. new accounts per month of the window (users_created_idx)
      db.select({ month: userMonth, n: sql<number>`count(*)` }).from(users).where(gte(users.createdAt, windowStart)).groupBy(userMonth),
      // 2. numbers not released
      db.select({ n: sql<number>`count(*)` }).from(phoneNumbers).where(ne(phoneNumbers.status, 'released')),
      // 3. numbers purchased per month of the window (released ones included)
      db.select({ month: numberMonth, n: sql<number>`count(*)` }).from(phoneNumbers).where(gte(phoneNumbers.purchasedAt, windowStart)).groupBy(numberMonth),
      // 4. all-time revenue per category
      db.select({ category, revenue }).from(walletLedger).where(spendEntry()).groupBy(category),
      // 5. revenue per month of the window
      db.select({ month: ledgerMonth, revenue }).from(walletLedger).where(and(spendEntry(), gte(walletLedger.createdAt, windowStart))).groupBy(ledgerMonth),
      // 6. reported calls, minutes and SMS
      db
        .select({
          calls: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'call_minutes' then 1 else 0 end), 0)`,
          minutes: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'call_minutes' then ${usageRecords.quantity} else 0 end), 0)`,
          sms: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'sms' then ${usageRecords.quantity} else 0 end), 0)`,
        })
        .from(usageRecords)
        .where(inArray(usageRecords.resourceType, ['call_minutes', 'sms'])),
      // 7. SMS received
      db.select({ n: sql<number>`count(*)` }).from(smsMessages),
    ] as const
  }

  async systemOverview() {
    const now = this.now()
    const months = lastMonths(monthOf(now), GROWTH_MONTHS)
    const [accounts, newUsers, numbers, bought, byCategory, byMonth, usage, smsRecv] = await this.db.batch(this.systemQueries(now))
    const perMonth = <T extends { month: string }>(rows: T[], pick: (r: T) => unknown) => new Map(rows.map((r) => [r.month, num(pick(r))]))
    const usersByMonth = perMonth(newUsers, (r) => r.n)
    const numbersByMonth = perMonth(bought, (r) => r.n)
    const revenueByMonth = perMonth(byMonth, (r) => r.revenue)
    const cat = (c: string) => num(byCategory.find((r) => r.category === c)?.revenue)
    const total = byCategory.reduce((s, r) => s + num(r.revenue), 0)
    const thisMonth = revenueByMonth.get(months[months.length - 1]!) ?? 0
    const lastMonth = revenueByMonth.get(months[months.length - 2]!) ?? 0
    const annual = months.reduce((s, m) => s + (revenueByMonth.get(m) ?? 0), 0)
    const totalUsers = num(accounts[0]?.total)
    const calls = num(usage[0]?.calls)
    return {
      summary: {
        totalUsers,
        activeUsers: num(accounts[0]?.active),
        totalNumbers: num(numbers[0]?.n),
        totalRevenue: fromMicros(total),
        currency: 'USD',
      },
      growth: months.map((period) => ({
        period,
        newUsers: usersByMonth.get(period) ?? 0,
        revenue: fromMicros(revenueByMonth.get(period) ?? 0),
        numbersPurchased: numbersByMonth.get(period) ?? 0,
      })),
      usage: {
        totalCalls: calls,
        totalMinutes: num(usage[0]?.minutes),
        totalSms: num(usage[0]?.sms) + num(smsRecv[0]?.n),
        avgCallsPerUser: totalUsers ? round2(calls / totalUsers) : 0,
      },
      revenue: {
        monthly: fromMicros(thisMonth),
        annual: fromMicros(annual),
        growth: growth(thisMonth, lastMonth),
        breakdown: { numbers: fromMicros(cat('numbers')), usage: fromMicros(cat('usage')), other: fromMicros(cat('other')) },
      },
    }
  }
}

// ---- system overview rules ------------------------------------------------------------------

/** Months in the system overview's `growth` (the current one last). */
export const GROWTH_MONTHS = 12
/** An account is active when its status is `active` and it logged in within this many days. */
export const ACTIVE_DAYS = 30
// Revenue is what the accounts spent: wallet/spend.ts (spendEntry, netSpend), as the admin user views count it.

/** The `n` months ending with `month` (YYYY-MM), oldest first. */
function lastMonths(month: string, n: number): string[] {
  const out = [month]
  while (out.length < n) out.unshift(previousMonth(out[0]!))
  return out
}

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
 * - The queries of each answer are in analytics.queries.ts; this file turns their rows into the answer.
 */
import type { Db } from '../../db/client'
import { fromMicros, usd } from '../../lib/money'
import { PLANS } from '../subscriptions/plans'
import { bucketOf, nextBucket } from '../usage/usage-buckets'
import { CALL_STATUSES, type CallStatus } from './schemas'
import type { RequestContext } from '../../lib/context'
import { monthOf, previousMonth } from '../../lib/periods'
import { DAY_MS } from '../../lib/time'
import { callBucket, callQueries, CHART_DAYS, dashboardQueries, GROWTH_MONTHS, lastMonths, RECENT, statsQueries, systemQueries, type CallAnalyticsInput } from './analytics.queries'

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

export class AnalyticsService {
  constructor(private readonly deps: { db: Db; now?: () => number }) {}

  private get db() {
    return this.deps.db
  }

  private now() {
    return (this.deps.now ?? Date.now)()
  }

  // ---- GET /api/stats -----------------------------------------------------------------------

  async stats(ctx: RequestContext) {
    const userId = ctx.accountId
    const month = monthOf(this.now())
    const [subs, current, allTime, inv, recent] = await this.db.batch(statsQueries(this.db, userId, month))
    const sub = subs[0]
    const cur = current[0]
    const all = allTime[0]
    const totals = inv[0]
    return {
      subscription: sub ? { plan: sub.plan, status: sub.status, monthlyFee: fromMicros(PLANS[sub.plan].monthlyFee), currentPeriodEnd: sub.currentPeriodEnd.toISOString() } : null,
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

  async dashboard(ctx: RequestContext) {
    const userId = ctx.accountId
    const now = this.now()
    const thisMonth = monthOf(now)
    const lastMonth = previousMonth(thisMonth)
    const [numbers, months, allCalls, smsRecv, daily, perNumber, smsOnNumbers, recentSms, recentNumbers, recentActivations, recentPayments, recentCredits] = await this.db.batch(
      dashboardQueries(this.db, userId, now),
    )

    const monthOfRow = (m: string) => months.find((r) => r.month === m)
    const period = (m: string, received: number) => {
      const r = monthOfRow(m)
      return { calls: num(r?.calls), minutes: num(r?.minutes), sms: num(r?.sms) + received, cost: num(r?.cost) }
    }
    const cur = period(thisMonth, num(smsRecv[0]?.thisMonth))
    const last = period(lastMonth, num(smsRecv[0]?.lastMonth))
    const money = (p: typeof cur) => ({ ...p, cost: fromMicros(p.cost) })

    const today = Date.parse(`${new Date(now).toISOString().slice(0, 10)}T00:00:00Z`)
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

  async calls(ctx: RequestContext, q: CallAnalyticsInput) {
    const userId = ctx.accountId
    const [totals, hours, buckets, numbers, countries] = await this.db.batch(callQueries(this.db, userId, q))
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

  async systemOverview() {
    const now = this.now()
    const months = lastMonths(monthOf(now), GROWTH_MONTHS)
    const [accounts, newUsers, numbers, bought, byCategory, byMonth, usage, smsRecv] = await this.db.batch(systemQueries(this.db, now))
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

/**
 * The D1 queries behind the analytics answers (analytics.service.ts shapes their rows): one
 * function per answer, returning the batch it runs — each query aggregate, scoped by `user_id`
 * and starting from an index on it (the system overview's run over whole tables) — and the
 * constants that bound them. The query-plan tests EXPLAIN them from here.
 */
import { and, asc, desc, eq, gte, inArray, ne, or, isNull, notInArray, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { activations, invoices, payments, phoneNumbers, smsMessages, subscriptions, usageRecords, users, walletLedger } from '../../db/schema'
import { netSpend, SPEND_REFERENCES, spendEntry } from '../wallet/spend'
import { callCost, callCount, callMinutes, callRecords } from '../usage/call-records'
import { bucketSql } from '../usage/usage-buckets'
import type { CallStatus } from './schemas'
import { monthOf, previousMonth } from '../../lib/periods'
import { DAY_MS } from '../../lib/time'

/** Days of the dashboard's charts (callVolume, costTrend, numberUtilization). */
export const CHART_DAYS = 30
/** Most numbers in numberUtilization (the most active first). */
export const UTILIZATION_LIMIT = 100
/** Entries of each recent-activity query, and of the dashboard's recentActivity. */
export const RECENT = 10
/** Invoice states with money still owed. */
const UNPAID = ['pending', 'partially_paid', 'overdue'] as const
/** Wallet credits that are not payments: refunds of activations and orders; top-ups by payment method show as their `payments` row. */
const NOT_PAYMENT_CREDITS = ['activation', 'order', 'payment', 'invoice']

// ---- GET /api/stats -----------------------------------------------------------------------

export function statsQueries(db: Db, userId: string, month: string) {
  const metricSums = {
    callMinutes: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'call_minutes' then ${usageRecords.quantity} else 0 end), 0)`,
    smsCount: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'sms' then ${usageRecords.quantity} else 0 end), 0)`,
    apiCalls: sql<number>`coalesce(sum(case when ${usageRecords.resourceType} = 'api_calls' then ${usageRecords.quantity} else 0 end), 0)`,
  }
  const metricTypes = inArray(usageRecords.resourceType, ['call_minutes', 'sms', 'api_calls'])
  return [
    db.select().from(subscriptions).where(eq(subscriptions.userId, userId)).limit(1),
    db
      .select(metricSums)
      .from(usageRecords)
      .where(and(eq(usageRecords.userId, userId), eq(usageRecords.month, month), metricTypes)),
    db
      .select(metricSums)
      .from(usageRecords)
      .where(and(eq(usageRecords.userId, userId), metricTypes)),
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

// ---- GET /api/v1/analytics/dashboard ------------------------------------------------------

export function dashboardQueries(db: Db, userId: string, now: number) {
  const thisMonth = monthOf(now)
  const lastMonth = previousMonth(thisMonth)
  const lastMonthStart = Date.parse(`${lastMonth}-01T00:00:00Z`)
  const thisMonthStart = Date.parse(`${thisMonth}-01T00:00:00Z`)
  const today = Date.parse(`${new Date(now).toISOString().slice(0, 10)}T00:00:00Z`)
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
            db
              .select({ id: phoneNumbers.id })
              .from(phoneNumbers)
              .where(and(eq(phoneNumbers.userId, userId), ne(phoneNumbers.status, 'released'))),
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
      .where(and(eq(walletLedger.userId, userId), eq(walletLedger.type, 'credit'), or(isNull(walletLedger.referenceType), notInArray(walletLedger.referenceType, NOT_PAYMENT_CREDITS))))
      .orderBy(desc(walletLedger.createdAt))
      .limit(RECENT),
  ] as const
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

/**
 * The call_minutes records of the range that pass the filters. Reported usage is outbound and
 * completed: asking for inbound calls or another status matches nothing.
 */
function callFilter(userId: string, q: CallAnalyticsInput): SQL {
  const none = q.direction === 'inbound' || (q.status !== undefined && q.status !== 'completed')
  return and(callRecords(userId, { start: q.start, end: q.end, numberId: q.numberId }), none ? sql`0` : undefined)!
}

export function callQueries(db: Db, userId: string, q: CallAnalyticsInput) {
  const where = callFilter(userId, q)
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
    db.select({ country, calls, minutes }).from(usageRecords).innerJoin(phoneNumbers, onNumber).where(where).groupBy(country).orderBy(desc(calls), asc(country)),
  ] as const
}

// ---- GET /api/v1/admin/analytics/overview -------------------------------------------------

/** Months in the system overview's `growth` (the current one last). */
export const GROWTH_MONTHS = 12
/** An account is active when its status is `active` and it logged in within this many days. */
export const ACTIVE_DAYS = 30
// Revenue is what the accounts spent: wallet/spend.ts (spendEntry, netSpend), as the admin user views count it.

/** The `n` months ending with `month` (YYYY-MM), oldest first. */
export function lastMonths(month: string, n: number): string[] {
  const out = [month]
  while (out.length < n) out.unshift(previousMonth(out[0]!))
  return out
}

/** All accounts' figures: one batch of aggregates over whole tables (no per-user queries). */
export function systemQueries(db: Db, now: number) {
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
    db
      .select({ month: ledgerMonth, revenue })
      .from(walletLedger)
      .where(and(spendEntry(), gte(walletLedger.createdAt, windowStart)))
      .groupBy(ledgerMonth),
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

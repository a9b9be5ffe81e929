/**
 * Usage billing's Stats and the DID API's DashboardAnalytics, CallAnalyticsQuery → CallAnalyticsResponse.
 * Amounts are decimals in USD; instants ISO 8601.
 */
import { z } from '@hono/zod-openapi'
import { INVOICE_STATUSES, subscriptions } from '../../db/schema'
import { dateParam } from '../../lib/dates'
import { Instant, Money, money } from '../../lib/http'

export const Stats = z
  .object({
    subscription: z
      .object({
        plan: z.string().openapi({ example: 'pro' }),
        status: z.enum(subscriptions.status.enumValues).openapi({ example: 'active' }),
        monthlyFee: z.number().openapi(money({ example: 29.99 })),
        currentPeriodEnd: z.string().openapi({ example: '2025-11-30T00:00:00.000Z' }),
      })
      .nullable(),
    currentUsage: z.object({
      callMinutes: z.number().int(),
      smsCount: z.number().int(),
      apiCalls: z.number().int(),
      month: z.string().openapi({ example: '2024-11' }),
    }),
    totals: z.object({
      totalSpent: z.number().openapi(money({ example: 199.17 })),
      pendingAmount: z.number().openapi(money({ example: 59.74 })),
      invoiceCount: z.number().int(),
      callMinutes: z.number().int(),
      smsCount: z.number().int(),
      apiCalls: z.number().int(),
    }),
    recentInvoices: z.array(
      z.object({
        id: z.string(),
        invoiceNumber: z.string(),
        status: z.enum(INVOICE_STATUSES),
        amount: z.number().openapi(money({ example: 59.74 })),
        dueDate: Instant,
      }),
    ),
  })
  .openapi('Stats')

const Period = z.object({ calls: z.number().int(), minutes: z.number().int(), sms: z.number().int(), cost: Money })

export const DashboardAnalytics = z
  .object({
    summary: z.object({
      totalNumbers: z.number().int(),
      activeNumbers: z.number().int(),
      totalCalls: z.number().int(),
      totalMinutes: z.number().int(),
      monthlyCost: Money,
      currency: z.string(),
    }),
    usage: z.object({
      thisMonth: Period,
      lastMonth: Period,
      growth: z.object({
        calls: z.number().openapi({ description: 'Percent change from last month (0 when last month had none)' }),
        minutes: z.number(),
        sms: z.number(),
        cost: z.number(),
      }),
    }),
    charts: z.object({
      callVolume: z.array(z.object({ date: z.string(), inbound: z.number().int(), outbound: z.number().int() })),
      costTrend: z.array(z.object({ date: z.string(), cost: Money })),
      numberUtilization: z.array(
        z.object({
          numberId: z.string(),
          phoneNumber: z.string(),
          calls: z.number().int(),
          minutes: z.number().int(),
          sms: z.number().int().openapi({ description: 'SMS received on the number in the last 30 days (Switchboard addition)' }),
          utilization: z.number().openapi({ description: "The number's share (0–100) of the SMS received on all the account's numbers in the last 30 days" }),
        }),
      ),
    }),
    recentActivity: z.array(
      z.object({
        type: z.enum(['call', 'sms', 'number_purchased', 'payment']),
        description: z.string(),
        timestamp: Instant,
        amount: z.number().optional().openapi(money()),
      }),
    ),
  })
  .openapi('DashboardAnalytics')

// ---- GET /api/v1/analytics/calls (CallAnalyticsQuery → CallAnalyticsResponse) ----

/** The call statuses `breakdown.byStatus` lists (each key always present). */
export const CALL_STATUSES = ['completed', 'busy', 'failed', 'no-answer', 'canceled'] as const
export type CallStatus = (typeof CALL_STATUSES)[number]
export const CALL_DIRECTIONS = ['inbound', 'outbound'] as const
export const CALL_GROUP_BY = ['hour', 'day', 'week', 'month'] as const

export const CallAnalyticsQuery = z.object({
  startDate: dateParam('Start of the range (a date means its first instant). Required.'),
  endDate: dateParam('End of the range, inclusive (a date means its whole day). Required; not before startDate.', '2026-11-30'),
  numberId: z.string().min(1).max(128).optional().openapi({ description: 'Only calls on this phone number (its id)' }),
  direction: z.enum(CALL_DIRECTIONS).optional().openapi({ description: 'Only calls of this direction' }),
  status: z.enum(CALL_STATUSES).optional().openapi({ description: 'Only calls of this status' }),
  groupBy: z
    .enum(CALL_GROUP_BY)
    .optional()
    .openapi({
      description:
        'Bucket of `breakdown.byDay` (weeks start on Monday, UTC; `hour` keeps days there, `byHour` has the hours). Without it: the finest of ' +
        "day, week and month that keeps the range within 1000 buckets; the answer's `groupBy` says which. Given, a range of more than 1000 such buckets is a 400.",
    }),
})
export type CallAnalyticsQuery = z.infer<typeof CallAnalyticsQuery>

const DirectionFigures = z.object({ calls: z.number().int(), minutes: z.number().int(), cost: Money })

export const CallAnalyticsResponse = z
  .object({
    groupBy: z.enum(CALL_GROUP_BY).openapi({ description: 'The groupBy of the answer: the one asked for, or the one chosen for the range' }),
    summary: z.object({
      totalCalls: z.number().int().openapi({ example: 42 }),
      totalMinutes: z.number().int().openapi({ example: 315 }),
      averageDuration: z.number().openapi({ example: 7.5, description: 'Minutes per call (2 decimals; 0 without calls)' }),
      successRate: z.number().openapi({ example: 100, description: 'Percent (0–100) of the calls completed; 0 without calls' }),
      totalCost: z.number().openapi(money({ example: 15.75 })),
      currency: z.string().openapi({ example: 'USD' }),
    }),
    breakdown: z.object({
      byDirection: z.object({ inbound: DirectionFigures, outbound: DirectionFigures }),
      byStatus: z.object(Object.fromEntries(CALL_STATUSES.map((s) => [s, z.number().int()])) as Record<CallStatus, z.ZodNumber>),
      byHour: z.array(z.object({ hour: z.number().int().openapi({ description: 'Hour of the day, 0–23 (UTC)' }), calls: z.number().int(), minutes: z.number().int() })),
      byDay: z.array(
        z.object({
          date: z.string().openapi({ example: '2026-11-22', description: 'First day (UTC, YYYY-MM-DD) of the bucket' }),
          calls: z.number().int(),
          minutes: z.number().int(),
        }),
      ),
    }),
    topNumbers: z.array(z.object({ numberId: z.string(), phoneNumber: z.string(), calls: z.number().int(), minutes: z.number().int(), cost: Money })),
    geographic: z.array(
      z.object({
        country: z.string().openapi({ example: 'US', description: 'ISO 3166-1 alpha-2 code of the number the calls were on' }),
        calls: z.number().int(),
        minutes: z.number().int(),
        percentage: z.number().openapi({ description: "The country's share (0–100, 2 decimals) of all the calls of the answer" }),
      }),
    ),
  })
  .openapi('CallAnalyticsResponse')

// ---- GET /api/v1/admin/analytics/overview (SystemAnalyticsResponse) ----

export const SystemAnalyticsResponse = z
  .object({
    summary: z.object({
      totalUsers: z.number().int().openapi({ example: 1250, description: 'All accounts' }),
      activeUsers: z.number().int().openapi({ example: 830, description: 'Accounts with status `active` that logged in within the last 30 days' }),
      totalNumbers: z.number().int().openapi({ example: 2400, description: 'Phone numbers (DIDs) not released, all accounts' }),
      totalRevenue: z.number().openapi(money({ example: 48210.55, description: 'All-time revenue (money taken from wallets, net of refunds)' })),
      currency: z.string().openapi({ example: 'USD' }),
    }),
    growth: z.array(
      z.object({
        period: z.string().openapi({ example: '2026-11', description: 'Month (UTC, YYYY-MM)' }),
        newUsers: z.number().int(),
        revenue: Money,
        numbersPurchased: z.number().int(),
      }),
    ),
    usage: z.object({
      totalCalls: z.number().int().openapi({ description: 'Reported `call_minutes` usage records (one per call), all time' }),
      totalMinutes: z.number().int(),
      totalSms: z.number().int().openapi({ description: 'Reported `sms` usage plus SMS received, all time' }),
      avgCallsPerUser: z.number().openapi({ description: 'totalCalls / totalUsers (2 decimals; 0 without users)' }),
    }),
    revenue: z.object({
      monthly: z.number().openapi(money({ description: 'Revenue of the current UTC month' })),
      annual: z.number().openapi(money({ description: 'Revenue of the last 12 UTC months, the current one included' })),
      growth: z.number().openapi({ description: 'Percent change of this month from last month (2 decimals; 0 when last month was 0)' }),
      breakdown: z.object({
        numbers: z.number().openapi(money({ description: 'All-time revenue from activations, orders and DID renewals' })),
        usage: z.number().openapi(money({ description: 'All-time revenue from invoices paid from the wallet' })),
        other: z.number().openapi(money({ description: 'All-time revenue from anything else' })),
      }),
    }),
  })
  .openapi('SystemAnalyticsResponse')

/**
 * Seed 003 Stats and seed 001 §6.3 DashboardAnalytics. Amounts are decimals in USD; instants ISO 8601.
 */
import { z } from '@hono/zod-openapi'

export const Stats = z
  .object({
    subscription: z
      .object({
        plan: z.string().openapi({ example: 'pro' }),
        status: z.string().openapi({ example: 'active' }),
        monthlyFee: z.number().openapi({ example: 29.99 }),
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
      totalSpent: z.number().openapi({ example: 199.17 }),
      pendingAmount: z.number().openapi({ example: 59.74 }),
      invoiceCount: z.number().int(),
      callMinutes: z.number().int(),
      smsCount: z.number().int(),
      apiCalls: z.number().int(),
    }),
    recentInvoices: z.array(
      z.object({
        id: z.string(),
        invoiceNumber: z.string(),
        status: z.string(),
        amount: z.number().openapi({ example: 59.74 }),
        dueDate: z.string(),
      }),
    ),
  })
  .openapi('Stats')

const Period = z.object({ calls: z.number().int(), minutes: z.number().int(), sms: z.number().int(), cost: z.number() })

export const DashboardAnalytics = z
  .object({
    summary: z.object({
      totalNumbers: z.number().int(),
      activeNumbers: z.number().int(),
      totalCalls: z.number().int(),
      totalMinutes: z.number().int(),
      monthlyCost: z.number(),
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
      costTrend: z.array(z.object({ date: z.string(), cost: z.number() })),
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
        timestamp: z.string(),
        amount: z.number().optional(),
      }),
    ),
  })
  .openapi('DashboardAnalytics')

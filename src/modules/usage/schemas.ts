/**
 * Usage schemas: usage billing's (`/api/usage`: one report / one month of usage) and the DID
 * API's (`/api/v1/billing/usage`: GetUsageQuery → UsageResponse). Amounts are decimals in USD.
 */
import { z } from '@hono/zod-openapi'
import { USAGE_TYPES } from '../../db/schema'
import { dateParam } from '../../lib/dates'
import { listParam } from '../dids/schemas'
import { Instant, Money, money } from '../../lib/http'

const MAX_COUNT = 1_000_000_000

const Count = (what: string) =>
  z
    .number()
    .int()
    .min(0)
    .max(MAX_COUNT)
    .default(0)
    .openapi({ example: 350, description: `${what}; a non-negative integer (0 when omitted)` })

export const ReportUsageBody = z
  .object({
    userId: z.string().min(1).max(64).optional().openapi({
      example: 'usr_01jd6q0000a1b2c3d4e5f6g7h8',
      description: "The account the usage belongs to. Defaults to the caller's own; only an admin may name another account.",
    }),
    month: z
      .string()
      .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'month must be YYYY-MM')
      .openapi({ example: '2024-12', description: 'The month (UTC) the usage belongs to, `YYYY-MM`' }),
    callMinutes: Count('Call minutes'),
    smsCount: Count('SMS messages'),
    apiCalls: Count('API calls'),
    transactionId: z
      .string()
      .trim()
      .min(1)
      .max(128)
      .regex(/^[\x21-\x7e]+$/, 'transactionId is printable ASCII without spaces')
      .optional()
      .openapi({
        example: 'cdr-batch-2024-12-001',
        description: 'Makes the report idempotent: the same transactionId again answers the first report (200) and records nothing.',
      }),
  })
  .openapi('ReportUsageRequest')
export type ReportUsageBody = z.infer<typeof ReportUsageBody>

export const UsageReport = z
  .object({
    id: z.string().openapi({ example: 'usg_01jd6q0000a1b2c3d4e5f6g7h8' }),
    userId: z.string(),
    month: z.string().openapi({ example: '2024-12' }),
    callMinutes: z.number().int().openapi({ example: 350 }),
    smsCount: z.number().int().openapi({ example: 900 }),
    apiCalls: z.number().int().openapi({ example: 5000 }),
    recordedAt: Instant.openapi({ example: '2024-12-01T00:00:00.000Z' }),
  })
  .openapi('UsageReport')

export const UsageHistoryQuery = z.object({
  userId: z.string().min(1).max(64).optional().openapi({ description: "Whose usage; defaults to the caller's own (another account: admins only)" }),
  limit: z.coerce.number().int().min(1).max(1200).optional().openapi({ example: 6, description: 'Most months to return, newest first (default: all)' }),
})

export const StatsQuery = z.object({
  userId: z.string().min(1).max(64).optional().openapi({ description: "Whose statistics; defaults to the caller's own (another account: admins only)" }),
})

// ---- the DID API: /api/v1/billing/usage ---------------------------------------------------

export const GetUsageQuery = z.object({
  startDate: dateParam('Start of the range (a date means its first instant). Required.'),
  endDate: dateParam('End of the range, inclusive (a date means its whole day). Required; not before startDate.', '2026-11-30'),
  groupBy: z
    .enum(['day', 'week', 'month'])
    .optional()
    .openapi({
      description:
        'Bucket of `usage[].date` and `trends[]` (weeks start on Monday, UTC). Without it: the finest of day, week and month that keeps ' +
        "the range within 1000 buckets; the answer's `groupBy` says which. Given, a range of more than 1000 such buckets is a 400.",
    }),
  resourceType: listParam(USAGE_TYPES),
  resourceId: z.string().min(1).max(128).optional().openapi({ description: 'Only this resource (an activation id, a phone number id, an API key id)' }),
})
export type GetUsageQuery = z.infer<typeof GetUsageQuery>

const UsageTypeEnum = z.enum(USAGE_TYPES)

export const UsageRecordView = z
  .object({
    date: z.string().openapi({ example: '2026-11-22', description: 'First day (UTC) of the bucket the quantities fall into' }),
    resourceType: UsageTypeEnum,
    resourceId: z.string().nullable(),
    quantity: z.number().int(),
    unit: z.string().openapi({ example: 'request' }),
    unitPrice: z.number().openapi(money({ example: 0.001 })),
    totalCost: z.number().openapi(money({ example: 0.007 })),
    currency: z.string().openapi({ example: 'USD' }),
    description: z.string().nullable(),
  })
  .openapi('UsageRecord')

const Breakdown = z.object({ quantity: z.number().int(), cost: Money, unit: z.string() })

export const UsageResponse = z
  .object({
    groupBy: z.enum(['day', 'week', 'month']).openapi({ description: 'The bucket of `usage[].date` and `trends[]`: the one asked for, or the one chosen for the range' }),
    usage: z.array(UsageRecordView),
    summary: z.object({
      totalCost: Money,
      totalQuantity: z.number().int(),
      period: z.object({ start: z.string(), end: z.string() }),
      breakdown: z.object(Object.fromEntries(USAGE_TYPES.map((t) => [t, Breakdown.optional()])) as Record<(typeof USAGE_TYPES)[number], z.ZodOptional<typeof Breakdown>>),
    }),
    trends: z.array(z.object({ date: z.string(), cost: Money, quantity: z.number().int() })),
  })
  .openapi('UsageResponse')

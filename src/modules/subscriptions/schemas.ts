import { z } from '@hono/zod-openapi'
import { Meta, Instant, money } from '../../lib/http'
import { PLAN_CODES } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { periodOf } from '../../lib/periods'
import { iso } from '../../lib/time'
import { PLANS } from './plans'
import type { Subscription } from './subscriptions.service'

export const PlanCode = z.enum(PLAN_CODES).openapi({ description: 'basic $9.99, pro $29.99, enterprise $99.99 a month' })

export const SubscriptionView = z
  .object({
    id: z.string().openapi({ example: 'sub_01jd6q0000a1b2c3d4e5f6g7h8' }),
    userId: z.string(),
    plan: PlanCode,
    status: z.enum(['active', 'cancelled', 'past_due']),
    startDate: Instant.openapi({ example: '2024-01-01T00:00:00.000Z', description: 'When the account first subscribed (kept when it re-subscribes)' }),
    currentPeriodStart: z.string().openapi({ example: '2025-11-01T00:00:00.000Z', description: 'The 1st of the current month, 00:00 UTC' }),
    currentPeriodEnd: z.string().openapi({ example: '2025-11-30T00:00:00.000Z', description: 'The last day of the current month, 00:00 UTC; the period lasts to the end of that day' }),
    cancelledAt: Instant.nullable(),
    monthlyFee: z.number().openapi(money({ example: 29.99 })),
  })
  .openapi('Subscription')

export function subscriptionView(s: Subscription): z.infer<typeof SubscriptionView> {
  return {
    id: s.id,
    userId: s.userId,
    plan: s.plan,
    status: s.status,
    startDate: iso(s.startDate)!,
    currentPeriodStart: iso(s.currentPeriodStart)!,
    currentPeriodEnd: iso(periodOf(s.currentPeriodStart).displayEnd)!,
    cancelledAt: iso(s.cancelledAt),
    monthlyFee: fromMicros(PLANS[s.plan].monthlyFee),
  }
}

export const SubscriptionChange = SubscriptionView.extend({
  proration: z.number().openapi(money({ example: 13.42, description: 'Charged by this change for the rest of the period (an upgrade); 0 otherwise' })),
}).openapi('SubscriptionChange')

/** Usage billing's envelope with its top-level `message`. */
export function okWithMessage<T extends z.ZodType>(schema: T, description: string) {
  return {
    content: { 'application/json': { schema: z.object({ success: z.literal(true), data: schema, message: z.string(), meta: Meta }) } },
    description,
  }
}

export const UserIdQuery = z.object({
  userId: z.string().min(1).max(64).optional().openapi({ description: 'Default: the caller. Another account only for an admin (else 404).' }),
})

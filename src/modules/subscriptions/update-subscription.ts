import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, keySecurity } from '../../lib/http'
import { fromMicros } from '../../lib/money'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { okWithMessage, PlanCode, SubscriptionChange, subscriptionView } from './schemas'

const Body = z
  .object({
    subscriptionId: z.string().min(1).max(64).openapi({ example: 'sub_01jd6q0000a1b2c3d4e5f6g7h8' }),
    plan: PlanCode.optional(),
    status: z.enum(['active', 'cancelled']).optional().openapi({ description: '`cancelled` cancels; `active` resumes a cancelled subscription' }),
  })
  .refine((b) => b.plan !== undefined || b.status !== undefined, { message: 'Send plan, status or both', path: ['plan'] })
  .openapi('UpdateSubscriptionRequest')

const route = createRoute({
  method: 'patch',
  path: '/api/subscription',
  operationId: 'updateSubscription',
  tags: ['subscriptions'],
  summary: 'Change the plan, cancel or resume',
  description:
    '400 without `subscriptionId` or with neither `plan` nor `status`; 404 for an unknown ' +
    "subscription or another account's (an admin may change anyone's). `status` may be set to `cancelled` or, to resume a " +
    'cancelled subscription, `active`. A request that changes nothing answers the subscription as it is.\n\n' +
    '**Upgrade proration.** Moving to a dearer plan mid-period charges (new fee − old fee) × (time left in the period ÷ ' +
    'length of the period), the period being the calendar month (UTC) from the 1st 00:00 to the 1st of the next month, ' +
    'rounded half-up to whole cents. The charge is a usage record (`subscription_proration`) of the current month, billed on ' +
    'the monthly invoice, and is shown as `proration` in the answer. It applies while the subscription is in force this period ' +
    '(active, or resumed within the period it was cancelled in). **A downgrade** takes effect at once, with no credit for the ' +
    'rest of the period. Cancelling takes effect at once. Every change writes a `subscription_changes` row and the ' +
    '`subscription.updated` event in the same transaction. A user session or an API key with `billing:write`.',
  middleware: [rateClass('purchase'), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(Body) },
  responses: { 200: okWithMessage(SubscriptionChange, 'The subscription after the change'), ...errorResponses },
})

export const registerUpdateSubscription = (r: Router) =>
  r.openapi(route, async (c) => {
    const { subscription, proration } = await c.var.services.subscriptions.update(contextOf(c), c.req.valid('json'))
    const data = { ...subscriptionView(subscription), proration: fromMicros(proration) }
    return c.json({ ...envelope(c, data), message: 'Subscription updated successfully' }, 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, err, jsonBody, keySecurity } from '../../lib/http'
import { fromMicros } from '../../lib/money'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { okWithMessage, PlanCode, SubscriptionChange, subscriptionView } from './schemas'

const Body = z
  .object({
    plan: PlanCode,
    userId: z.string().min(1).max(64).optional().openapi({ description: 'Admins only: subscribe another account (else 404)' }),
  })
  .openapi('CreateSubscriptionRequest')

const route = createRoute({
  method: 'post',
  path: '/api/subscription',
  operationId: 'createSubscription',
  tags: ['subscriptions'],
  summary: 'Subscribe to a plan',
  description:
    'Starts a subscription on `plan` for the caller (an admin may name `userId`). An account has one subscription: ' +
    'when it already has one in force the answer is 409 `CONFLICT` (change the plan with PATCH); after a cancel, ' +
    'subscribing again reuses the same subscription (same `id` and `startDate`) and makes it active again. ' +
    'A new subscription starts now, in the current calendar month (UTC); the monthly invoice bills its fee. ' +
    'Re-subscribing on a dearer plan within the period it was cancelled in charges the upgrade proration like PATCH. ' +
    'Writes a `subscription_changes` row and the `subscription.updated` event. A user session or an API key with `billing:write`.',
  middleware: [rateClass('purchase'), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(Body) },
  responses: {
    201: okWithMessage(SubscriptionChange, 'Subscribed'),
    ...errorResponses,
    409: err('The account already has a subscription in force (`CONFLICT`)'),
  },
})

export const registerCreateSubscription = (r: Router) =>
  r.openapi(route, async (c) => {
    const body = c.req.valid('json')
    const service = c.var.services.subscriptions
    const ctx = await service.owner(contextOf(c), body.userId, 'User')
    const { subscription, proration } = await service.subscribe(ctx, body.plan)
    const data = { ...subscriptionView(subscription), proration: fromMicros(proration) }
    return c.json({ ...envelope(c, data), message: 'Subscription created successfully' }, 201)
  })

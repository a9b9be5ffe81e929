import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { SubscriptionView, subscriptionView, UserIdQuery } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/subscription',
  operationId: 'getSubscription',
  tags: ['subscriptions'],
  summary: "The account's subscription",
  description:
    "`userId` defaults to the caller; an admin may read anyone's, anyone else gets 404 " +
    'for another account. 404 when the account has no subscription. Periods are calendar months (UTC): ' +
    '`currentPeriodStart` is the 1st at 00:00, `currentPeriodEnd` the last day of the month at 00:00; ' +
    'an active subscription read after its period ended shows (and stores) the period of today. ' +
    'A user session or an API key with `billing:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: UserIdQuery },
  responses: { 200: ok(SubscriptionView, 'The subscription'), ...errorResponses },
})

export const registerGetSubscription = (r: Router) =>
  r.openapi(route, async (c) => {
    const service = c.var.services.subscriptions
    const ctx = await service.owner(contextOf(c), c.req.valid('query').userId)
    const sub = await service.get(ctx)
    return c.json(envelope(c, subscriptionView(sub)), 200)
  })

import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { NumberDetails, NumberIdParam } from './schemas'
import { numberDetailsView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/numbers/{id}',
  operationId: 'getNumber',
  tags: ['numbers'],
  summary: 'One of your numbers',
  description:
    "The number, its configurations, recent calls and this and last calendar month's usage (UTC). " +
    "Calls are the number's call records, counted as GET /api/v1/analytics/calls counts them (usage records of `call_minutes` " +
    'that name the number: one call each, its minutes and cost); `analytics.*.cost` is the cost of those calls and `sms` the SMS ' +
    'received on the number. There are no call detail records, so `recentCalls` is empty. Released numbers stay readable.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { params: NumberIdParam },
  responses: { 200: ok(NumberDetails, 'The number'), ...errorResponses },
})

export const registerGetNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    const n = await c.var.services.dids.get(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, numberDetailsView(n)), 200)
  })

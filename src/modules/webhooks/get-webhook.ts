import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { EndpointIdParam, endpointView, WebhookEndpointView } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/webhooks/{id}',
  operationId: 'getWebhook',
  tags: ['webhooks'],
  summary: 'One webhook endpoint',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:read' })] as const,
  security: keySecurity,
  request: { params: EndpointIdParam },
  responses: { 200: ok(WebhookEndpointView, 'The endpoint'), ...errorResponses },
})

export const registerGetWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const e = await c.var.services.webhooks.get(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, endpointView(e)), 200)
  })

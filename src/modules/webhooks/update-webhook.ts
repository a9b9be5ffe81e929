import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { EndpointFields, EndpointIdParam, endpointView, WebhookEndpointView } from './schemas'

const Body = z.object({ ...EndpointFields, url: EndpointFields.url.optional(), events: EndpointFields.events.optional(), isActive: z.boolean().optional() }).openapi('UpdateWebhookRequest')

const route = createRoute({
  method: 'put',
  path: '/api/v1/webhooks/{id}',
  operationId: 'updateWebhook',
  tags: ['webhooks'],
  summary: 'Change a webhook endpoint',
  description: 'Only the fields sent change. `isActive: true` re-enables a disabled endpoint and restarts its failure clock.',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:write' })] as const,
  security: keySecurity,
  request: { params: EndpointIdParam, body: jsonBody(Body) },
  responses: { 200: ok(WebhookEndpointView, 'The endpoint'), ...errorResponses },
})

export const registerUpdateWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const e = await c.var.services.webhooks.update(contextOf(c), c.req.valid('param').id, c.req.valid('json'))
    return c.json(envelope(c, endpointView(e!)), 200)
  })

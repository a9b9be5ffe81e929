import { createRoute, z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { EndpointFields, endpointView, WithSecret } from './schemas'

const route = createRoute({
  method: 'post',
  path: '/api/v1/webhooks',
  operationId: 'createWebhook',
  tags: ['webhooks'],
  summary: 'Create a webhook endpoint',
  description:
    'Deliveries carry Standard Webhooks headers: `webhook-id` (the event id), `webhook-timestamp`, and ' +
    '`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the `whsec_` secret, which this answer ' +
    'shows once. Retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; only 2xx counts; 410 disables the endpoint.',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(z.object(EndpointFields).openapi('CreateWebhookRequest')) },
  responses: { 201: ok(WithSecret, 'Endpoint created'), ...errorResponses, 409: err('Too many endpoints (`WEBHOOK_LIMIT_REACHED`)') },
})

export const registerCreateWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const { endpoint, secret } = await c.var.services.webhooks.create(contextOf(c), c.req.valid('json'))
    return c.json(envelope(c, { ...endpointView(endpoint), secret }), 201)
  })

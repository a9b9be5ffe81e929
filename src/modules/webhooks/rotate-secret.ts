import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { EndpointIdParam, endpointView, WithSecret } from './schemas'

const Body = z
  .object({ gracePeriodHours: z.number().int().min(0).max(168).default(24).openapi({ description: 'How long the old secret keeps signing too (default 24)' }) })
  .openapi('RotateWebhookSecretRequest')

const route = createRoute({
  method: 'post',
  path: '/api/v1/webhooks/{id}/rotate-secret',
  operationId: 'rotateWebhookSecret',
  tags: ['webhooks'],
  summary: 'Rotate the signing secret',
  description: 'During the grace period every delivery carries two signatures (new and old) in `webhook-signature`, so partners can switch without missing one.',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:write' })] as const,
  security: keySecurity,
  request: { params: EndpointIdParam, body: { content: { 'application/json': { schema: Body } }, required: false } },
  responses: { 200: ok(WithSecret, 'The new secret, shown once'), ...errorResponses },
})

export const registerRotateSecret = (r: Router) =>
  r.openapi(route, async (c) => {
    const grace = c.req.valid('json')?.gracePeriodHours ?? 24
    const { endpoint, secret } = await c.var.services.webhooks.rotateSecret(contextOf(c), c.req.valid('param').id, grace)
    return c.json(envelope(c, { ...endpointView(endpoint), secret }), 200)
  })

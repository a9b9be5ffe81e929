import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { EVENT_TYPES } from './catalogue'
import { EndpointIdParam } from './schemas'

const Body = z
  .object({
    event: z.enum(EVENT_TYPES),
    customPayload: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Sent as `data`; default: an example of the event' }),
  })
  .openapi('TestWebhookRequest')

const Result = z.object({
  deliveryId: z.string(),
  eventId: z.string(),
  status: z.enum(['succeeded', 'failed']),
  httpStatus: z.number().int().nullable(),
  responseTime: z.number().int().nullable(),
  error: z.string().nullable(),
})

const route = createRoute({
  method: 'post',
  path: '/api/v1/webhooks/{id}/test',
  operationId: 'testWebhook',
  tags: ['webhooks'],
  summary: 'Send a signed test event now',
  description: 'One attempt, answered at once and logged among the deliveries (with `"test": true` in the body); not retried.',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:write' })] as const,
  security: keySecurity,
  request: { params: EndpointIdParam, body: jsonBody(Body) },
  responses: { 200: ok(Result, 'What the endpoint answered'), ...errorResponses },
})

export const registerTestWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const b = c.req.valid('json')
    const { deliveryId, eventId, outcome } = await c.var.services.webhooks.test(contextOf(c), c.req.valid('param').id, b.event, b.customPayload)
    const ok = outcome.kind === 'succeeded'
    return c.json(
      envelope(c, {
        deliveryId,
        eventId,
        status: ok ? ('succeeded' as const) : ('failed' as const),
        httpStatus: 'httpStatus' in outcome ? outcome.httpStatus : null,
        responseTime: 'responseTime' in outcome ? outcome.responseTime : null,
        error: 'error' in outcome ? outcome.error : outcome.kind === 'skipped' ? outcome.reason : null,
      }),
      200,
    )
  })

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { DeliveryView, deliveryView } from './schemas'

const route = createRoute({
  method: 'post',
  path: '/api/v1/webhooks/{id}/retry/{deliveryId}',
  operationId: 'retryWebhookDelivery',
  tags: ['webhooks'],
  summary: 'Retry a delivery now',
  description:
    'Queues the delivery again with the same event id (`webhook-id`). A delivery that succeeded is not sent again ' +
    '(409 `DELIVERY_SUCCEEDED`); a disabled endpoint must be re-enabled first (409 `ENDPOINT_DISABLED`).',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:write' })] as const,
  security: keySecurity,
  request: {
    params: z.object({
      id: z
        .string()
        .min(1)
        .max(64)
        .openapi({ param: { name: 'id', in: 'path' }, description: 'The webhook endpoint id' }),
      deliveryId: z
        .string()
        .min(1)
        .max(64)
        .openapi({ param: { name: 'deliveryId', in: 'path' }, description: 'The delivery id, from the delivery log' }),
    }),
  },
  responses: { 202: ok(DeliveryView, 'Queued'), ...errorResponses, 409: err('Already delivered (`DELIVERY_SUCCEEDED`), or the endpoint is disabled (`ENDPOINT_DISABLED`)') },
})

export const registerRetryDelivery = (r: Router) =>
  r.openapi(route, async (c) => {
    const { id, deliveryId } = c.req.valid('param')
    const d = await c.var.services.webhooks.retry(contextOf(c), id, deliveryId)
    return c.json(envelope(c, deliveryView(d)), 202)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { EndpointIdParam } from './schemas'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/webhooks/{id}',
  operationId: 'deleteWebhook',
  tags: ['webhooks'],
  summary: 'Delete a webhook endpoint and its delivery log',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:write' })] as const,
  security: keySecurity,
  request: { params: EndpointIdParam },
  responses: { 200: ok(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted'), ...errorResponses },
})

export const registerDeleteWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const { id } = c.req.valid('param')
    await c.var.services.webhooks.remove(contextOf(c), id)
    return c.json(envelope(c, { id, deleted: true as const }), 200)
  })

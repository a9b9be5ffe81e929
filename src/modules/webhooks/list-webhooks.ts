import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, keySecurity, listEnvelope, okList, PagePagination, pagePagination, PageQuery } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { endpointView, WebhookEndpointView } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/webhooks',
  operationId: 'listWebhooks',
  tags: ['webhooks'],
  summary: 'List your webhook endpoints',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:read' })] as const,
  security: keySecurity,
  request: { query: z.object(PageQuery) },
  responses: { 200: okList(WebhookEndpointView, PagePagination, 'Endpoints'), ...errorResponses },
})

export const registerListWebhooks = (r: Router) =>
  r.openapi(route, async (c) => {
    const { page, limit } = c.req.valid('query')
    const { rows, total } = await c.var.services.webhooks.list(contextOf(c), page, limit)
    return c.json(listEnvelope(c, rows.map(endpointView), pagePagination(page, limit, total)), 200)
  })

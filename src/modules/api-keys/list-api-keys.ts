import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, listEnvelope, okList, PagePagination, pagePagination, PageQuery, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ApiKeyView, apiKeyView } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/api-keys',
  operationId: 'listApiKeys',
  tags: ['api-keys'],
  summary: 'List your API keys (newest first; the plain key is never shown again)',
  middleware: [rateClass('general'), requireAuth({ sessionOnly: true })] as const,
  security: sessionSecurity,
  request: { query: z.object(PageQuery) },
  responses: { 200: okList(ApiKeyView, PagePagination, 'Keys'), ...errorResponses },
})

export const registerListApiKeys = (r: Router) =>
  r.openapi(route, async (c) => {
    const { page, limit } = c.req.valid('query')
    const { rows, total } = await c.var.services.apiKeys.list(contextOf(c), page, limit)
    return c.json(
      listEnvelope(
        c,
        rows.map((k) => apiKeyView(k)),
        pagePagination(page, limit, total),
      ),
      200,
    )
  })

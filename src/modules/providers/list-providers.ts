import { createRoute, z } from '@hono/zod-openapi'
import { aliasOperationId, errorResponses, listEnvelope, okList, PagePagination, pagePagination, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth } from '../../http/authenticate'
import { PROVIDER_PREFIXES, ProviderView, providerView } from './schemas'

const Query = z.object({
  page: z.coerce.number().int().min(1).default(1).openapi({ example: 1, description: 'Page number, from 1' }),
  limit: z.coerce.number().int().min(1).max(100).default(100).openapi({ example: 100, description: 'Providers per page (max 100)' }),
})

export const registerListProviders = (r: Router) => {
  for (const prefix of PROVIDER_PREFIXES) {
    const route = createRoute({
      method: 'get',
      path: prefix,
      operationId: aliasOperationId('listProviders', prefix),
      tags: ['admin'],
      summary: 'List providers',
      description:
        'Every upstream provider with its status, health (from the last sync: every 15 minutes, or on demand), ' +
        'last sync, last error, stock, priority and margin. The config is shown without anything named like a secret, key or token; ' +
        'credentials themselves live in Worker secrets and are never shown.',
      middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
      security: sessionSecurity,
      request: { query: Query },
      responses: { 200: okList(ProviderView, PagePagination, 'Providers'), ...errorResponses },
    })
    r.openapi(route, async (c) => {
      const q = c.req.valid('query')
      const { rows, total } = await c.var.services.providers.page(q.page, q.limit)
      return c.json(listEnvelope(c, rows.map(providerView), pagePagination(q.page, q.limit, total)), 200)
    })
  }
}

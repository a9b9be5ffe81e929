import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, listEnvelope, okList, PagePagination, pagePagination, PageQuery, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ACTIVATION_STATUSES, ActivationView, activationView } from './schemas'

const Query = z.object({
  ...PageQuery,
  status: z.enum(ACTIVATION_STATUSES).optional().openapi({ description: 'Only numbers in this state' }),
})

const route = createRoute({
  method: 'get',
  path: '/api/numbers/my',
  operationId: 'listActivations',
  tags: ['numbers'],
  summary: 'Your activation numbers, newest first',
  description: 'Paginated with `page`/`limit`. `code` is the code of the latest SMS, or null.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { query: Query },
  responses: { 200: okList(ActivationView, PagePagination, 'Numbers'), ...errorResponses },
})

export const registerListMyNumbers = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.activations.list(contextOf(c), q)
    return c.json(
      listEnvelope(
        c,
        rows.map((r) => activationView(r.record, r.code, r.withheldSms)),
        pagePagination(q.page, q.limit, total),
      ),
      200,
    )
  })

import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, keySecurity, listEnvelope, okList, PagePagination, pagePagination, PageQuery } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { iso } from '../../lib/time'
import { contextOf, requireAuth } from '../../http/authenticate'
import { DeliveryView, deliveryView, EndpointIdParam } from './schemas'

const Statuses = z
  .union([z.string(), z.array(z.string())])
  .transform((v) =>
    (Array.isArray(v) ? v : [v])
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(['pending', 'retrying', 'succeeded', 'failed'])))
  .optional()
  .openapi({
    type: 'array',
    items: { type: 'string', enum: ['pending', 'retrying', 'succeeded', 'failed'] },
    description: 'Only deliveries in one of these states: repeat the parameter or separate with commas',
  })

const route = createRoute({
  method: 'get',
  path: '/api/v1/webhooks/{id}/deliveries',
  operationId: 'listWebhookDeliveries',
  tags: ['webhooks'],
  summary: 'The delivery log of an endpoint, every attempt included (newest first)',
  middleware: [rateClass('general'), requireAuth({ permission: 'webhooks:read' })] as const,
  security: keySecurity,
  request: { params: EndpointIdParam, query: z.object({ ...PageQuery, status: Statuses, event: z.string().max(64).optional().openapi({ description: 'Only deliveries of this event type' }) }) },
  responses: { 200: okList(DeliveryView, PagePagination, 'Deliveries'), ...errorResponses },
})

export const registerListDeliveries = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, attempts, total } = await c.var.services.webhooks.deliveries(contextOf(c), c.req.valid('param').id, q)
    const data = rows.map((d) =>
      deliveryView(
        d,
        attempts
          .filter((a) => a.deliveryId === d.id)
          .map((a) => ({ attempt: a.attempt, status: a.status, httpStatus: a.httpStatus, responseTime: a.responseTimeMs, error: a.error, createdAt: iso(a.createdAt)! })),
      ),
    )
    return c.json(listEnvelope(c, data, pagePagination(q.page, q.limit, total)), 200)
  })

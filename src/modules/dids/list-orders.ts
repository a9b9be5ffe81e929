import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, keySecurity, Meta, meta, PagePagination, pagePagination } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ListOrdersQuery, OrdersSummary, OrderSummary } from './order-schemas'
import { ordersSummaryView, orderSummaryView } from './order-views'

const Response = z.object({ success: z.literal(true), data: z.array(OrderSummary), pagination: PagePagination, summary: OrdersSummary, meta: Meta })

const route = createRoute({
  method: 'get',
  path: '/api/v1/orders',
  operationId: 'listOrders',
  tags: ['orders'],
  summary: 'Your orders',
  description:
    "`data`, `pagination` and, beside them at the top level, `summary` — the account's orders whatever " +
    'the filters (count, total spent = charged − refunded, open orders: pending, processing, payment_failed). Filters: `status` and ' +
    '`type` (repeat or commas), `dateFrom`/`dateTo` on the creation time (a bare date covers its whole UTC day). Sort by createdAt ' +
    '(default, desc), totalAmount or status.',
  middleware: [rateClass('general'), requireAuth({ permission: 'orders:read' })] as const,
  security: keySecurity,
  request: { query: ListOrdersQuery },
  responses: { 200: { content: { 'application/json': { schema: Response } }, description: 'Orders' }, ...errorResponses },
})

export const registerListOrders = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total, stats } = await c.var.services.orders.list(contextOf(c), q)
    return c.json({ success: true as const, data: rows.map(orderSummaryView), pagination: pagePagination(q.page, q.limit, total), summary: ordersSummaryView(stats), meta: meta(c) }, 200)
  })

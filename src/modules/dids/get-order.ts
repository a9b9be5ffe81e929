import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { OrderDetails, OrderIdParam } from './order-schemas'
import { orderDetailsView } from './order-views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/orders/{id}',
  operationId: 'getOrder',
  tags: ['orders'],
  summary: 'One order with its items, numbers and timeline',
  description:
    'Each item is one number (`metadata`: its result, error, prices); `numbers` are the numbers the ' +
    'order bought; `timeline` is every status change with a note. Paid from the wallet (`paymentMethod: wallet`); no tax or discount applies.',
  middleware: [rateClass('general'), requireAuth({ permission: 'orders:read' })] as const,
  security: keySecurity,
  request: { params: OrderIdParam },
  responses: { 200: ok(OrderDetails, 'The order'), ...errorResponses },
})

export const registerGetOrder = (r: Router) =>
  r.openapi(route, async (c) => {
    const o = await c.var.services.orders.get(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, orderDetailsView(o)), 200)
  })

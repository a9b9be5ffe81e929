import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { CancelOrderBody, OrderDetails, OrderIdParam } from './order-schemas'
import { orderDetailsView } from './order-views'

const route = createRoute({
  method: 'put',
  path: '/api/v1/orders/{id}/cancel',
  operationId: 'cancelOrder',
  tags: ['orders'],
  summary: 'Cancel an order',
  description:
    'An unpaid order (pending, payment_failed) is simply cancelled. A completed or partially completed ' +
    'order can be cancelled within 24 hours of completion: its numbers are released and what was charged is credited back to the ' +
    'wallet (once, however often this is called; `refundRequested: false` releases without refunding). A processing order (its ' +
    'purchase is running), a failed or an already cancelled one answers 409 ORDER_NOT_CANCELLABLE.',
  middleware: [rateClass('general'), requireAuth({ permission: 'orders:write' })] as const,
  security: keySecurity,
  request: { params: OrderIdParam, body: jsonBody(CancelOrderBody) },
  responses: {
    200: ok(OrderDetails, 'The cancelled order'),
    ...errorResponses,
    409: err('The order cannot be cancelled now (`ORDER_NOT_CANCELLABLE`)'),
    502: err('A number could not be released upstream (`UPSTREAM_ERROR`); nothing was refunded'),
  },
})

export const registerCancelOrder = (r: Router) =>
  r.openapi(route, async (c) => {
    const o = await c.var.services.orders.cancel(contextOf(c), c.req.valid('param').id, c.req.valid('json'))
    return c.json(envelope(c, orderDetailsView(o)), 200)
  })

import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../lib/router'
import { principalOf, requireAuth } from '../../middleware/authenticate'
import { PurchaseResult } from '../dids/schemas'
import { ordersOf } from './deps'
import { OrderIdParam, RetryPaymentBody } from './schemas'

const route = createRoute({
  method: 'post',
  path: '/api/v1/orders/{id}/retry-payment',
  tags: ['orders'],
  summary: 'Pay an order again',
  description:
    'Seed 001 RetryPaymentRequest. For a `payment_failed` order (or an unpaid `pending` one): its numbers are reserved again, the ' +
    'total held and the purchase runs as POST /api/v1/numbers/purchase does; the answer is the same NumberPurchaseResponse. Still not ' +
    'enough money: 400 INSUFFICIENT_BALANCE and the order stays payment_failed. None of its numbers for sale any more: 409 ' +
    'NUMBER_NOT_AVAILABLE and the order is failed. Any other status: 409 ORDER_NOT_RETRYABLE. `paymentMethodId` is accepted; orders are ' +
    'paid from the wallet.',
  middleware: [requireAuth({ permission: 'orders:write' })] as const,
  security: keySecurity,
  request: { params: OrderIdParam, body: { content: { 'application/json': { schema: RetryPaymentBody } }, required: false } },
  responses: {
    200: ok(PurchaseResult, 'The purchase result'),
    ...errorResponses,
    400: err('Invalid input (`VALIDATION_ERROR`) or not enough money (`INSUFFICIENT_BALANCE`)'),
    409: err('`ORDER_NOT_RETRYABLE` or `NUMBER_NOT_AVAILABLE`'),
  },
})

export const registerRetryPayment = (r: Router) =>
  r.openapi(route, async (c) => {
    const result = await ordersOf(c.var.services).retryPayment(principalOf(c).userId, c.req.valid('param').id)
    return c.json(envelope(c, result), 200)
  })

import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { principalOf, requireAuth, contextOf } from '../../http/authenticate'
import { idempotencyScope } from '../../http/idempotency'
import { PurchaseResult } from './schemas'
import { OrderIdParam, RetryPaymentBody } from './order-schemas'
import { purchaseResultView } from './order-views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/orders/{id}/retry-payment',
  operationId: 'retryOrderPayment',
  tags: ['orders'],
  summary: 'Pay an order again',
  description:
    'For a `payment_failed` order (or an unpaid `pending` one): its numbers are reserved again, the ' +
    'total held and the purchase runs as POST /api/v1/numbers/purchase does; the answer is the same NumberPurchaseResponse. Still not ' +
    'enough money: 400 INSUFFICIENT_BALANCE and the order stays payment_failed. None of its numbers for sale any more: 409 ' +
    'NUMBER_NOT_AVAILABLE and the order is failed. Any other status: 409 ORDER_NOT_RETRYABLE. `paymentMethodId` (one of your ' +
    'payment methods; default: the one the order was placed with, if any; `"wallet"`: the wallet alone) is charged the total and ' +
    'added to the wallet first, as on the purchase; what is not bought stays in the wallet. Declined: 402 PAYMENT_FAILED and the ' +
    'order stays payment_failed; an unknown method: 404. With an `Idempotency-Key` a retried request never charges twice, even when the ' +
    'total changed since the first try (which ended in a 5xx): what that try charged counts, and only a larger total charges the difference.',
  middleware: [rateClass('purchase'), idempotent(), requireAuth({ permission: 'orders:write' })] as const,
  security: keySecurity,
  request: { params: OrderIdParam, body: { content: { 'application/json': { schema: RetryPaymentBody } }, required: false } },
  responses: {
    200: ok(PurchaseResult, 'The purchase result'),
    ...errorResponses,
    400: err('Invalid input (`VALIDATION_ERROR`) or not enough money (`INSUFFICIENT_BALANCE`)'),
    402: err('The payment method was declined (`PAYMENT_FAILED`)'),
    409: err('`ORDER_NOT_RETRYABLE` or `NUMBER_NOT_AVAILABLE`'),
  },
})

export const registerRetryPayment = (r: Router) =>
  r.openapi(route, async (c) => {
    const p = principalOf(c)
    const body = c.req.valid('json') ?? {}
    const key = c.req.header('idempotency-key')
    const result = await c.var.services.orders.retryPayment(contextOf(c), c.req.valid('param').id, {
      paymentMethodId: body.paymentMethodId,
      idempotency: key ? { scope: idempotencyScope(p), key } : undefined,
    })
    return c.json(envelope(c, purchaseResultView(result, c.var.services.config.appUrl)), 200)
  })

import { createRoute, type z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { principalOf, requireAuth, contextOf } from '../../http/authenticate'
import { idempotencyScope } from '../../http/idempotency'
import { PurchaseResult } from './schemas'
import { checkSmsUrls } from './sms-url'
import { CreateOrderBody, OrderDetails } from './order-schemas'
import { orderDetailsView, purchaseResultView } from './order-views'

const Created = OrderDetails.extend({
  results: PurchaseResult.shape.results.optional(),
  summary: PurchaseResult.shape.summary.optional(),
}).openapi('CreatedOrder')

const route = createRoute({
  method: 'post',
  path: '/api/v1/orders',
  operationId: 'createOrder',
  tags: ['orders'],
  summary: 'Create an order',
  description:
    'Each item buys one number: `itemId` is the E.164 number or its inventory id, `quantity` is 1, ' +
    '`metadata.friendlyName` / `metadata.configuration` set the number up. With `autoComplete` (default true) the order runs the same ' +
    'flow as POST /api/v1/numbers/purchase (reserve, hold, buy, charge only what was bought) and the answer adds the per-number ' +
    '`results` and `summary`; with `autoComplete: false` it waits unpaid (`pending`) until POST /api/v1/orders/{id}/retry-payment. ' +
    '`customPrice` (the whole first charge) is for admins only (403 otherwise; through an API key, one holding the `admin` permission). ' +
    '`billing.paymentMethodId` pays as on the purchase: ' +
    'the total is charged to that payment method and added to the wallet first (what is not bought stays in the wallet); with ' +
    '`autoComplete: false` it is the method retry-payment charges. `billing.promoCode` is a 400: there are no promotions yet. ' +
    'Errors as the purchase: 409 NUMBER_NOT_AVAILABLE, 400 INSUFFICIENT_BALANCE or 402 PAYMENT_FAILED (the order is kept as ' +
    'payment_failed), 404 for an unknown payment method. Rate class `purchase`.',
  middleware: [rateClass('purchase'), idempotent(), requireAuth({ permission: 'orders:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(CreateOrderBody) },
  responses: {
    201: ok(Created, 'The order'),
    ...errorResponses,
    400: err('Invalid input (`VALIDATION_ERROR`) or not enough money (`INSUFFICIENT_BALANCE`)'),
    402: err('The payment method was declined (`PAYMENT_FAILED`)'),
    409: err('None of the numbers can be bought (`NUMBER_NOT_AVAILABLE`)'),
  },
})

export const registerCreateOrder = (r: Router) =>
  r.openapi(route, async (c) => {
    const input = c.req.valid('json')
    checkSmsUrls(
      c.var.services.config,
      input.items.map((it, i) => [`items.${i}.metadata.configuration.smsUrl`, it.metadata?.configuration?.smsUrl]),
    )
    const p = principalOf(c)
    const key = c.req.header('idempotency-key')
    const { order, result } = await c.var.services.orders.create(contextOf(c), input, { idempotency: key ? { scope: idempotencyScope(p), key } : undefined })
    const details = orderDetailsView(order)
    const placed = result && purchaseResultView(result, c.var.services.config.appUrl)
    const body: z.infer<typeof Created> = placed ? { ...details, results: placed.results, summary: placed.summary } : details
    return c.json(envelope(c, body), 201)
  })

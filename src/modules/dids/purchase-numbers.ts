import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { principalOf, requireAuth, contextOf } from '../../http/authenticate'
import { idempotencyScope } from '../../http/idempotency'
import { PurchaseBody, PurchaseResult } from './schemas'
import { checkSmsUrls } from './sms-url'
import { purchaseResultView } from './order-views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/numbers/purchase',
  operationId: 'purchaseNumbers',
  tags: ['numbers'],
  summary: 'Buy numbers',
  description:
    'Each number is reserved for this account (NumberLock, 5 minutes), the total (setup + first month of the reserved ' +
    'numbers) is held in the wallet, then the numbers are bought upstream one by one. Each result is `SUCCESS` (active), `PENDING` (the ' +
    'upstream accepted it and activates it later — charged like a success; or the upstream did not answer, see below) or `FAILED` ' +
    '(not for sale, reserved by another account, upstream refusal — not charged). SUCCESS and accepted PENDING numbers are charged; ' +
    'the rest of the hold is released. The answer always ' +
    'names the order (`status` completed, partially_completed or failed) with its timeline at GET /api/v1/orders/{id}.\n\n' +
    'A number whose purchase gets no answer from the provider (a timeout) may have been bought: it is `PENDING` with a `message`, ' +
    'the order stays `processing` and its price stays held; within a few minutes the provider is asked about it, and it is then ' +
    'charged and activated (NUMBER_PURCHASED) if bought, or released and not charged if not.\n\n' +
    'When none of the numbers can be reserved: 409 `NUMBER_NOT_AVAILABLE` (details.results), no order. When the wallet cannot pay: 400 ' +
    '`INSUFFICIENT_BALANCE` (details: required, available, orderId) — the order is kept as `payment_failed` and can be paid with ' +
    'POST /api/v1/orders/{id}/retry-payment.\n\n' +
    'With `billing.paymentMethodId` (one of your payment methods, GET /api/v1/billing/payment-methods) the total is first charged ' +
    'to that method and added to your wallet, as POST /api/v1/billing/top-up does (a `wallet_topup` payment; the wallet shows the ' +
    'credit, then the capture of what was bought); the order then runs as above, and what was not bought stays in your wallet. ' +
    'A declined charge: 402 `PAYMENT_FAILED` (details: failureReason, orderId), the order kept as `payment_failed`, nothing bought. ' +
    'An unknown or deleted method, or another account\'s: 404. Without it (or with `"wallet"`) the wallet pays. Send an ' +
    '`Idempotency-Key`: a retried request finds the payment the first one made and never charges twice — also when the total ' +
    'changed since the first try (which ended in a 5xx, so the key was free again) because a number was sold or freed meanwhile: ' +
    'what was charged counts, a smaller total leaves the rest in the wallet, a larger one charges only the difference. `billing.promoCode` is a ' +
    '400: there are no promotions yet.\n\n' +
    '`configuration.defaultRouting` applies to every number unless its own `configuration` says otherwise. Rate class `purchase`.',
  middleware: [rateClass('purchase'), idempotent(), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(PurchaseBody) },
  responses: {
    201: ok(PurchaseResult, 'Order written; per-number results'),
    ...errorResponses,
    400: err('Invalid input (`VALIDATION_ERROR`) or not enough money (`INSUFFICIENT_BALANCE`)'),
    402: err('The payment method was declined (`PAYMENT_FAILED`)'),
    409: err('None of the numbers can be bought (`NUMBER_NOT_AVAILABLE`)'),
  },
})

export const registerPurchaseNumbers = (r: Router) =>
  r.openapi(route, async (c) => {
    const body = c.req.valid('json')
    checkSmsUrls(
      c.var.services.config,
      body.numbers.map((n, i) => [`numbers.${i}.configuration.smsUrl`, n.configuration?.smsUrl]),
    )
    const p = principalOf(c)
    const key = c.req.header('idempotency-key')
    const result = await c.var.services.purchase.place(contextOf(c), body.numbers, {
      billing: body.billing,
      defaultRouting: body.configuration?.defaultRouting,
      idempotency: key ? { scope: idempotencyScope(p), key } : undefined,
    })
    return c.json(envelope(c, purchaseResultView(result, c.var.services.config.appUrl)), 201)
  })

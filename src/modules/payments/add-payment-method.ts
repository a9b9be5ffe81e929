import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, IdempotencyKeyHeader } from '../../http/idempotency'
import { AddPaymentMethodBody, PaymentMethodView, paymentMethodView } from './schemas'

const route = createRoute({
  method: 'post',
  path: '/api/v1/billing/payment-methods',
  operationId: 'addPaymentMethod',
  tags: ['billing'],
  summary: 'Add a payment method',
  description:
    '`processor`: `sandbox` (default; no account needed) or `stripe` (only when the ' +
    "server has STRIPE_SECRET_KEY, else 400), any case. `token` is the processor's token: the sandbox accepts Stripe's test " +
    'tokens `tok_visa`, `tok_mastercard`, `tok_amex` (charge fine), `tok_chargeDeclined` and `tok_chargeDeclinedInsufficientFunds` ' +
    '(added fine, every charge declined) and `btok_us_verified` (a bank account); any other token is 400 on `token`. With ' +
    "Stripe, a card token (`tok_…`) becomes a PaymentMethod attached to the account's Stripe customer (created on first use). " +
    '`type` must match the token: `credit_card`, `debit_card` or `card` for a card, `bank_account` for a bank account (any case). ' +
    "The account's first method becomes its default; `makeDefault: true` makes the new one the default. " +
    'A user session or an API key with `billing:write`.',
  middleware: [rateClass('general'), idempotent(), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(AddPaymentMethodBody) },
  responses: { 201: ok(PaymentMethodView, 'The payment method'), ...errorResponses, ...idempotencyErrorResponses },
})

export const registerAddPaymentMethod = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.paymentMethods.add(contextOf(c), c.req.valid('json'))
    return c.json(envelope(c, paymentMethodView(row)), 201)
  })

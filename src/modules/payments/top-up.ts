import { createRoute, z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import { toMicros } from '../../lib/money'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, IdempotencyKeyHeader } from '../../http/idempotency'
import { balanceView, WalletBalance } from '../wallet/schemas'
import { PaymentView, paymentView, TopUpBody } from './schemas'

const Result = z.object({ payment: PaymentView, balance: WalletBalance }).openapi('WalletTopUpByPaymentMethodResult')

const route = createRoute({
  method: 'post',
  path: '/api/v1/billing/top-up',
  operationId: 'topUpWallet',
  tags: ['billing', 'wallet'],
  summary: 'Add money to your wallet from a payment method',
  description:
    "Charges `amount` (USD, > 0, at most 10,000, whole cents) to `paymentMethodId` (default: the account's default method; " +
    "404 for an unknown, deleted or another account's method, 400 when the account has none), records the payment " +
    '(`purpose: wallet_topup`) and credits the wallet. Answers 201 with the payment and the new balance. A declined charge ' +
    'answers 402 `PAYMENT_FAILED` (`details.failureReason`, `details.code`, the failed payment in `details.payment`); ' +
    'nothing is credited. Events: `PAYMENT_SUCCEEDED` or `PAYMENT_FAILED`.\n\n' +
    'Send an `Idempotency-Key`: a retry with the same key answers the first response and never charges or credits twice; ' +
    'the key also names the payment attempt (per account), so even a retry after a crash mid-way, or after the 24 h replay ' +
    'window, finishes the same payment instead of starting another. If the processor cannot be reached the answer is 502 ' +
    'and the payment stays `pending` until a retry with the same key finishes it — within 23 hours: an attempt still pending ' +
    'after that is not sent to the processor again (processors forget idempotency keys after a day, so it could charge twice) ' +
    'and answers 409 `PAYMENT_UNDER_REVIEW`. A user session or an API key with `billing:write`.',
  middleware: [rateClass('purchase'), idempotent(), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(TopUpBody) },
  responses: {
    201: ok(Result, 'The payment and the new balance'),
    ...errorResponses,
    402: err('The charge was declined (`PAYMENT_FAILED`)'),
    ...idempotencyErrorResponses,
  },
})

export const registerTopUp = (r: Router) =>
  r.openapi(route, async (c) => {
    const body = c.req.valid('json')
    const { payment, balance } = await c.var.services.topUps.topUp(contextOf(c), {
      amount: toMicros(body.amount),
      paymentMethodId: body.paymentMethodId,
      idempotencyKey: c.req.valid('header')['idempotency-key'],
    })
    return c.json(envelope(c, { payment: paymentView(payment), balance: balanceView(balance) }), 201)
  })

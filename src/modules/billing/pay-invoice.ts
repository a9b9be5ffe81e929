import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import { optionalJsonBody } from '../../http/optional-body'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, IdempotencyKeyHeader } from '../../http/idempotency'
import { InvoiceIdParam, PayInvoiceBody, PayInvoiceResult } from './schemas'
import { paymentView, summaryView } from './invoice-views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/billing/invoices/{id}/pay',
  operationId: 'payInvoice',
  tags: ['invoices'],
  summary: 'Pay an invoice',
  description:
    '`paymentMethodId` `wallet` (or none) pays from the wallet (400 INSUFFICIENT_BALANCE when it ' +
    'cannot); any other id charges that saved payment method of yours (404 if it is not yours). `amount` (decimal, whole cents, ' +
    'more than 0 and at most the amount due; default: all of it) allows partial payments: the invoice is `partially_paid` until ' +
    'the rest is paid, then `paid` (an overdue invoice stays `overdue` until fully paid). A paid or void invoice is 409 ' +
    '`INVOICE_NOT_PAYABLE`. A declined card is 402 `PAYMENT_FAILED`, recorded as a failed payment; the invoice is unchanged. ' +
    "Concurrent payments of one invoice move money once: the one that loses the race answers with the winner's payment when it " +
    'was the same payment (a double submit), or 409 `PAYMENT_CONFLICT` with the invoice as it is now. Answer: the payment and the ' +
    'invoice summary after it. Honours Idempotency-Key.',
  middleware: [rateClass('purchase'), idempotent(), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { headers: IdempotencyKeyHeader, params: InvoiceIdParam, body: { ...jsonBody(PayInvoiceBody), required: false } },
  responses: {
    200: ok(PayInvoiceResult, 'The payment and the invoice after it'),
    ...errorResponses,
    400: err('Invalid input (`VALIDATION_ERROR`: amount over the amount due, not whole cents) or not enough money (`INSUFFICIENT_BALANCE`)'),
    402: err('The payment method was declined (`PAYMENT_FAILED`)'),
    409: err(
      '`INVOICE_NOT_PAYABLE` (paid or void), `PAYMENT_CONFLICT` (another payment landed first), `PAYMENT_UNDER_REVIEW` (an earlier card ' +
        'payment did not finish and is too old to send to the processor again), or `IDEMPOTENCY_KEY_IN_USE`',
    ),
    422: idempotencyErrorResponses[422],
  },
})

export const registerPayInvoice = (r: Router) =>
  r.openapi(route, async (c) => {
    // The body is optional: none means the whole amount due, from the wallet.
    const body = await optionalJsonBody(c, PayInvoiceBody)
    const { payment, invoice } = await c.var.services.invoicePayments.pay(contextOf(c), c.req.valid('param').id, body)
    return c.json(envelope(c, { payment: paymentView(payment), invoice: summaryView(invoice) }), 200)
  })

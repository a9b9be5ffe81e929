import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { BillingAccountView, UpdateBillingAccountBody } from './schemas'
import { billingAccountView } from './views'

const route = createRoute({
  method: 'put',
  path: '/api/v1/billing/account',
  operationId: 'updateBillingAccount',
  tags: ['billing'],
  summary: 'Change your billing details',
  description:
    'Only `company`, `taxId`, `billingAddress`, `autoPayEnabled`, `autoTopUp` and ' +
    '`billingCycle` are writable, and only the fields sent change (`null` or "" clears `company`/`taxId`; `billingAddress` replaces ' +
    'the whole address). Any other field — the balance, the credit limit, customer ids — is refused with 400 `VALIDATION_ERROR` ' +
    'naming it, rather than silently ignored. `billingCycle` accepts `MONTHLY` (any case) only: invoices are monthly.\n\n' +
    '`autoTopUp` `{enabled, threshold, amount, paymentMethodId}` (each optional; USD, whole cents; `amount` at most 10,000): once a ' +
    'day the billing run tops the wallet up by `amount` from `paymentMethodId` (null: the default payment method at the time) when ' +
    'the available balance is below `threshold` — at most once per UTC day, as `POST /api/v1/billing/top-up` does (a payment ' +
    '`wallet_topup`, events `PAYMENT_SUCCEEDED` / `PAYMENT_FAILED` with `autoTopUp: true`). A declined charge is recorded and not ' +
    'tried again before the next day. Enabling needs a threshold, an amount and a payment method (400 naming ' +
    '`autoTopUp.threshold`, `autoTopUp.amount` or `autoTopUp.paymentMethodId` otherwise).\n\n' +
    'Answers the whole account. A user session or an API key with `billing:write`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(UpdateBillingAccountBody) },
  responses: { 200: ok(BillingAccountView, 'The billing account'), ...errorResponses },
})

export const registerUpdateBillingAccount = (r: Router) =>
  r.openapi(route, async (c) => {
    const service = c.var.services.billingAccounts
    const ctx = contextOf(c)
    await service.update(ctx, c.req.valid('json'))
    return c.json(envelope(c, billingAccountView(await service.summary(ctx))), 200)
  })

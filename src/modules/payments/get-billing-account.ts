import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { BillingAccountView } from './schemas'
import { billingAccountView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/billing/account',
  operationId: 'getBillingAccount',
  tags: ['billing'],
  summary: 'Your billing account',
  description:
    'Created on first read with the defaults: `billingCycle` MONTHLY, `currency` USD, ' +
    '`autoPayEnabled` false, no address. `accountBalance` is the wallet balance (GET /api/wallet/balance `balance`); ' +
    '`defaultPaymentMethod` the id of the default payment method (null without one); `nextBillingDate` the 1st of next month ' +
    "(UTC), when the monthly invoice is made; `isActive`/`isSuspended`/`suspensionReason` follow the account's status. " +
    '`creditLimit` is null (no credit is extended); `stripeCustomerId` is set once a Stripe payment method is added. ' +
    '`autoTopUp` is the automatic wallet top-up: `enabled`, `threshold` and `amount` (USD), `paymentMethodId` (null: the default ' +
    'method) and `lastTopUp`, the latest one made (its UTC `date`, `status`, `amount`, `paymentId`, `failureReason`). ' +
    'A user session or an API key with `billing:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  responses: { 200: ok(BillingAccountView, 'The billing account'), ...errorResponses },
})

export const registerGetBillingAccount = (r: Router) =>
  r.openapi(route, async (c) => {
    const summary = await c.var.services.billingAccounts.summary(contextOf(c))
    return c.json(envelope(c, billingAccountView(summary)), 200)
  })

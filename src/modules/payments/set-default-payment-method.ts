import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { PaymentMethodIdParam, PaymentMethodView, paymentMethodView } from './schemas'

const route = createRoute({
  method: 'put',
  path: '/api/v1/billing/payment-methods/{id}/default',
  operationId: 'setDefaultPaymentMethod',
  tags: ['billing'],
  summary: 'Make a payment method the default',
  description:
    "The method becomes the account's default and the previous default stops being one, in one transaction " +
    "(an account never has two defaults). 404 for an unknown, deleted or another account's method. No body. " +
    'A user session or an API key with `billing:write`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { params: PaymentMethodIdParam },
  responses: { 200: ok(PaymentMethodView, 'The new default'), ...errorResponses },
})

export const registerSetDefaultPaymentMethod = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.paymentMethods.setDefault(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, paymentMethodView(row)), 200)
  })

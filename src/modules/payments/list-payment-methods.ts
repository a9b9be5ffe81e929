import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, keySecurity, listEnvelope, okList, PagePagination, pagePagination, PageQuery } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { PaymentMethodView, paymentMethodView } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/billing/payment-methods',
  operationId: 'listPaymentMethods',
  tags: ['billing'],
  summary: 'Your payment methods',
  description:
    "The account's active methods (deleted ones are not listed), the default first, then " +
    'newest first, with page/limit pagination. Card fields (`last4`, `brand`, `expiryMonth`, `expiryYear`) and bank ' +
    'fields (`bankName`, `accountType`) are present when they apply. A user session or an API key with `billing:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: z.object(PageQuery) },
  responses: { 200: okList(PaymentMethodView, PagePagination, 'Payment methods'), ...errorResponses },
})

export const registerListPaymentMethods = (r: Router) =>
  r.openapi(route, async (c) => {
    const { page, limit } = c.req.valid('query')
    const { rows, total } = await c.var.services.paymentMethods.list(contextOf(c), page, limit)
    return c.json(listEnvelope(c, rows.map(paymentMethodView), pagePagination(page, limit, total)), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { PaymentMethodIdParam } from './schemas'

const Deleted = z
  .object({
    id: z.string(),
    deleted: z.literal(true),
    defaultPaymentMethod: z.string().nullable().openapi({ description: "The account's default payment method after the deletion" }),
  })
  .openapi('PaymentMethodDeleted')

const route = createRoute({
  method: 'delete',
  path: '/api/v1/billing/payment-methods/{id}',
  operationId: 'deletePaymentMethod',
  tags: ['billing'],
  summary: 'Remove a payment method',
  description:
    'Detaches the method at its processor, then removes it (kept as a deleted record for past payments; it is ' +
    'no longer listed or charged). When it was the default, the newest remaining method becomes the default. 404 for an ' +
    "unknown, already deleted or another account's method; 502 when the processor cannot be reached (nothing changes). " +
    'A user session or an API key with `billing:write`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { params: PaymentMethodIdParam },
  responses: { 200: ok(Deleted, 'Removed'), ...errorResponses },
})

export const registerDeletePaymentMethod = (r: Router) =>
  r.openapi(route, async (c) => {
    const { id } = c.req.valid('param')
    const { defaultPaymentMethod } = await c.var.services.paymentMethods.remove(contextOf(c), id)
    return c.json(envelope(c, { id, deleted: true as const, defaultPaymentMethod }), 200)
  })

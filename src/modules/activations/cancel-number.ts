import { createRoute, z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ActivationView, activationView } from './schemas'

const Body = z.object({ numberId: z.string().trim().min(1).max(64).openapi({ example: 'num_abc123' }) }).openapi('CancelNumberRequest')

const route = createRoute({
  method: 'post',
  path: '/api/numbers/cancel',
  operationId: 'cancelActivation',
  tags: ['numbers'],
  summary: 'Cancel a number before any SMS arrived (refunded)',
  description:
    'Cancels the activation upstream, then refunds its price to the wallet (`billing: refunded`; `refund_pending` when the credit ' +
    'could not be made at once — it is finished within minutes, exactly once). Refused once an SMS arrived ' +
    '(`409 ACTIVATION_HAS_SMS`) or when the number is no longer active (`409 ACTIVATION_NOT_ACTIVE`). Two concurrent cancels refund once.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(Body) },
  responses: {
    200: ok(ActivationView, 'Cancelled and refunded'),
    ...errorResponses,
    409: err('An SMS already arrived (`ACTIVATION_HAS_SMS`) or the number is not active (`ACTIVATION_NOT_ACTIVE`)'),
    502: err('The provider refused or failed the cancellation (`UPSTREAM_ERROR`); nothing changed'),
  },
})

export const registerCancelNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    const record = await c.var.services.activations.cancel(contextOf(c), c.req.valid('json').numberId)
    return c.json(envelope(c, activationView(record)), 200)
  })

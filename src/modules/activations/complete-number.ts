import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ActivationView, NumberIdParam, activationView } from './schemas'

const route = createRoute({
  method: 'post',
  path: '/api/numbers/{id}/complete',
  operationId: 'completeActivation',
  tags: ['numbers'],
  summary: 'Mark a number whose SMS arrived as completed',
  description:
    'Moves `sms_received` → `completed` and closes the activation upstream. ' +
    'Completing an already completed number answers it again. Numbers still waiting for an SMS answer `409 ACTIVATION_NO_SMS` ' +
    '(cancel them instead); cancelled or expired ones `409 ACTIVATION_NOT_ACTIVE`. Numbers with an SMS are completed ' +
    'automatically when they expire.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: NumberIdParam },
  responses: {
    200: ok(ActivationView, 'Completed'),
    ...errorResponses,
    409: err('No SMS yet (`ACTIVATION_NO_SMS`) or cancelled/expired (`ACTIVATION_NOT_ACTIVE`)'),
  },
})

export const registerCompleteNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    const record = await c.var.services.activations.complete(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, activationView(record)), 200)
  })

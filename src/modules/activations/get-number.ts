import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ActivationDetail, NumberIdParam, activationView, smsView } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/numbers/{id}',
  operationId: 'getActivation',
  tags: ['numbers'],
  summary: 'One of your numbers, with the SMS it received',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { params: NumberIdParam },
  responses: { 200: ok(ActivationDetail, 'The number'), ...errorResponses },
})

export const registerGetNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    const { record, sms, code, withheldSms } = await c.var.services.activations.get(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, { ...activationView(record, code, withheldSms), sms: sms.map(smsView) }), 200)
  })

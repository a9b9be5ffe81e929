import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { principalOf, requireAuth } from '../../http/authenticate'
import { numberCallbackSecret } from './delivery'

const route = createRoute({
  method: 'get',
  path: '/api/v1/webhooks/number-callback-secret',
  operationId: 'getNumberCallbackSecret',
  tags: ['webhooks'],
  summary: "The secret that signs deliveries to your numbers' own smsUrl",
  description: "Deliveries to a number's `smsUrl` carry the same Standard Webhooks headers as endpoint deliveries, signed with this per-account secret.",
  middleware: [rateClass('general'), requireAuth({ sessionOnly: true })] as const,
  security: sessionSecurity,
  responses: { 200: ok(z.object({ secret: z.string() }), 'The secret'), ...errorResponses },
})

export const registerNumberCallbackSecret = (r: Router) => r.openapi(route, async (c) => c.json(envelope(c, { secret: await numberCallbackSecret(c.var.services, principalOf(c).userId) }), 200))

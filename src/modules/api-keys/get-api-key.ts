import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ApiKeyView, apiKeyView, KeyIdParam } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/api-keys/{id}',
  operationId: 'getApiKey',
  tags: ['api-keys'],
  summary: 'One of your API keys',
  middleware: [rateClass('general'), requireAuth({ sessionOnly: true })] as const,
  security: sessionSecurity,
  request: { params: KeyIdParam },
  responses: { 200: ok(ApiKeyView, 'The key'), ...errorResponses },
})

export const registerGetApiKey = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.apiKeys.get(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, apiKeyView(row)), 200)
  })

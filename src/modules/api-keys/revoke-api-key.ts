import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ApiKeyView, apiKeyView, KeyIdParam } from './schemas'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  tags: ['api-keys'],
  summary: 'Revoke an API key',
  description: 'Takes effect on the next request made with the key. Idempotent.',
  middleware: [rateClass('general'), requireAuth({ sessionOnly: true })] as const,
  security: sessionSecurity,
  request: { params: KeyIdParam },
  responses: { 200: ok(ApiKeyView, 'The revoked key'), ...errorResponses },
})

export const registerRevokeApiKey = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.apiKeys.revoke(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, apiKeyView(row)), 200)
  })

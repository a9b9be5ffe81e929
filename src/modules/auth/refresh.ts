import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, ok, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { RefreshTokenFields, TokenPair, tokenPair } from './schemas'

const Body = z
  .object(RefreshTokenFields)
  .refine((b) => b.refreshToken || b.refresh_token, { path: ['refreshToken'], message: 'refreshToken (or refresh_token) is required' })
  .openapi('RefreshRequest')

const route = createRoute({
  method: 'post',
  path: '/api/v1/auth/refresh',
  operationId: 'refreshSession',
  tags: ['auth'],
  summary: 'Exchange a refresh token for a new token pair',
  description:
    'Accepts `refreshToken` or `refresh_token` (OAuth2 style). Refresh tokens rotate: each works once. ' +
    'Presenting a used one revokes the whole session (every token of that login, access tokens included): 401 `INVALID_TOKEN`.',
  middleware: [rateClass('general')] as const,
  security: publicSecurity,
  request: { body: jsonBody(Body) },
  responses: { 200: ok(TokenPair, 'New token pair'), 400: errorResponses[400], 401: errorResponses[401], 403: errorResponses[403], 429: errorResponses[429] },
})

export const registerRefresh = (r: Router) =>
  r.openapi(route, async (c) => {
    const b = c.req.valid('json')
    const tokens = await c.var.services.auth.refresh((b.refreshToken ?? b.refresh_token)!)
    return c.json(envelope(c, tokenPair(tokens)), 200)
  })

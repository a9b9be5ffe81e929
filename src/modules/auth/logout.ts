import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, optionalSessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { RefreshTokenFields } from './schemas'

const Body = z.object({ ...RefreshTokenFields, allDevices: z.boolean().optional() }).openapi('LogoutRequest')

const route = createRoute({
  method: 'post',
  path: '/api/v1/auth/logout',
  operationId: 'logOut',
  tags: ['auth'],
  summary: 'Log out',
  description:
    'With `allDevices: true` (needs an access token; an API key gets 403 `FORBIDDEN`) every session of the account ends; with a refresh token, that ' +
    "token's session; otherwise the session of the access token sent. Access tokens of an ended session stop working at once. " +
    'An expired access token is ignored when a refresh token is given, so clients can always log out.',
  middleware: [rateClass('general')] as const,
  security: optionalSessionSecurity,
  request: { body: { content: { 'application/json': { schema: Body } }, required: false } },
  responses: {
    200: ok(z.object({ loggedOut: z.literal(true), sessionsRevoked: z.number().int() }), 'Logged out'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
  },
})

export const registerLogout = (r: Router) =>
  r.openapi(route, async (c) => {
    const b = c.req.valid('json') ?? {}
    const refreshToken = b.refreshToken ?? b.refresh_token
    const authError = c.get('authError')
    if (authError && !refreshToken) throw authError
    const result = await c.var.services.auth.logout(c.get('principal'), refreshToken, b.allDevices ?? false)
    return c.json(envelope(c, { loggedOut: true as const, ...result }), 200)
  })

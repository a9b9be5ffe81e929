import { createRoute, z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { clientInfo } from './client-info'
import { AuthResult, authResult } from './schemas'

const Login = z.string().trim().toLowerCase().min(3).max(254)

const Body = z
  .object({
    email: Login.optional(),
    username: Login.optional().openapi({ description: 'Another name for `email` (OAuth2-style clients send `username`); an email address' }),
    password: z.string().min(1).max(128),
    rememberMe: z.boolean().optional().openapi({ description: '`false` gives a 1-day session instead of the configured 30 days' }),
    deviceInfo: z.object({ platform: z.string(), browser: z.string(), version: z.string() }).partial().optional(),
  })
  .refine((b) => b.email || b.username, { path: ['email'], message: 'email (or username) is required' })
  .openapi('LoginRequest')

const route = createRoute({
  method: 'post',
  path: '/api/v1/auth/login',
  operationId: 'logIn',
  tags: ['auth'],
  summary: 'Log in',
  description:
    'Accepts `email` or `username` (the same login under its OAuth2-style name). The answer is `{user, tokens, account}` ' +
    'plus the same tokens at the top level under the names other client styles read: the OAuth2 `access_token`, `token_type`, ' +
    '`expires_in`, and `token`/`refreshToken`. Wrong email or password: 401 `INVALID_CREDENTIALS`, without saying which; ' +
    'a suspended or banned account: 403 `FORBIDDEN`.',
  middleware: [rateClass('auth')] as const,
  security: publicSecurity,
  request: { body: jsonBody(Body) },
  responses: {
    200: ok(AuthResult, 'Logged in'),
    400: errorResponses[400],
    401: err('Invalid credentials (`INVALID_CREDENTIALS`)'),
    403: errorResponses[403],
    429: errorResponses[429],
  },
})

export const registerLogin = (r: Router) =>
  r.openapi(route, async (c) => {
    const b = c.req.valid('json')
    const { user, tokens } = await c.var.services.auth.login((b.email ?? b.username)!, b.password, b.rememberMe, clientInfo(c, b.deviceInfo))
    return c.json(envelope(c, authResult(user, tokens)), 200)
  })

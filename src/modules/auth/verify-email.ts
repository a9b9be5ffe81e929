import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'

const route = createRoute({
  method: 'get',
  path: '/api/v1/auth/verify-email',
  operationId: 'verifyEmail',
  tags: ['auth'],
  summary: 'Confirm an email address with a mailed token',
  middleware: [rateClass('auth')] as const,
  security: publicSecurity,
  request: { query: z.object({ token: z.string().min(1).max(256).openapi({ description: 'The token from the verification mail' }) }) },
  responses: { 200: ok(z.object({ verified: z.literal(true) }), 'Email verified'), 400: errorResponses[400], 429: errorResponses[429] },
})

export const registerVerifyEmail = (r: Router) =>
  r.openapi(route, async (c) => {
    await c.var.services.auth.verifyEmail(c.req.valid('query').token)
    return c.json(envelope(c, { verified: true as const }), 200)
  })

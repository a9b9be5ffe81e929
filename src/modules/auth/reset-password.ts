import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, ok, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { Password } from './schemas'

const Body = z
  .object({
    token: z.string().min(1).max(256),
    newPassword: Password,
    confirmPassword: z.string().max(128).optional().openapi({ description: 'When sent, must equal newPassword' }),
  })
  .refine((b) => b.confirmPassword === undefined || b.confirmPassword === b.newPassword, {
    path: ['confirmPassword'],
    message: 'confirmPassword does not match newPassword',
  })
  .openapi('ResetPasswordRequest')

const route = createRoute({
  method: 'post',
  path: '/api/v1/auth/reset-password',
  operationId: 'resetPassword',
  tags: ['auth'],
  summary: 'Set a new password with a mailed token',
  description: 'Consumes the token (single use), sets the password and ends every session of the account.',
  middleware: [rateClass('auth')] as const,
  security: publicSecurity,
  request: { body: jsonBody(Body) },
  responses: { 200: ok(z.object({ message: z.string() }), 'Password changed'), 400: errorResponses[400], 429: errorResponses[429] },
})

export const registerResetPassword = (r: Router) =>
  r.openapi(route, async (c) => {
    const b = c.req.valid('json')
    await c.var.services.auth.resetPassword(b.token, b.newPassword)
    return c.json(envelope(c, { message: 'Password changed. Log in with the new password.' }), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, ok, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { Email } from './schemas'

const Body = z
  .object({
    email: Email,
    resetUrl: z.string().max(2048).optional().openapi({
      description: 'Page of our app that takes the token (`?token=` is appended). Must be on APP_URL or a CORS origin.',
    }),
  })
  .openapi('ForgotPasswordRequest')

const route = createRoute({
  method: 'post',
  path: '/api/v1/auth/forgot-password',
  operationId: 'requestPasswordReset',
  tags: ['auth'],
  summary: 'Mail a password-reset link',
  description: 'Answers the same whether or not the email has an account. The link works once and expires in 1 hour.',
  middleware: [rateClass('auth')] as const,
  security: publicSecurity,
  request: { body: jsonBody(Body) },
  responses: { 200: ok(z.object({ message: z.string() }), 'Accepted'), 400: errorResponses[400], 429: errorResponses[429] },
})

export const registerForgotPassword = (r: Router) =>
  r.openapi(route, async (c) => {
    const b = c.req.valid('json')
    await c.var.services.auth.forgotPassword(b.email, b.resetUrl)
    return c.json(envelope(c, { message: 'If an account exists for this email, a reset link has been sent.' }), 200)
  })

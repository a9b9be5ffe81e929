import { createRoute, z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { displayText } from '../../lib/text'
import { AuthResult, authResult, Email, Password } from './schemas'
import { clientInfo } from './client-info'

const Body = z
  .object({
    email: Email,
    password: Password,
    firstName: displayText({ min: 1, max: 100 }).optional(),
    lastName: displayText({ max: 100 }).optional(),
    name: displayText({ min: 1, max: 200 }).optional().openapi({ description: 'Full name instead of `firstName`/`lastName`, split at the first space' }),
    company: displayText({ max: 200 }).optional(),
    phone: z.string().trim().max(32).optional(),
    timezone: z.string().trim().max(64).optional(),
    acceptTerms: z.boolean().optional().openapi({ description: '`false` is refused; absent is accepted' }),
    marketingConsent: z.boolean().optional(),
  })
  .superRefine((b, ctx) => {
    if (!b.firstName && !b.name) ctx.addIssue({ code: 'custom', path: ['firstName'], message: 'firstName (or name) is required' })
    if (b.acceptTerms === false) ctx.addIssue({ code: 'custom', path: ['acceptTerms'], message: 'The terms must be accepted' })
  })
  .openapi('RegisterRequest')

const Registered = AuthResult.extend({
  onboarding: z.object({ nextStep: z.string(), completionUrl: z.string() }),
})

const route = createRoute({
  method: 'post',
  path: '/api/v1/auth/register',
  operationId: 'registerAccount',
  tags: ['auth'],
  summary: 'Create an account',
  description:
    'Accepts `firstName`+`lastName` or a single `name` (split at the first space). The answer is `{user, tokens, onboarding}` ' +
    'plus the same tokens at the top level under the names other client styles read: `token`/`refreshToken` and the OAuth2 ' +
    '`access_token`, `token_type`, `expires_in`. A verification mail is sent; 409 `EMAIL_ALREADY_EXISTS` when the email is taken.',
  middleware: [rateClass('auth')] as const,
  security: publicSecurity,
  request: { body: jsonBody(Body) },
  responses: {
    201: ok(Registered, 'Account created and logged in'),
    409: err('Email already registered (`EMAIL_ALREADY_EXISTS`)'),
    400: errorResponses[400],
    429: errorResponses[429],
  },
})

export const registerRegister = (r: Router) =>
  r.openapi(route, async (c) => {
    const b = c.req.valid('json')
    let firstName = b.firstName ?? ''
    let lastName = b.lastName ?? ''
    if (!b.firstName && b.name) {
      const [first, ...rest] = b.name.split(/\s+/)
      firstName = first ?? ''
      lastName = rest.join(' ')
    }
    const { user, tokens } = await c.var.services.auth.register({ ...b, firstName, lastName }, clientInfo(c))
    const config = c.var.services.config
    return c.json(
      envelope(c, {
        ...authResult(user, tokens),
        onboarding: { nextStep: 'verify_email', completionUrl: `${config.appUrl}/onboarding` },
      }),
      201,
    )
  })

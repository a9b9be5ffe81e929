import { createRoute, z } from '@hono/zod-openapi'
import { DEFAULT_MAX_ACTIVE_API_KEYS } from '../../env'
import { envelope, err, errorResponses, jsonBody, ok, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { displayText } from '../../lib/text'
import { requireAuth, contextOf } from '../../http/authenticate'
import { PERMISSIONS } from '../../lib/principal'
import { CreatedApiKey, apiKeyView } from './schemas'

const Body = z
  .object({
    name: displayText({ min: 1, max: 100 }),
    permissions: z
      .array(z.string())
      .min(1)
      .max(PERMISSIONS.length + 1)
      .openapi({
        description:
          `Any of: * (every permission except admin), ${PERMISSIONS.join(', ')}. Only an admin may give a key \`admin\`, ` +
          'and only a key that names `admin` reaches admin routes: `*` alone does not.',
        example: ['numbers:read', 'wallet:read'],
      }),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    description: displayText({ max: 500, multiline: true }).optional(),
    mode: z.enum(['live', 'test']).optional().openapi({ description: '`sk_live_…` (default) or `sk_test_…`' }),
  })
  .openapi('CreateApiKeyRequest')

const route = createRoute({
  method: 'post',
  path: '/api/v1/api-keys',
  operationId: 'createApiKey',
  tags: ['api-keys'],
  summary: 'Create an API key',
  description:
    'The plain `key` is returned once. Keys are accepted as ' +
    '`X-API-Key`, `Authorization: Bearer sk_…` or `?api_key=`. Managing keys needs a user session, not a key. ' +
    `An account holds at most ${DEFAULT_MAX_ACTIVE_API_KEYS} active keys (neither revoked nor expired; the operator may ` +
    'change the number with the `MAX_ACTIVE_API_KEYS` setting): one more is refused with 409 `API_KEY_LIMIT_REACHED`, ' +
    '`details.limit` giving the limit. Revoke a key to make room. Rate limits of the purchase class are shared by all ' +
    'keys of an account, so more keys do not buy more.',
  middleware: [rateClass('general'), requireAuth({ sessionOnly: true })] as const,
  security: sessionSecurity,
  request: { body: jsonBody(Body) },
  responses: { 201: ok(CreatedApiKey, 'Key created'), ...errorResponses, 409: err('The account already holds the most active keys allowed (`API_KEY_LIMIT_REACHED`)') },
})

export const registerCreateApiKey = (r: Router) =>
  r.openapi(route, async (c) => {
    const { key, row } = await c.var.services.apiKeys.create(contextOf(c), c.req.valid('json'))
    return c.json(envelope(c, { ...apiKeyView(row), key }), 201)
  })

import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { Provider } from '../../db/schema'
import { envelope, err, jsonBody, ok } from '../../lib/http'
import type { AppEnv, Router } from '../../lib/router'
import { inboundSmsOf } from './inbound-sms.service'
import { DeliveredView, deliveredView } from './schemas'

const Id = z.union([z.string().trim().min(1).max(128), z.number().int().nonnegative()]).transform(String)

/** HeroSMS / sms-activate's activation webhook, and the sandbox's (a superset: `sender`, `messageId`). */
const Body = z
  .object({
    activationId: Id.openapi({ example: 123456789, description: "The upstream's activation id (HeroSMS: a number), or our `num_…` id" }),
    text: z.string().max(4000).default('').openapi({ example: 'Your Telegram code is 12345' }),
    code: z.union([z.string().max(32), z.number()]).nullable().optional().openapi({ example: '12345', description: 'HeroSMS sends the code it found; else it is extracted from `text`' }),
    service: z.string().max(64).optional().openapi({ example: 'tg' }),
    country: z.union([z.string().max(16), z.number()]).optional().openapi({ example: 0 }),
    receivedAt: z.string().max(64).nullable().optional().openapi({ example: '2025-01-24 15:05:00', description: 'ISO-8601 or `YYYY-MM-DD HH:mm:ss` (UTC)' }),
    sender: z.string().max(100).nullable().optional().openapi({ example: 'Telegram' }),
    messageId: Id.nullable().optional().openapi({ description: "The upstream's message id; redeliveries with the same id are stored once" }),
  })
  .openapi('InboundSmsWebhook')

const Query = z.object({
  provider: z.string().max(64).optional().openapi({ description: 'Provider code (or header `X-Provider`)' }),
  token: z.string().max(512).optional().openapi({ description: 'The shared secret (or header `X-Webhook-Secret`)' }),
})

const authenticated = new WeakMap<Request, Provider>()

/** Before the body is validated: an unauthenticated caller learns nothing, not even what we accept. */
const providerAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const code = c.req.query('provider') ?? c.req.header('x-provider')
  const secret = c.req.header('x-webhook-secret') ?? c.req.query('token')
  authenticated.set(c.req.raw, await inboundSmsOf(c.var.services).authenticate(code?.trim(), secret))
  await next()
}

const route = createRoute({
  method: 'post',
  path: '/api/v1/webhooks/sms',
  tags: ['webhooks'],
  summary: 'Inbound SMS from a provider (HeroSMS / sms-activate webhook JSON, or the sandbox)',
  description:
    'Called by upstream providers, not by clients. Authenticated per provider: `?provider=<code>` (or `X-Provider`) and the ' +
    'shared secret in `X-Webhook-Secret` (or `?token=`), which is the Worker secret named by the provider config ' +
    '`webhookSecret` (default `PROVIDER_WEBHOOK_SECRET`). The activation is found by the provider\'s activation id (or our ' +
    '`num_…` id). Idempotent: a message is stored once per provider message id (`messageId`), or, without one, per ' +
    '(activation, text, receivedAt); a redelivery answers `duplicate: true`. The code is `code` when sent, else 4–8 digits ' +
    '(or `123-456`) from `text`. The SMS, the number\'s status (`sms_received`) and an `sms.received` event are written together. ' +
    'Not rate limited. Unknown activations answer 404 so that the provider retries.',
  middleware: [providerAuth] as const,
  request: { query: Query, body: jsonBody(Body) },
  responses: {
    200: ok(DeliveredView, 'Stored (or already stored: `duplicate: true`)'),
    400: err('Invalid body (`VALIDATION_ERROR`)'),
    401: err('Unknown provider or wrong secret (`UNAUTHORIZED`)'),
    404: err('No activation of this provider with that id (`NOT_FOUND`)'),
  },
})

export const registerReceiveSmsWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const provider = authenticated.get(c.req.raw)!
    const body = c.req.valid('json')
    const delivered = await inboundSmsOf(c.var.services).receive(provider, body.activationId, {
      text: body.text,
      code: body.code,
      sender: body.sender,
      messageId: body.messageId,
      receivedAt: body.receivedAt,
    })
    return c.json(envelope(c, deliveredView(delivered)), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { Provider } from '../../db/schema'
import { AppError, ValidationError } from '../../lib/errors'
import { envelope, err, jsonBody, ok, providerWebhookSecurity } from '../../lib/http'
import { issuesOf, type AppEnv, type Router } from '../../http/router'
import { DeliveredView, DidDeliveredView, deliveredView, didDeliveredView } from './schemas'
import { rateClass } from '../../http/policy'

const Id = z.union([z.string().trim().min(1).max(128), z.number().int().nonnegative()]).transform(String)

/**
 * HeroSMS / sms-activate's activation webhook, the sandbox's (a superset: `sender`, `messageId`),
 * and the sandbox's SMS to an owned number (`to` instead of `activationId`).
 */
const Body = z
  .object({
    activationId: Id.optional().openapi({ example: 123456789, description: "The upstream's activation id (HeroSMS: a number), or our `num_…` id" }),
    to: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number (+ and 7–15 digits)')
      .optional()
      .openapi({ example: '+14155550123', description: 'Instead of `activationId`: an SMS to an owned number (DID) of this provider, by its E.164 number' }),
    from: z.string().trim().min(1).max(64).optional().openapi({ example: '+15005550006', description: 'The sender of an SMS to an owned number' }),
    text: z.string().max(4000).default('').openapi({ example: 'Your Telegram code is 12345' }),
    code: z
      .union([z.string().max(32), z.number()])
      .nullable()
      .optional()
      .openapi({ example: '12345', description: 'HeroSMS sends the code it found; else it is extracted from `text`' }),
    service: z.string().max(64).optional().openapi({ example: 'tg' }),
    country: z
      .union([z.string().max(16), z.number()])
      .optional()
      .openapi({ example: 0 }),
    receivedAt: z.string().max(64).nullable().optional().openapi({ example: '2025-01-24 15:05:00', description: 'ISO-8601 or `YYYY-MM-DD HH:mm:ss` (UTC)' }),
    sender: z.string().max(100).nullable().optional().openapi({ example: 'Telegram' }),
    messageId: Id.nullable().optional().openapi({ description: "The upstream's message id; redeliveries with the same id are stored once" }),
  })
  .superRefine((b, ctx) => {
    if (b.activationId === undefined && b.to === undefined) {
      ctx.addIssue({ code: 'custom', path: ['activationId'], message: 'Required: `activationId` (an activation number), or `to` (an owned number)' })
    }
    if (b.activationId !== undefined && b.to !== undefined) ctx.addIssue({ code: 'custom', path: ['to'], message: 'Send `activationId` or `to`, not both' })
  })
  .openapi('InboundSmsWebhook')

/** Twilio's messaging webhook (form fields; others, like `NumMedia` or `FromCountry`, are signed but not used). */
const TwilioSms = z
  .object({
    MessageSid: z.string().min(1).max(64).openapi({ example: 'SM0123456789abcdef0123456789abcdef' }),
    AccountSid: z.string().min(1).max(64).openapi({ example: 'AC0123456789abcdef0123456789abcdef' }),
    From: z.string().max(64).openapi({ example: '+15005550006' }),
    To: z.string().min(1).max(64).openapi({ example: '+14155550123' }),
    Body: z.string().max(4000).default('').openapi({ example: 'Your code is 123456' }),
    NumMedia: z.string().max(8).optional().openapi({ example: '0', description: 'MMS media are not stored: the SMS is its `Body`' }),
  })
  .openapi('TwilioInboundSms')

const Query = z.object({
  provider: z.string().max(64).optional().openapi({ description: 'Provider code (or header `X-Provider`)' }),
  token: z.string().max(512).optional().openapi({ description: 'The shared secret (or header `X-Webhook-Secret`); not for Twilio' }),
})

/** Twilio reads the answer as TwiML: an empty `<Response/>` sends no reply SMS. */
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

const authenticated = new WeakMap<Request, Provider>()

const isUrlEncoded = (ct: string | undefined) => !!ct && /^application\/x-www-form-urlencoded\s*(;|$)/i.test(ct)
const isForm = (ct: string | undefined) => !!ct && (isUrlEncoded(ct) || /^multipart\/form-data\s*(;|$)/i.test(ct))

/**
 * Before the body is validated: an unauthenticated caller learns nothing, not even what we accept.
 * A Twilio provider is authenticated by `X-Twilio-Signature` over this URL and the form fields;
 * every other provider by its shared secret, and then it must send JSON.
 */
const providerAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const code = (c.req.query('provider') ?? c.req.header('x-provider'))?.trim()
  const dids = c.var.services.didSms
  const twilio = await dids.provider(code)
  if (twilio?.adapter === 'twilio') {
    // The raw fields, all of them, as sent (the validator later reads the same cached body).
    const params = isUrlEncoded(c.req.header('content-type')) ? [...new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer()))] : []
    authenticated.set(c.req.raw, await dids.authenticateTwilio(twilio, { signature: c.req.header('x-twilio-signature'), url: c.req.url, params }))
    return next()
  }
  const secret = c.req.header('x-webhook-secret') ?? c.req.query('token')
  authenticated.set(c.req.raw, await c.var.services.inboundSms.authenticate(code, secret))
  const contentType = c.req.header('content-type')
  if (isForm(contentType)) throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', "Send the body as JSON with Content-Type: application/json (form posts are Twilio's)")
  // No body at all: the same answer as an empty JSON object.
  if (!contentType) {
    const parsed = Body.safeParse({})
    if (!parsed.success) throw new ValidationError('Request validation failed', issuesOf(parsed.error))
  }
  await next()
}

const delivered = ok(z.union([DeliveredView, DidDeliveredView]), 'Stored (or already stored: `duplicate: true`). Twilio gets an empty TwiML `<Response/>` (text/xml) instead')

const route = createRoute({
  method: 'post',
  path: '/api/v1/webhooks/sms',
  operationId: 'receiveSmsWebhook',
  tags: ['webhooks'],
  summary: 'Inbound SMS from a provider (HeroSMS / sms-activate webhook JSON, Twilio messaging webhook, or the sandbox)',
  description:
    'Called by upstream providers, not by clients. Authenticated per provider, named by `?provider=<code>` (or `X-Provider`).\n\n' +
    '**Shared-secret providers** (HeroSMS, the sandbox) send JSON with the secret in `X-Webhook-Secret` (or `?token=`), which ' +
    'is the Worker secret named by the provider config `webhookSecret` (default `PROVIDER_WEBHOOK_SECRET`). With `activationId` ' +
    "the SMS is for an activation (found by the provider's activation id or our `num_…` id; the number moves to `sms_received`, " +
    'an `sms.received` event is written). An SMS on an activation whose price is not collected (refunded, or never charged) is ' +
    'charged again; when the wallet cannot pay it is stored withheld (`withheld: true`, no code, no event) until it is paid. With `to` (E.164), `from`, `text`, `messageId?` it is for an owned number (DID) of that provider.\n\n' +
    "**Twilio** (provider adapter `twilio`): configure the number's Messaging webhook (HTTP POST) as exactly " +
    '`https://<this host>/api/v1/webhooks/sms?provider=<code>`. Twilio posts form fields (`MessageSid`, `AccountSid`, `From`, `To`, ' +
    '`Body`, …) signed with `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + each POST field name and value, sorted by name)). ' +
    "The URL checked is this request's URL as received, so the public URL must be the one configured in Twilio (a proxy that " +
    'rewrites host or scheme breaks it). The auth token is the Worker secret named by the config `authTokenSecret`; ' +
    "`AccountSid` must be the config's `accountSid`. Answered with 200 and an empty TwiML `<Response/>` (`text/xml`): no reply SMS.\n\n" +
    'An SMS to an owned number is stored once per provider message id (`MessageSid`, `messageId`; without one, per number, sender, ' +
    "text and `receivedAt`), with its code, and writes two events in the same batch: `SMS_RECEIVED` (the DID API's event; also delivered to " +
    "the number's own `smsUrl`) and `sms.received` (the activation API's event), both with `phoneNumberId`. Idempotent: a redelivery answers " +
    '`duplicate: true`. The code is `code` when sent, else 4–8 digits (or `123-456`) from the text. Not rate limited. Unknown ' +
    'activations and unknown or released numbers answer 404 so that the provider retries (or drops it).',
  middleware: [rateClass('exempt'), providerAuth] as const,
  security: providerWebhookSecurity,
  request: {
    query: Query,
    body: {
      content: { ...jsonBody(Body).content, 'application/x-www-form-urlencoded': { schema: TwilioSms } },
      // Each media type is validated when it is the one sent; the middleware above insists on the provider's.
      required: false,
    },
  },
  responses: {
    200: { ...delivered, content: { ...delivered.content, 'text/xml': { schema: z.string().openapi({ example: EMPTY_TWIML }) } } },
    400: err('Invalid body (`VALIDATION_ERROR`)'),
    401: err('Unknown provider, wrong secret, or (Twilio) a missing or wrong `X-Twilio-Signature` or another `AccountSid` (`UNAUTHORIZED`)'),
    404: err('No activation, or no live number, of this provider with that id or number (`NOT_FOUND`)'),
    415: err('A form post for a provider that sends JSON (`UNSUPPORTED_MEDIA_TYPE`)'),
  },
})

export const registerReceiveSmsWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const provider = authenticated.get(c.req.raw)!
    const s = c.var.services
    // The types of both media types are merged for each target; which one was sent is settled by
    // the middleware (Twilio: a signed form post; the others: JSON), and only it was validated.
    if (provider.adapter === 'twilio') {
      const form = c.req.valid('form') as z.output<typeof TwilioSms>
      await s.didSms.receive(provider, { to: form.To, from: form.From || null, text: form.Body, messageId: form.MessageSid })
      return c.body(EMPTY_TWIML, 200, { 'content-type': 'text/xml; charset=utf-8' })
    }
    const body = c.req.valid('json') as z.output<typeof Body>
    if (body.to !== undefined) {
      const d = await s.didSms.receive(provider, {
        to: body.to,
        from: body.from ?? body.sender ?? null,
        text: body.text,
        messageId: body.messageId,
        receivedAt: body.receivedAt,
      })
      return c.json(envelope(c, didDeliveredView(d)), 200)
    }
    const delivered = await s.inboundSms.receive(provider, body.activationId!, {
      text: body.text,
      code: body.code,
      sender: body.sender,
      messageId: body.messageId,
      receivedAt: body.receivedAt,
    })
    return c.json(envelope(c, deliveredView(delivered)), 200)
  })

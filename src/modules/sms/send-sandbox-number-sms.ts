import { createRoute, z } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import { newId } from '../../lib/ids'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { principalOf, requireAuth } from '../../http/authenticate'
import { DidDeliveredView, didDeliveredView } from './schemas'
import { DEFAULT_SANDBOX_TEXT } from './send-sandbox-sms'
import { optionalJsonBody } from '../../http/optional-body'

const DEFAULT_FROM = '+15005550006'

const Body = z
  .object({
    text: z
      .string()
      .min(1)
      .max(1000)
      .optional()
      .openapi({ example: DEFAULT_SANDBOX_TEXT, description: `Default: "${DEFAULT_SANDBOX_TEXT}"` }),
    from: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .openapi({ example: '+15005550006', description: `The sender. Default: "${DEFAULT_FROM}"` }),
  })
  .openapi('SandboxNumberSmsRequest')

const Params = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'pn_abc123', description: 'The id of your sandbox DID' }),
})

const route = createRoute({
  method: 'post',
  path: '/api/v1/sandbox/numbers/{id}/sms',
  operationId: 'sendSandboxNumberSms',
  tags: ['sandbox'],
  summary: 'Make the sandbox deliver an SMS to one of your sandbox numbers (DIDs)',
  description:
    'For owned numbers (`/api/v1/numbers`) bought from a sandbox provider only (else `409 NOT_SANDBOX_NUMBER`; a released ' +
    "number is `409 NUMBER_RELEASED`). Runs the same inbound path as a provider's webhook: the SMS is stored with its code and " +
    "`SMS_RECEIVED` and `sms.received` events are written (with `phoneNumberId`); `SMS_RECEIVED` also goes to the number's " +
    '`smsUrl`. Each call is a new message.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: Params, body: { ...jsonBody(Body), required: false } },
  responses: {
    200: ok(DidDeliveredView, 'Delivered'),
    ...errorResponses,
    409: err('Not a sandbox number (`NOT_SANDBOX_NUMBER`) or released (`NUMBER_RELEASED`)'),
  },
})

export const registerSendSandboxNumberSms = (r: Router) =>
  r.openapi(route, async (c) => {
    const s = c.var.services
    const number = await s.didSms.sandboxNumber(principalOf(c).userId, c.req.valid('param').id)
    // The body is optional: none (or an empty one) means the default message.
    const input = await optionalJsonBody(c, Body)
    const delivered = await s.didSms.deliver(number, {
      to: number.phoneNumber,
      from: input.from ?? DEFAULT_FROM,
      text: input.text ?? DEFAULT_SANDBOX_TEXT,
      messageId: newId('sbxmsg'),
      receivedAt: new Date().toISOString(),
    })
    return c.json(envelope(c, didDeliveredView(delivered)), 200)
  })

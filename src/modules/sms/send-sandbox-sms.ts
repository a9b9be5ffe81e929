import { createRoute, z } from '@hono/zod-openapi'
import { and, eq } from 'drizzle-orm'
import { activations, providers } from '../../db/schema'
import { Conflict, NotFound } from '../../lib/errors'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import { newId } from '../../lib/ids'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { principalOf, requireAuth } from '../../http/authenticate'
import type { Services } from '../../services'
import { DeliveredView, deliveredView } from './schemas'
import { optionalJsonBody } from '../../http/optional-body'

export const DEFAULT_SANDBOX_TEXT = 'Your code is 123456'

const Body = z
  .object({
    text: z
      .string()
      .min(1)
      .max(1000)
      .optional()
      .openapi({ example: DEFAULT_SANDBOX_TEXT, description: `Default: "${DEFAULT_SANDBOX_TEXT}"` }),
    sender: z.string().min(1).max(100).optional().openapi({ example: 'Telegram', description: 'Default: "Sandbox"' }),
  })
  .openapi('SandboxSmsRequest')

const Params = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'num_abc123', description: 'The id of your sandbox activation number' }),
})

const route = createRoute({
  method: 'post',
  path: '/api/v1/sandbox/activations/{id}/sms',
  operationId: 'sendSandboxActivationSms',
  tags: ['sandbox'],
  summary: 'Make the sandbox deliver an SMS to one of your sandbox numbers',
  description:
    'For numbers bought from a sandbox provider only (else `409 NOT_SANDBOX_NUMBER`). Runs the same inbound path as a ' +
    "provider's webhook: the SMS is stored with its code, the number moves to `sms_received`, an `sms.received` event is " +
    'emitted — and an SMS after a refund is charged again like any late SMS. Each call is a new message.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: Params, body: { ...jsonBody(Body), required: false } },
  responses: { 200: ok(DeliveredView, 'Delivered'), ...errorResponses, 409: err('Not a sandbox number (`NOT_SANDBOX_NUMBER`)') },
})

/** The caller's activation, if it is a sandbox one. */
export async function sandboxActivation(s: Services, id: string, userId?: string) {
  const row = await s.db
    .select({ activation: activations, adapter: providers.adapter })
    .from(activations)
    .innerJoin(providers, eq(providers.id, activations.providerId))
    .where(userId ? and(eq(activations.id, id), eq(activations.userId, userId)) : eq(activations.id, id))
    .get()
  if (!row) throw new NotFound('Number')
  if (row.adapter !== 'sandbox') throw new Conflict('NOT_SANDBOX_NUMBER', 'Only numbers from a sandbox provider can be sent test SMS')
  return row.activation
}

export const registerSendSandboxSms = (r: Router) =>
  r.openapi(route, async (c) => {
    const s = c.var.services
    const activation = await sandboxActivation(s, c.req.valid('param').id, principalOf(c).userId)
    // The body is optional: none (or an empty one) means the default message.
    const input = await optionalJsonBody(c, Body)
    const delivered = await s.inboundSms.deliver(activation, {
      text: input.text ?? DEFAULT_SANDBOX_TEXT,
      sender: input.sender ?? 'Sandbox',
      messageId: newId('sbxmsg'),
      receivedAt: new Date().toISOString(),
    })
    return c.json(envelope(c, deliveredView(delivered)), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity, Instant } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ACTIVATION_STATUSES } from './schemas'

const Params = z.object({
  activationId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'activationId', in: 'path' }, example: 'num_abc123', description: 'The activation number id' }),
})

const Result = z
  .object({
    activationId: z.string(),
    status: z.enum(ACTIVATION_STATUSES),
    phone: z.string(),
    sms: z.array(
      z.object({
        code: z.string().nullable().openapi({ example: '123456' }),
        text: z.string().openapi({ example: 'Your code is 123456' }),
        sender: z.string().nullable(),
        receivedAt: Instant,
      }),
    ),
    code: z.string().nullable().openapi({ example: '123456', description: 'Code of the latest SMS, null while waiting' }),
    withheldSms: z.number().int().openapi({ example: 0, description: 'SMS that arrived but are withheld until the number is paid for; they appear once the wallet can pay' }),
  })
  .openapi('ActivationSmsList')

const route = createRoute({
  method: 'get',
  path: '/api/v1/sms/{activationId}',
  operationId: 'getActivationSms',
  tags: ['public-v1'],
  summary: 'The SMS of one of your numbers (poll until `code` is set)',
  middleware: [rateClass('public'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { params: Params },
  responses: { 200: ok(Result, 'The SMS received so far, oldest first'), ...errorResponses },
})

export const registerGetActivationSms = (r: Router) =>
  r.openapi(route, async (c) => {
    const { record, sms, code, withheldSms } = await c.var.services.activations.get(contextOf(c), c.req.valid('param').activationId)
    return c.json(
      envelope(c, {
        activationId: record.id,
        status: record.status,
        phone: record.phone,
        sms: sms.map((s) => ({ code: s.code, text: s.text, sender: s.sender, receivedAt: s.receivedAt.toISOString() })),
        code,
        withheldSms,
      }),
      200,
    )
  })

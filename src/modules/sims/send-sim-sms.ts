import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, IdempotencyKeyHeader } from '../../http/idempotency'
import { IccidParam, SendSmsBody, SMS_MAX_EXPIRY_DAYS, SmsAccepted } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { smsAcceptedView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/sims/{iccid}/sms',
  operationId: 'sendSimSms',
  tags: [SIM_TAG],
  summary: 'Send an SMS to a SIM',
  description:
    'Hands the message to the SIM provider at once and answers 202 with `status: pending`; follow `status_url` for sent, delivered or ' +
    'failed. One SMS per request: `GSM7` (the default) takes the GSM 03.38 alphabet, at most 160 characters (^ { } \\ [ ~ ] | € count 2); ' +
    '`UCS2` any text, at most 70 UTF-16 code units. Longer messages are refused (400 `VALIDATION_ERROR` naming `message`), not split. ' +
    `\`expiry_date\` (optional): when the provider stops trying, in the future and at most ${SMS_MAX_EXPIRY_DAYS} days ahead. When the ` +
    'provider refuses or fails, nothing is recorded (502). `Idempotency-Key` makes a retry answer the first send instead of sending again.',
  middleware: [rateClass('general'), simHourly, idempotent(), requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { params: IccidParam, headers: IdempotencyKeyHeader, body: jsonBody(SendSmsBody) },
  responses: { 202: ok(SmsAccepted, 'Accepted by the SIM provider'), ...simErrors, ...upstreamErrors, ...idempotencyErrorResponses },
})

export const registerSendSimSms = (r: Router) =>
  r.openapi(route, async (c) => {
    const { sim, sms } = await c.var.services.simSms.send(contextOf(c), c.req.valid('param').iccid, c.req.valid('json'))
    return c.json(envelope(c, smsAcceptedView(sim.iccid, sms)), 202)
  })

import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { contextOf, principalOf, requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, idempotencyScope, IdempotencyKeyHeader } from '../../http/idempotency'
import { IccidParam, TopUpBody, TopUpResult } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { topUpResultView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/sims/{iccid}/topup',
  operationId: 'topUpSim',
  tags: [SIM_TAG],
  summary: "Top up a SIM's quota",
  description:
    "Adds `volume` to the SIM's data (bytes) or SMS (messages) quota and pays for it from the wallet: data $0.02 per started MiB " +
    '(1,048,576 bytes), SMS $0.01 per message. The price is held, the SIM provider tops up, then the price is taken; when the ' +
    'provider fails nothing is charged (502). 400 INSUFFICIENT_BALANCE when the wallet cannot pay. Each top-up is a usage record ' +
    '(`sim_data_topup`, `sim_sms_topup`) and appears on the monthly invoice. `Idempotency-Key` makes a retry answer the first ' +
    'top-up instead of charging again. Rate class `purchase`.',
  middleware: [rateClass('purchase'), simHourly, idempotent(), requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { params: IccidParam, headers: IdempotencyKeyHeader, body: jsonBody(TopUpBody) },
  responses: { 200: ok(TopUpResult, 'The top-up'), ...simErrors, ...upstreamErrors, ...idempotencyErrorResponses },
})

export const registerTopUpSim = (r: Router) =>
  r.openapi(route, async (c) => {
    const key = c.req.header('idempotency-key')
    const row = await c.var.services.simTopUpService.topUp(contextOf(c), c.req.valid('param').iccid, c.req.valid('json'), {
      idempotency: key ? { scope: idempotencyScope(principalOf(c)), key } : undefined,
    })
    return c.json(envelope(c, topUpResultView(row)), 200)
  })

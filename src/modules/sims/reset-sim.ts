import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { emptyJsonBodyIsEmptyObject, optionalJsonBody } from '../../http/optional-body'
import { IccidParam, ResetBody, ResetStarted } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { iccidView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/sims/{iccid}/reset',
  operationId: 'resetSim',
  tags: [SIM_TAG],
  summary: "Reset a SIM's connectivity",
  description: "Asks the SIM provider to reset the SIM's network connection; it completes asynchronously: follow `status_url`. The body is " + 'optional (`reset_type`: soft, the default, or hard).',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:write' }), emptyJsonBodyIsEmptyObject] as const,
  security: keySecurity,
  request: { params: IccidParam, body: { ...jsonBody(ResetBody), required: false } },
  responses: { 202: ok(ResetStarted, 'Reset started'), ...simErrors, ...upstreamErrors },
})

export const registerResetSim = (r: Router) =>
  r.openapi(route, async (c) => {
    // Without a body the validator hands over nothing parsed; read it here so the default applies.
    const body = await optionalJsonBody(c, ResetBody)
    const s = await c.var.services.sims.reset(contextOf(c), c.req.valid('param').iccid, body.reset_type)
    return c.json(
      envelope(c, {
        ...iccidView(s.iccid),
        reset_initiated: true,
        reset_type: s.resetType ?? 'soft',
        expected_completion: s.resetExpectedAt!.toISOString(),
        status_url: `/api/v1/sims/${s.iccid}/reset/status`,
      }),
      202,
    )
  })

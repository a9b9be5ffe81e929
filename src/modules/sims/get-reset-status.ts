import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { IccidParam, ResetStatus } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'
import { iccidView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}/reset/status',
  operationId: 'getSimResetStatus',
  tags: [SIM_TAG],
  summary: "Where a SIM's last reset stands",
  description: '`in_progress` until the SIM provider reports it done (`completed` or `failed`). 404 when no reset was asked for the SIM.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: IccidParam },
  responses: { 200: ok(ResetStatus, 'The reset'), ...simErrors },
})

export const registerGetResetStatus = (r: Router) =>
  r.openapi(route, async (c) => {
    const s = await c.var.services.sims.resetStatus(contextOf(c), c.req.valid('param').iccid)
    return c.json(
      envelope(c, {
        ...iccidView(s.iccid),
        status: s.resetStatus ?? 'in_progress',
        reset_type: s.resetType,
        requested_at: s.resetRequestedAt!.toISOString(),
        expected_completion: s.resetExpectedAt?.toISOString() ?? null,
      }),
      200,
    )
  })

import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { IccidParam, SimStatusView } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'
import { iccidView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}/status',
  operationId: 'getSimStatus',
  tags: [SIM_TAG],
  summary: "A SIM's status",
  description: 'Read from the SIM provider when the stored status is older than a minute (`last_checked` says when it was read); when the ' + 'provider does not answer, the stored status is served.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: IccidParam },
  responses: { 200: ok(SimStatusView, 'The status'), ...simErrors },
})

export const registerGetSimStatus = (r: Router) =>
  r.openapi(route, async (c) => {
    const s = await c.var.services.sims.status(contextOf(c), c.req.valid('param').iccid)
    return c.json(
      envelope(c, {
        ...iccidView(s.iccid),
        status: s.status,
        status_details: { is_active: s.status === 'Enabled', is_expired: s.status === 'Expired', is_suspended: s.status === 'Disabled' || s.status === 'Suspended' },
        activation_date: s.activationDate?.toISOString() ?? null,
        last_checked: s.statusCheckedAt?.toISOString() ?? null,
      }),
      200,
    )
  })

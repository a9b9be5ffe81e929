import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import type { QuotaType } from '../../db/schema'
import { IccidParam, QuotaView } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { quotaView } from './views'

/** GET /api/v1/sims/{iccid}/quota/data and …/quota/sms. */
export const registerGetQuota = (r: Router) => {
  for (const type of ['data', 'sms'] as QuotaType[]) {
    const route = createRoute({
      method: 'get',
      path: `/api/v1/sims/{iccid}/quota/${type}`,
      operationId: type === 'data' ? 'getSimDataQuota' : 'getSimSmsQuota',
      tags: [SIM_TAG],
      summary: type === 'data' ? "A SIM's data quota" : "A SIM's SMS quota",
      description:
        `${type === 'data' ? 'Bytes' : 'Messages'}: \`volume\` is the total granted (initial volume and top-ups), \`used_volume\` what was used. ` +
        'Read from the SIM provider when the stored copy is older than a minute (the stored copy is served when the provider does ' +
        'not answer). `threshold_percentage` is the usage mark for `quota_threshold_reached` events and for auto top-up ' +
        '(`auto_reload`, `auto_reload_amount`: POST /api/v1/sims/auto-topup).',
      middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
      security: keySecurity,
      request: { params: IccidParam },
      responses: { 200: ok(QuotaView, 'The quota'), ...simErrors, ...upstreamErrors },
    })
    r.openapi(route, async (c) => {
      const { sim, quota } = await c.var.services.sims.quota(contextOf(c), c.req.valid('param').iccid, type)
      return c.json(envelope(c, quotaView(sim.iccid, quota)), 200)
    })
  }
}

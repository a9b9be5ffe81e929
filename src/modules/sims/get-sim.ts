import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { IccidParam, SimDetails } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'
import { simDetailsView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}',
  operationId: 'getSim',
  tags: [SIM_TAG],
  summary: 'One of your SIMs',
  description: 'The ICCID in the path may be the 19-digit form or the 20-digit form with its Luhn check digit. `organization_id` is null: SIMs belong to accounts, not organizations.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: IccidParam },
  responses: { 200: ok(SimDetails, 'The SIM'), ...simErrors },
})

export const registerGetSim = (r: Router) =>
  r.openapi(route, async (c) => {
    const sim = await c.var.services.sims.get(contextOf(c), c.req.valid('param').iccid)
    return c.json(envelope(c, simDetailsView(sim)), 200)
  })

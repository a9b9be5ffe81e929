import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { Connectivity, IccidParam } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { connectionDetails } from './observe'
import { iccidView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}/connectivity',
  operationId: 'getSimConnectivity',
  tags: [SIM_TAG],
  summary: "A SIM's connectivity",
  description: 'Asked of the SIM provider at every call. A change from the last reading is recorded as an event and sent to webhooks ' + '(`connectivity.lost`, `connectivity.restored`).',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: IccidParam },
  responses: { 200: ok(Connectivity, 'The connectivity'), ...simErrors, ...upstreamErrors },
})

export const registerGetConnectivity = (r: Router) =>
  r.openapi(route, async (c) => {
    const { sim, connectivity } = await c.var.services.sims.connectivity(contextOf(c), c.req.valid('param').iccid)
    const details = connectionDetails(connectivity) as ReturnType<typeof Connectivity.parse>['connection_details']
    return c.json(envelope(c, { ...iccidView(sim.iccid), connected: connectivity.connected, connection_details: details, timestamp: connectivity.at.toISOString() }), 200)
  })

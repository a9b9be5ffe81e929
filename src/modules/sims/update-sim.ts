import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { IccidParam, UpdatedSim, UpdateSimBody } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { iccidView } from './views'

const route = createRoute({
  method: 'put',
  path: '/api/v1/sims/{iccid}',
  operationId: 'updateSim',
  tags: [SIM_TAG],
  summary: "Change a SIM's configuration",
  description:
    'Writable: `label`, `imei_lock`, `tags` (replaces the list), `metadata` (replaces the object) and `status` (`Enabled` or ' +
    '`Disabled`). Any other field is a 400 VALIDATION_ERROR. Status, label and IMEI lock go to the SIM provider first; a status ' +
    'change is recorded as an event (`sim_activated` / `sim_suspended`) and sent to webhooks (`sim.activated` / `sim.suspended`).',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { params: IccidParam, body: jsonBody(UpdateSimBody) },
  responses: { 200: ok(UpdatedSim, 'The SIM as changed'), ...simErrors, ...upstreamErrors },
})

export const registerUpdateSim = (r: Router) =>
  r.openapi(route, async (c) => {
    const s = await c.var.services.sims.update(contextOf(c), c.req.valid('param').iccid, c.req.valid('json'))
    return c.json(envelope(c, { ...iccidView(s.iccid), status: s.status, label: s.label, imei_lock: s.imeiLock, tags: s.tags, metadata: s.metadata, updated_at: s.updatedAt.toISOString() }), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { keySecurity, Meta, meta } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { IccidParam, ListEventsQuery, SimEventView, SimPagination, simPagination } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'
import { simEventView } from './views'

const Response = z.object({ success: z.literal(true), data: z.array(SimEventView), pagination: SimPagination, meta: Meta })

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}/events',
  operationId: 'listSimEvents',
  tags: [SIM_TAG],
  summary: "A SIM's event history",
  description:
    'Newest first. Types: sim_registered, sim_activated, sim_suspended, sim_status_changed, sim_updated, quota_threshold_reached, ' +
    'quota_depleted, quota_topped_up, connectivity_lost, connectivity_restored, connectivity_reset, sms_received; categories ' +
    'status, quota, connectivity, sms, topup. Filters: `start_date`, `end_date`, `event_type`.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: IccidParam, query: ListEventsQuery },
  responses: { 200: { content: { 'application/json': { schema: Response } }, description: 'Events' }, ...simErrors },
})

export const registerListSimEvents = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.sims.events(contextOf(c), c.req.valid('param').iccid, q)
    return c.json({ success: true as const, data: rows.map(simEventView), pagination: simPagination(q.page, q.page_size, total), meta: meta(c) }, 200)
  })

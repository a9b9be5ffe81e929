import { createRoute, z } from '@hono/zod-openapi'
import { keySecurity, Meta, meta } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { IccidParam, ListSmsQuery, SimPagination, simPagination, SimSmsView } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'
import { simSmsView } from './views'

const Response = z.object({ success: z.literal(true), data: z.array(SimSmsView), pagination: SimPagination, meta: Meta })

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}/sms',
  operationId: 'listSimSms',
  tags: [SIM_TAG],
  summary: "A SIM's SMS",
  description:
    'Messages sent to the device (MT) and by it (MO), newest first. Filters: `direction` (MO, MT), `status` (pending, sent, delivered, ' +
    'failed, cancelled; received for MO), `start_date`, `end_date` (on `created_at`). When the SIM provider was last asked more than ' +
    'a few seconds ago, it is asked again first (new MO messages, MT delivery states); if it fails, the stored messages are served.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: IccidParam, query: ListSmsQuery },
  responses: { 200: { content: { 'application/json': { schema: Response } }, description: 'Messages' }, ...simErrors },
})

export const registerListSimSms = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.simSms.list(contextOf(c), c.req.valid('param').iccid, q)
    return c.json({ success: true as const, data: rows.map(simSmsView), pagination: simPagination(q.page, q.page_size, total), meta: meta(c) }, 200)
  })

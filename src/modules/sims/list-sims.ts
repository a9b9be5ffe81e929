import { createRoute, z } from '@hono/zod-openapi'
import { keySecurity, Meta, meta } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ListSimsQuery, SimPagination, SimSummary, simPagination } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'
import { simSummaryView } from './views'

const Response = z.object({ success: z.literal(true), data: z.array(SimSummary), pagination: SimPagination, meta: Meta })

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims',
  operationId: 'listSims',
  tags: [SIM_TAG],
  summary: 'Your SIMs',
  description:
    'Page by page (`page`, `page_size` up to 100, default 50). `status` filters; `search` matches the start of an ICCID (digits) or ' +
    'part of a label; `sort_by` one of created_at (default), updated_at, label, iccid, activation_date, status, with `sort_order` ' +
    'asc or desc (default). Served from what Switchboard stored (the sync refreshes it every 15 minutes).',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { query: ListSimsQuery },
  responses: { 200: { content: { 'application/json': { schema: Response } }, description: 'SIMs' }, ...simErrors },
})

export const registerListSims = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.sims.list(contextOf(c), q)
    return c.json({ success: true as const, data: rows.map(simSummaryView), pagination: simPagination(q.page, q.page_size, total), meta: meta(c) }, 200)
  })

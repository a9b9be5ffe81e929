import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { IccidParam, SimUsage, UsageQuery } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { iccidView } from './views'
import { usageReport } from './usage-report'

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}/usage',
  operationId: 'getSimUsage',
  tags: [SIM_TAG],
  summary: "A SIM's usage",
  description:
    'Daily usage from the SIM provider over `start_date`..`end_date` (days, UTC, both included; default the last 30 days up to ' +
    'today; at most 366 days), grouped by `granularity`: daily, weekly (weeks start on Monday; `date` is the first day of the week ' +
    'within the period) or monthly (`date` is the first day of the month within the period). `summary` covers the whole period: ' +
    '`average_daily_volume` is the total over the number of days in the period, `peak_*` the busiest day.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: IccidParam, query: UsageQuery },
  responses: { 200: ok(SimUsage, 'Usage'), ...simErrors, ...upstreamErrors },
})

export const registerGetSimUsage = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { sim, start, end, days } = await c.var.services.sims.usage(contextOf(c), c.req.valid('param').iccid, q)
    return c.json(envelope(c, { ...iccidView(sim.iccid), ...usageReport(days, start, end, q.granularity) }), 200)
  })

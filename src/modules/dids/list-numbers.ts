import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, Meta, meta, PagePagination, pagePagination, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ListNumbersQuery, NumbersSummary, UserNumber } from './schemas'
import { numbersSummaryView, numberWithUsageView } from './views'

const Response = z.object({ success: z.literal(true), data: z.array(UserNumber), pagination: PagePagination, summary: NumbersSummary, meta: Meta })

const route = createRoute({
  method: 'get',
  path: '/api/v1/numbers',
  operationId: 'listNumbers',
  tags: ['numbers'],
  summary: 'Your numbers',
  description:
    '`data` and `pagination` as every list, and `summary` beside them (top level of the envelope) — ' +
    "the account's live numbers whatever the filters (count, active count, monthly total). Released numbers are listed only when " +
    '`status` asks for them. `status`, `numberType` and `tags` take repeated parameters or commas; `tags` keeps numbers carrying every ' +
    'tag given; `search` matches part of the number or the friendly name. Default sort: createdAt desc.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { query: ListNumbersQuery },
  responses: { 200: { content: { 'application/json': { schema: Response } }, description: 'Numbers' }, ...errorResponses },
})

export const registerListNumbers = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total, stats } = await c.var.services.dids.list(contextOf(c), q)
    return c.json({ success: true as const, data: rows.map(numberWithUsageView), pagination: pagePagination(q.page, q.limit, total), summary: numbersSummaryView(stats), meta: meta(c) }, 200)
  })

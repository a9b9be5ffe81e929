import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import { rangeEnd, rangeStart } from '../../lib/dates'
import { ValidationError } from '../../lib/errors'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { GetUsageQuery, UsageResponse } from './schemas'
import { resolveGroupBy } from './usage-buckets'

const route = createRoute({
  method: 'get',
  path: '/api/v1/billing/usage',
  operationId: 'getBillingUsage',
  tags: ['billing'],
  summary: 'Usage and its cost over a date range',
  description:
    "For the caller's own account. `startDate` and `endDate` are required: a " +
    'date (`YYYY-MM-DD`, UTC; as `endDate` it covers its whole day) or an ISO 8601 date-time (`endDate` inclusive); an end ' +
    'before the start is a 400. `resourceType` (repeat it or separate with commas) keeps only those usage types: ' +
    '`call_minutes`, `sms`, `api_calls` (reported usage and the per-key daily API-call meter), `activation` (activation ' +
    "numbers: +1 at the price charged, −1 when refunded, +1 again when a late SMS was charged), `did_purchase` (a DID's setup " +
    'and first month, −1 when its order was refunded), `did_monthly` (DID renewals), `subscription_proration`. `resourceId` ' +
    'keeps one resource. `usage[]` has one record per bucket (`groupBy` day, week from Monday, or month; ' +
    "`date` is the bucket's first day), usage type and resource, with the quantity and cost summed (`unitPrice` is the " +
    'price per unit; the average paid when prices differed within the record). `summary` totals the range (`totalQuantity` ' +
    'adds all units together; use `breakdown` per type), `period` is the range as understood. `trends` has every bucket of ' +
    'the range, 0 where there was no usage. Without `groupBy` the finest bucket that keeps the range within 1000 buckets is ' +
    'used (day, else week, else month; a range of more than 1000 months is a 400) and `groupBy` in the answer says which; a ' +
    '`groupBy` given with a range of more than 1000 of its buckets is a 400 (choose a coarser one or leave it out). Usage ' +
    'paid upfront from the wallet (activations, DIDs) is included in the costs. A user session or an API key with ' +
    '`billing:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: GetUsageQuery },
  responses: { 200: ok(UsageResponse, 'Usage of the range'), ...errorResponses },
})

export const registerGetBillingUsage = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const start = rangeStart(q.startDate)
    const end = rangeEnd(q.endDate)
    if (end <= start) throw ValidationError.field('endDate', 'endDate must not be before startDate')
    const groupBy = resolveGroupBy(start, end, q.groupBy)
    const data = await c.var.services.usage.range(contextOf(c), {
      start,
      end,
      groupBy,
      resourceTypes: q.resourceType,
      resourceId: q.resourceId,
    })
    return c.json(envelope(c, { groupBy, ...data }), 200)
  })

import { createRoute } from '@hono/zod-openapi'
import { rangeEnd, rangeStart } from '../../lib/dates'
import { ValidationError } from '../../lib/errors'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { resolveGroupBy } from '../usage/usage-buckets'
import { TOP_NUMBERS } from './analytics.queries'
import { CallAnalyticsQuery, CallAnalyticsResponse } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/analytics/calls',
  operationId: 'getCallAnalytics',
  tags: ['analytics'],
  summary: 'Call analytics over a date range',
  description:
    "For the caller's account. Switchboard has no call records: as " +
    "on the dashboard, a call is one reported `call_minutes` usage record, its minutes are that record's quantity and its " +
    "cost the record's cost; the records counted are those whose time (`occurred_at`) is in the range. `startDate` and " +
    '`endDate` are required: a date (`YYYY-MM-DD`, UTC; as `endDate` it covers its whole day) or an ISO 8601 date-time ' +
    '(`endDate` inclusive); an end before the start is a 400. Reported usage has no direction and no outcome: every call is ' +
    '`outbound` and `completed`, so `direction=inbound` or a `status` other than `completed` answers zeros, `byDirection.inbound` ' +
    'is 0, `byStatus` lists every status (`completed`, `busy`, `failed`, `no-answer`, `canceled`) with all calls completed, ' +
    'and `successRate` is 100 when there are calls (0 otherwise). `averageDuration` is in minutes per call (2 decimals). ' +
    '`byHour` has the 24 hours of the day (UTC), `byDay` every bucket of the range, 0 where there were no calls: days, weeks ' +
    "(from Monday) or months per `groupBy` (`hour` keeps days, the hours being in `byHour`); `date` is the bucket's first " +
    'day. Without `groupBy` the finest bucket that keeps the range within 1000 buckets is used (day, else week, else month; ' +
    'a range of more than 1000 months is a 400) and `groupBy` in the answer says which; a `groupBy` given with a range of ' +
    'more than 1000 of its buckets is a 400 (choose a coarser one or leave it out). A call is on a number when ' +
    "its record's resource is one of the account's phone numbers; reported usage names none, so `numberId` (only the calls " +
    `on that number) usually answers zeros, and \`topNumbers\` (the ${TOP_NUMBERS} numbers with the most calls) and ` +
    '`geographic` (per country of those numbers; `percentage` is the share of all the calls of the answer, so calls on no ' +
    'number are in no country) are usually empty. Amounts in USD. A user session or an API key with `billing:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: CallAnalyticsQuery },
  responses: { 200: ok(CallAnalyticsResponse, 'Call analytics of the range'), ...errorResponses },
})

export const registerGetCalls = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const start = rangeStart(q.startDate)
    const end = rangeEnd(q.endDate)
    if (end <= start) throw ValidationError.field('endDate', 'endDate must not be before startDate')
    // `hour` keeps days in byDay (the hours are in byHour), so its range is checked as days.
    const groupBy = q.groupBy === 'hour' ? q.groupBy : resolveGroupBy(start, end, q.groupBy)
    if (groupBy === 'hour') resolveGroupBy(start, end, 'day')
    const data = await c.var.services.analytics.calls(contextOf(c), {
      start,
      end,
      numberId: q.numberId,
      direction: q.direction,
      status: q.status,
      groupBy,
    })
    return c.json(envelope(c, { groupBy, ...data }), 200)
  })

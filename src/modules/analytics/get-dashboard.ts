import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { DashboardAnalytics } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/analytics/dashboard',
  operationId: 'getDashboardAnalytics',
  tags: ['analytics'],
  summary: 'Dashboard analytics',
  description:
    "For the caller's account, from its data. Numbers: `totalNumbers` counts the DIDs not " +
    'released, `activeNumbers` those active. Calls: Switchboard has no call records — a call is one reported `call_minutes` ' +
    "usage record and its minutes are that record's quantity; `totalCalls`/`totalMinutes` are all time, `callVolume` counts " +
    "them per day as `outbound` (`inbound` is 0). SMS: the SMS received on the account's numbers and activation numbers " +
    'plus reported `sms` usage. Costs: `monthlyCost` and `usage.*.cost` are the usage cost of the UTC month (reported usage at ' +
    'its rates, metered API calls, activations and DIDs paid from the wallet, net of refunds); `growth` is the percent change ' +
    'from last month, 0 when last month was 0. `costTrend` and `callVolume` cover the last 30 days (UTC, today included), one ' +
    "entry per day. `numberUtilization`: the account's live numbers, the 100 most active first, with the SMS received on " +
    'each in the last 30 days as activity (`sms`) and `utilization` its share (0–100) of the SMS on all its numbers; `calls` ' +
    'and `minutes` are 0 (no per-number call records). `recentActivity`: the latest 10 of SMS received, numbers bought (DIDs ' +
    'and activations, `amount` the price), and payments (succeeded payments, and wallet credits other than refunds). A user ' +
    'session or an API key with `billing:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  responses: { 200: ok(DashboardAnalytics, 'Dashboard'), ...errorResponses },
})

export const registerGetDashboard = (r: Router) => r.openapi(route, async (c) => c.json(envelope(c, await c.var.services.analytics.dashboard(contextOf(c))), 200))

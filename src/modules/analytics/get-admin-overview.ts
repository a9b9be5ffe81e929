import { createRoute } from '@hono/zod-openapi'
import { aliasOperationId, envelope, errorResponses, ok, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth } from '../../http/authenticate'
import { ACTIVE_DAYS, GROWTH_MONTHS } from './analytics.queries'
import { SystemAnalyticsResponse } from './schemas'

const paths = [
  { path: '/api/v1/admin/analytics/overview', summary: 'System analytics', doc: '' },
  {
    path: '/api/admin/analytics/dashboard',
    summary: 'Admin dashboard stats',
    doc: "The activation API's admin path for the same figures: it answers exactly as GET /api/v1/admin/analytics/overview. ",
  },
] as const

const routeFor = ({ path, summary, doc }: (typeof paths)[number]) =>
  createRoute({
    method: 'get',
    path,
    operationId: aliasOperationId('getSystemAnalytics', path),
    tags: ['admin'],
    summary,
    description:
      doc +
      'Figures over all accounts, from their data. `summary.totalUsers` counts every account, ' +
      `\`activeUsers\` those with status \`active\` that logged in within the last ${ACTIVE_DAYS} days; \`totalNumbers\` the phone ` +
      'numbers (DIDs) not released. Revenue is the money taken from wallets, from the wallet ledger: every debit and capture, ' +
      'net of the credits that give such money back (refunds of activations and orders, returned DID renewal fees — credits ' +
      'referencing an activation, an order or a phone number); top-ups and other credits are not revenue. An entry counts on ' +
      'the UTC month it was written. `revenue.monthly` is the current UTC month, `annual` the last 12 months (the current one ' +
      'included), `growth` the percent change of this month from last month (2 decimals; 0 when last month was 0); ' +
      '`breakdown` splits the all-time revenue (`summary.totalRevenue`) by what the entry references: `numbers` activations, ' +
      'orders and phone numbers, `usage` invoices, `other` anything else. ' +
      `\`growth\` has the last ${GROWTH_MONTHS} UTC months (\`YYYY-MM\`, oldest first, the current one last): accounts created, ` +
      'revenue, and numbers purchased (by purchase time, released ones included). Usage is all time: Switchboard has no call ' +
      "records, so, as on the dashboard, a call is one reported `call_minutes` usage record and its minutes that record's " +
      'quantity; `totalSms` is reported `sms` usage plus the SMS received; `avgCallsPerUser` is totalCalls / totalUsers ' +
      '(2 decimals; 0 without accounts). Amounts in USD. Admins only.',
    middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
    security: sessionSecurity,
    responses: { 200: ok(SystemAnalyticsResponse, 'System analytics'), ...errorResponses },
  })

export const registerGetAdminOverview = (r: Router) => {
  for (const p of paths) r.openapi(routeFor(p), async (c) => c.json(envelope(c, await c.var.services.analytics.systemOverview()), 200))
}

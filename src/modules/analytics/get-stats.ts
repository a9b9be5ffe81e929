import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { StatsQuery } from '../usage/schemas'
import { accountFor } from '../../db/account-for'
import { Stats } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/stats',
  operationId: 'getAccountStats',
  tags: ['usage', 'billing'],
  summary: 'Account statistics (usage billing)',
  description:
    "`subscription` is the account's subscription (plan, status, the plan's monthly fee, end of " +
    "the current period), or null when it has none. `currentUsage` sums the current UTC month's call minutes, SMS and API " +
    'calls (reported and metered); `totals` holds the same three for all time, plus the invoices: `totalSpent` is the sum ' +
    'paid on them, `pendingAmount` what is still owed on unpaid ones (pending, partially paid, overdue), `invoiceCount` ' +
    'every invoice of the account. `recentInvoices`: the latest 5 by issue date, `amount` being the invoice total. ' +
    "`userId` defaults to the caller; another account's id is a 404 unless the caller is an admin. A user session or an API " +
    'key with `billing:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: StatsQuery },
  responses: { 200: ok(Stats, 'Statistics'), ...errorResponses },
})

export const registerGetStats = (r: Router) =>
  r.openapi(route, async (c) => {
    const ctx = await accountFor(c.var.services.db, contextOf(c), c.req.valid('query').userId)
    return c.json(envelope(c, await c.var.services.analytics.stats(ctx)), 200)
  })

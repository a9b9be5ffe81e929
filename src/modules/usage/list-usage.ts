import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { UsageHistoryQuery, UsageReport } from './schemas'
import { accountFor } from '../../db/account-for'

const route = createRoute({
  method: 'get',
  path: '/api/usage',
  operationId: 'listUsage',
  tags: ['usage'],
  summary: 'Usage history by month (usage billing)',
  description:
    "One entry per month, newest first, with the month's `callMinutes`, `smsCount` and `apiCalls` " +
    'summed over every usage record of the month — the reported ones (POST /api/usage; several reports of one month add up) ' +
    "and the metered ones (API calls made with the account's API keys are counted per key and day). Months with none of the " +
    'three are left out. `id` is stable for an account and month (`usage_<userId>_<YYYY-MM>`); `recordedAt` is when the ' +
    "month's latest record was written or last grew. `limit` caps the number of months (default: all). `userId` defaults " +
    "to the caller; another account's id is a 404 unless the caller is an admin. A user session or an API key with " +
    '`billing:read`. `data` is the list itself.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: UsageHistoryQuery },
  responses: { 200: ok(z.array(UsageReport), 'Usage by month, newest first'), ...errorResponses },
})

export const registerListUsage = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const ctx = await accountFor(c.var.services.db, contextOf(c), q.userId)
    return c.json(envelope(c, await c.var.services.usage.history(ctx, q.limit)), 200)
  })

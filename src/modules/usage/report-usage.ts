import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, jsonBody, keySecurity, Meta, meta } from '../../lib/http'
import { Forbidden } from '../../lib/errors'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { principalOf, requireAuth, contextOf } from '../../http/authenticate'
import { can } from '../../lib/principal'
import { ReportUsageBody, UsageReport } from './schemas'
import { accountFor } from '../../db/account-for'

const Answer = (description: string) => ({
  content: { 'application/json': { schema: z.object({ success: z.literal(true), data: UsageReport, message: z.string(), meta: Meta }) } },
  description,
})

const route = createRoute({
  method: 'post',
  path: '/api/usage',
  operationId: 'reportUsage',
  tags: ['usage'],
  summary: 'Report usage (usage billing)',
  description:
    "An outside system (a telephony platform) reports a month's call minutes, SMS and API calls. " +
    'Who may report: an admin (for any account, named by `userId`) or an API key with the `usage:write` permission (for its ' +
    "own account; another account's id is a 404 like an unknown one). A user session that is not an admin's, or a key " +
    "without `usage:write`, gets 403 FORBIDDEN. `userId` defaults to the caller's own account. Counts are non-negative " +
    'integers, 0 when omitted, and at least one must be greater than 0. Each non-zero metric becomes one usage record ' +
    '(`call_minutes` per minute $0.05, `sms` per message $0.01, `api_calls` per request $0.001) dated inside its month; all ' +
    "share the report's `id`, and the `usage.recorded` event goes out with them. A report adds to what the month already has " +
    '(GET /api/usage sums them). With `transactionId` the report is idempotent: the same transactionId again answers the ' +
    'first report with 200 (not 201) and records nothing, even if the figures differ. The answer is the report with ' +
    '`message: "Usage recorded successfully"`; `recordedAt` is when the report was recorded. Calls to this route are not ' +
    'counted as API usage themselves. A month that already has its invoice is closed: reporting for it is 409 ' +
    '`MONTH_INVOICED` (its usage would never be billed); report it in the current month instead.',
  middleware: [rateClass('general'), idempotent(), requireAuth()] as const,
  security: keySecurity,
  request: { body: jsonBody(ReportUsageBody) },
  responses: {
    201: Answer('Usage recorded'),
    200: Answer('This transactionId had been reported before: the first report, nothing recorded'),
    ...errorResponses,
  },
})

export const registerReportUsage = (r: Router) =>
  r.openapi(route, async (c) => {
    const p = principalOf(c)
    const body = c.req.valid('json')
    const admin = can(p, 'admin')
    if (!admin && !(p.via === 'api_key' && can(p, 'usage:write'))) {
      throw new Forbidden('Reporting usage needs an admin, or an API key with the usage:write permission', { requiredPermissions: ['usage:write'] })
    }
    const db = c.var.services.db
    const ctx = await accountFor(db, contextOf(c), body.userId)
    const { report, created } = await c.var.services.usage.report(ctx, body)
    const message = created ? 'Usage recorded successfully' : 'Usage already recorded for this transactionId'
    if (created) return c.json({ success: true as const, data: report, message, meta: meta(c) }, 201)
    return c.json({ success: true as const, data: report, message, meta: meta(c) }, 200)
  })

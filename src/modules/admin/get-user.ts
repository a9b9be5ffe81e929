import { createRoute, z } from '@hono/zod-openapi'
import { aliasOperationId, envelope, errorResponses, ok, sessionSecurity, Instant, Money } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import { requireAuth } from '../../http/authenticate'
import { AdminUser, adminUser, USER_PREFIXES, UserIdParam } from './schemas'

const Details = z
  .object({
    user: AdminUser,
    statistics: z
      .object({
        totalNumbers: z.number().int(),
        activeNumbers: z.number().int(),
        totalCalls: z.number().int(),
        totalMinutes: z.number(),
        totalSms: z.number().int(),
        totalSpent: Money,
        averageMonthlySpend: Money,
        activeApiKeys: z.number().int(),
        activeSessions: z.number().int(),
      })
      .openapi({
        description:
          '`totalNumbers` / `activeNumbers`: numbers held now (not released) / active. `totalCalls` / `totalMinutes`: all the ' +
          "account's calls, counted as GET /api/v1/analytics/calls counts them. `totalSms`: reported SMS usage plus SMS received. " +
          '`totalSpent`: USD taken from the wallet net of refunds (top-ups are not spending); `averageMonthlySpend`: that over the ' +
          'calendar months since the account was created, this one included (whole cents). `activeApiKeys`: not revoked nor ' +
          'expired; `activeSessions`: not logged out nor expired.',
      }),
    recentActivity: z.array(z.object({ type: z.string(), description: z.string(), timestamp: Instant })),
  })
  .openapi('AdminUserDetails')

/** USD per calendar month (UTC) from the month of `since` to the month of `now`, both included; whole cents. */
export function monthlyAverage(micros: number, since: Date, now: number): number {
  const at = new Date(now)
  const months = Math.max(1, (at.getUTCFullYear() - since.getUTCFullYear()) * 12 + at.getUTCMonth() - since.getUTCMonth() + 1)
  return Math.round(micros / months / 10_000) / 100
}

export const registerGetUser = (r: Router) => {
  for (const prefix of USER_PREFIXES) {
    const route = createRoute({
      method: 'get',
      path: `${prefix}/{id}`,
      operationId: aliasOperationId('getUser', prefix),
      tags: ['admin'],
      summary: 'User details, statistics and recent activity',
      middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
      security: sessionSecurity,
      request: { params: UserIdParam },
      responses: { 200: ok(Details, 'The user'), ...errorResponses },
    })
    r.openapi(route, async (c) => {
      const d = await c.var.services.adminUsers.details(c.req.valid('param').id)
      const activity = d.activity.map((a) => ({
        type: a.action,
        description: `${a.action}${typeof a.details.reason === 'string' ? `: ${a.details.reason}` : ''}`,
        timestamp: iso(a.createdAt)!,
      }))
      if (d.user.lastLoginAt) activity.push({ type: 'user.login', description: 'Last login', timestamp: iso(d.user.lastLoginAt)! })
      activity.sort((a, b) => b.timestamp.localeCompare(a.timestamp))
      return c.json(
        envelope(c, {
          user: adminUser(d.user),
          statistics: {
            totalNumbers: d.numbers.total,
            activeNumbers: d.numbers.active,
            totalCalls: d.calls.calls,
            totalMinutes: d.calls.minutes,
            totalSms: d.sms,
            totalSpent: fromMicros(d.spent),
            averageMonthlySpend: monthlyAverage(d.spent, d.user.createdAt, Date.now()),
            activeApiKeys: d.activeApiKeys,
            activeSessions: d.activeSessions,
          },
          recentActivity: activity,
        }),
        200,
      )
    })
  }
}

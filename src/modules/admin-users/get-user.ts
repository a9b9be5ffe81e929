import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, sessionSecurity } from '../../lib/http'
import type { Router } from '../../lib/router'
import { iso } from '../../lib/time'
import { requireAuth } from '../../middleware/authenticate'
import { AdminUser, adminUser, USER_PREFIXES, UserIdParam } from './schemas'

const Details = z
  .object({
    user: AdminUser,
    statistics: z.object({
      totalNumbers: z.number().int(),
      activeNumbers: z.number().int(),
      totalCalls: z.number().int(),
      totalMinutes: z.number(),
      totalSms: z.number().int(),
      totalSpent: z.number(),
      averageMonthlySpend: z.number(),
      activeApiKeys: z.number().int(),
      activeSessions: z.number().int(),
    }).openapi({ description: 'Number, call and money figures are filled by those features as they land (0 until then)' }),
    recentActivity: z.array(z.object({ type: z.string(), description: z.string(), timestamp: z.string() })),
  })
  .openapi('AdminUserDetails')

export const registerGetUser = (r: Router) => {
  for (const prefix of USER_PREFIXES) {
    const route = createRoute({
      method: 'get',
      path: `${prefix}/{id}`,
      tags: ['admin'],
      summary: 'User details, statistics and recent activity',
      middleware: [requireAuth({ admin: true })] as const,
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
            totalNumbers: 0,
            activeNumbers: 0,
            totalCalls: 0,
            totalMinutes: 0,
            totalSms: 0,
            totalSpent: 0,
            averageMonthlySpend: 0,
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

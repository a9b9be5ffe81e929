import { createRoute, z } from '@hono/zod-openapi'
import { aliasOperationId, errorResponses, listEnvelope, okList, PagePagination, pagePagination, PageQuery, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth } from '../../http/authenticate'
import { AdminUserSummary, adminUserSummary, USER_PREFIXES } from './schemas'

/** `role=admin&role=user` or `role=admin,user`. */
const Roles = z
  .union([z.string(), z.array(z.string())])
  .transform((v) =>
    (Array.isArray(v) ? v : [v])
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(['user', 'admin'])))
  .optional()
  .openapi({ type: 'array', items: { type: 'string', enum: ['user', 'admin'] }, description: 'Only users with one of these roles: repeat the parameter or separate with commas' })

const Query = z.object({
  ...PageQuery,
  search: z.string().trim().max(100).optional().openapi({ description: 'Part of email, first or last name, or company' }),
  role: Roles,
  status: z.enum(['active', 'suspended', 'banned', 'inactive']).optional().openapi({ description: 'Only users in this status' }),
  sortBy: z.enum(['createdAt', 'lastLoginAt', 'email']).default('createdAt').openapi({ description: 'The field to sort by' }),
  sortOrder: z.enum(['asc', 'desc']).default('desc').openapi({ description: 'Ascending or descending' }),
})

export const registerListUsers = (r: Router) => {
  for (const prefix of USER_PREFIXES) {
    const route = createRoute({
      method: 'get',
      path: prefix,
      operationId: aliasOperationId('listUsers', prefix),
      tags: ['admin'],
      summary: 'List users',
      middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
      security: sessionSecurity,
      request: { query: Query },
      responses: { 200: okList(AdminUserSummary, PagePagination, 'Users'), ...errorResponses },
    })
    r.openapi(route, async (c) => {
      const q = c.req.valid('query')
      const { rows, total } = await c.var.services.adminUsers.list({ ...q, roles: q.role })
      return c.json(listEnvelope(c, rows.map(adminUserSummary), pagePagination(q.page, q.limit, total)), 200)
    })
  }
}

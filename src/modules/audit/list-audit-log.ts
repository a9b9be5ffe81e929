import { createRoute, z } from '@hono/zod-openapi'
import { and, count, desc, eq, type SQL } from 'drizzle-orm'
import { auditLog } from '../../db/schema'
import { errorResponses, listEnvelope, okList, PagePagination, pagePagination, PageQuery, sessionSecurity, Instant } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { iso } from '../../lib/time'
import { requireAuth } from '../../http/authenticate'

const Entry = z
  .object({
    id: z.string(),
    actorId: z.string().nullable(),
    actorType: z.enum(['user', 'api_key', 'system']),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string(),
    details: z.record(z.string(), z.unknown()),
    ip: z.string().nullable(),
    requestId: z.string().nullable(),
    createdAt: Instant,
  })
  .openapi('AuditEntry')

const route = createRoute({
  method: 'get',
  path: '/api/v1/admin/audit-log',
  operationId: 'listAuditLog',
  tags: ['admin'],
  summary: 'The audit log of admin actions (newest first)',
  middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
  security: sessionSecurity,
  request: {
    query: z.object({
      ...PageQuery,
      actorId: z.string().max(64).optional().openapi({ description: 'Only entries by this actor (a user or API key id)' }),
      targetType: z.string().max(32).optional().openapi({ description: 'Only entries on targets of this type' }),
      targetId: z.string().max(64).optional().openapi({ description: 'Only entries on this target' }),
    }),
  },
  responses: { 200: okList(Entry, PagePagination, 'Entries'), ...errorResponses },
})

export const registerListAuditLog = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { db } = c.var.services
    const filters: SQL[] = []
    if (q.actorId) filters.push(eq(auditLog.actorId, q.actorId))
    if (q.targetType) filters.push(eq(auditLog.targetType, q.targetType))
    if (q.targetId) filters.push(eq(auditLog.targetId, q.targetId))
    const where = and(...filters)
    const [rows, total] = await db.batch([
      db
        .select()
        .from(auditLog)
        .where(where)
        .orderBy(desc(auditLog.createdAt), desc(auditLog.id))
        .limit(q.limit)
        .offset((q.page - 1) * q.limit),
      db.select({ n: count() }).from(auditLog).where(where),
    ])
    const data = rows.map((e) => ({ ...e, createdAt: iso(e.createdAt)! }))
    return c.json(listEnvelope(c, data, pagePagination(q.page, q.limit, total[0]?.n ?? 0)), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { and, count, desc, eq, type SQL } from 'drizzle-orm'
import { emails } from '../../db/schema'
import { errorResponses, listEnvelope, okList, PagePagination, pagePagination, PageQuery, sessionSecurity, Instant } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { iso } from '../../lib/time'
import { requireAuth } from '../../http/authenticate'

const Email = z
  .object({
    id: z.string(),
    to: z.string(),
    subject: z.string(),
    text: z.string(),
    kind: z.string(),
    transport: z.string(),
    createdAt: Instant,
  })
  .openapi('SentEmail')

const route = createRoute({
  method: 'get',
  path: '/api/v1/admin/emails',
  operationId: 'listEmails',
  tags: ['admin'],
  summary: "Mail the platform sent (the sandbox mailer's inbox)",
  description:
    'The sandbox mailer keeps every message here instead of delivering it: locally this is where verification and ' + 'password-reset links are read. Newest first; `to` filters by recipient.',
  middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
  security: sessionSecurity,
  request: {
    query: z.object({
      ...PageQuery,
      to: z.string().trim().toLowerCase().max(254).optional().openapi({ description: 'Only mails to this address (case-insensitive)' }),
      kind: z.string().max(32).optional().openapi({ description: 'Only mails of this kind' }),
    }),
  },
  responses: { 200: okList(Email, PagePagination, 'Mail'), ...errorResponses },
})

export const registerListEmails = (r: Router) =>
  r.openapi(route, async (c) => {
    const { page, limit, to, kind } = c.req.valid('query')
    const { db } = c.var.services
    const filters: SQL[] = []
    if (to) filters.push(eq(emails.to, to))
    if (kind) filters.push(eq(emails.kind, kind))
    const where = and(...filters)
    const [rows, total] = await db.batch([
      db
        .select()
        .from(emails)
        .where(where)
        .orderBy(desc(emails.createdAt), desc(emails.id))
        .limit(limit)
        .offset((page - 1) * limit),
      db.select({ n: count() }).from(emails).where(where),
    ])
    const data = rows.map((m) => ({ id: m.id, to: m.to, subject: m.subject, text: m.text, kind: m.kind, transport: m.transport, createdAt: iso(m.createdAt)! }))
    return c.json(listEnvelope(c, data, pagePagination(page, limit, total[0]?.n ?? 0)), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { and, count, desc, eq, type SQL } from 'drizzle-orm'
import { failedJobs } from '../../db/schema'
import { errorResponses, listEnvelope, okList, PagePagination, pagePagination, PageQuery, sessionSecurity, Instant } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { iso } from '../../lib/time'
import { requireAuth } from '../../http/authenticate'

const FailedJob = z
  .object({
    id: z.string().openapi({ example: 'job_3f1c…', description: 'Names the job (derived from its message): the same job is one entry however often it failed' }),
    type: z.string().openapi({ example: 'billing.invoice' }),
    body: z.unknown().openapi({ description: 'The job message as it was queued' }),
    status: z.enum(['retrying', 'dead']).openapi({ description: '`retrying`: failed, the queue retries it; `dead`: the queue gave up on it' }),
    attempts: z.number().int().openapi({ description: 'The highest delivery attempt that failed' }),
    lastError: z.string().nullable(),
    messageId: z.string().nullable(),
    firstFailedAt: Instant,
    lastFailedAt: Instant,
    deadAt: Instant.nullable(),
  })
  .openapi('FailedJob')

const route = createRoute({
  method: 'get',
  path: '/api/v1/admin/failed-jobs',
  operationId: 'listFailedJobs',
  tags: ['admin'],
  summary: 'Background jobs that failed (billing runs, renewals, top-ups, …)',
  description:
    'Jobs of the background queue that failed, most recent failure first. A job is `retrying` while the queue still retries it ' +
    '(it leaves this list when a retry succeeds) and `dead` once the queue gave up after its last retry; a dead job is kept ' +
    'with the last error seen. Entries are kept 30 days: a dead job 30 days after it died, a retrying one 30 days after its last ' +
    'failure. `status` and `type` filter.',
  middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
  security: sessionSecurity,
  request: {
    query: z.object({
      ...PageQuery,
      status: z.enum(['retrying', 'dead']).optional().openapi({ description: 'Only jobs in this state' }),
      type: z.string().max(100).optional().openapi({ description: 'Only jobs of this type (`billing.invoice`, …)' }),
    }),
  },
  responses: { 200: okList(FailedJob, PagePagination, 'Failed jobs'), ...errorResponses },
})

export const registerListFailedJobs = (r: Router) =>
  r.openapi(route, async (c) => {
    const { page, limit, status, type } = c.req.valid('query')
    const { db } = c.var.services
    const filters: SQL[] = []
    if (status) filters.push(eq(failedJobs.status, status))
    if (type) filters.push(eq(failedJobs.type, type))
    const where = and(...filters)
    const [rows, total] = await db.batch([
      db
        .select()
        .from(failedJobs)
        .where(where)
        .orderBy(desc(failedJobs.lastFailedAt), desc(failedJobs.id))
        .limit(limit)
        .offset((page - 1) * limit),
      db.select({ n: count() }).from(failedJobs).where(where),
    ])
    const data = rows.map((j) => ({
      id: j.id,
      type: j.type,
      body: j.body,
      status: j.status,
      attempts: j.attempts,
      lastError: j.lastError,
      messageId: j.messageId,
      firstFailedAt: iso(j.firstFailedAt)!,
      lastFailedAt: iso(j.lastFailedAt)!,
      deadAt: iso(j.deadAt),
    }))
    return c.json(listEnvelope(c, data, pagePagination(page, limit, total[0]?.n ?? 0)), 200)
  })

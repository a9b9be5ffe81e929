import { createRoute, z } from '@hono/zod-openapi'
import { keySecurity, Meta, meta } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { fromMicros } from '../../lib/money'
import { JobIdParam, JobQuery, JobView, SimPagination, simPagination } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'

const Response = z.object({ success: z.literal(true), data: JobView, pagination: SimPagination, meta: Meta })

const route = createRoute({
  method: 'get',
  path: '/api/v1/jobs/{job_id}',
  operationId: 'getJob',
  tags: [SIM_TAG],
  summary: 'A bulk job and its per-SIM results',
  description:
    '`status` is `processing` until every SIM has a result, then `completed`. `results` lists the SIMs in request order, a page ' +
    'at a time (`page`, `page_size` up to 1000, default 100; `pagination` beside `data`): `succeeded` with the new quota and the price ' +
    'taken, `failed` with `error`, or `pending`. `total_price` is what the job has taken from the wallet so far.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: JobIdParam, query: JobQuery },
  responses: { 200: { content: { 'application/json': { schema: Response } }, description: 'The job' }, ...simErrors },
})

export const registerGetJob = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { job, rows, succeeded, failed, spent } = await c.var.services.simTopUpService.job(contextOf(c), c.req.valid('param').job_id, q.page, q.page_size)
    const byIndex = new Map(rows.map((r) => [r.jobIndex, r]))
    const first = (q.page - 1) * q.page_size
    const results = []
    for (let i = first; i < Math.min(job.total, first + q.page_size); i++) {
      const r = byIndex.get(i)
      results.push(
        r
          ? {
              index: i,
              iccid: r.iccid,
              quota_type: r.quotaType,
              volume: r.volume,
              status: r.status,
              transaction_id: r.id,
              price: r.status === 'succeeded' ? fromMicros(r.amount) : 0,
              new_total: r.newTotal,
              new_remaining: r.newRemaining,
              error: r.errorCode ? { code: r.errorCode, message: r.errorMessage ?? '' } : null,
            }
          : { index: i, iccid: null, quota_type: null, volume: null, status: 'pending' as const, transaction_id: `${job.id}:${i}`, price: 0, new_total: null, new_remaining: null, error: null },
      )
    }
    return c.json(
      {
        success: true as const,
        data: {
          job_id: job.id,
          type: job.kind,
          status: job.status,
          total_sims: job.total,
          processed: succeeded + failed,
          succeeded,
          failed,
          pending: job.total - succeeded - failed,
          total_price: fromMicros(spent),
          currency: 'USD' as const,
          created_at: job.createdAt.toISOString(),
          completed_at: job.completedAt?.toISOString() ?? null,
          results,
        },
        pagination: simPagination(q.page, q.page_size, job.total),
        meta: meta(c),
      },
      200,
    )
  })

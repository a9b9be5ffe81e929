import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { contextOf, principalOf, requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, idempotencyScope, IdempotencyKeyHeader } from '../../http/idempotency'
import { BulkTopUpAccepted, BulkTopUpBody } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'

const route = createRoute({
  method: 'post',
  path: '/api/v1/sims/topup',
  operationId: 'topUpSims',
  tags: [SIM_TAG],
  summary: 'Top up many SIMs',
  description:
    'Up to 10,000 top-ups, run as a job: 202 with `job_id` and `status_url` (GET /api/v1/jobs/{job_id}) for the per-SIM results. ' +
    'Each SIM is priced and paid as a single top-up (POST /api/v1/sims/{iccid}/topup) and succeeds or fails on its own: an ICCID ' +
    'that is invalid or not yours fails (`INVALID_ICCID`, `NOT_FOUND`), a wallet that pays for only some SIMs pays for those in ' +
    'request order and the rest fail with `INSUFFICIENT_BALANCE`, a provider failure fails its SIMs uncharged (`UPSTREAM_ERROR`). ' +
    'Every SIM has its own operation id, so no SIM is charged or topped up twice. `Idempotency-Key` answers the first job again.',
  middleware: [rateClass('purchase'), simHourly, idempotent(), requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(BulkTopUpBody) },
  responses: { 202: ok(BulkTopUpAccepted, 'The job'), ...simErrors, ...idempotencyErrorResponses },
})

export const registerBulkTopUp = (r: Router) =>
  r.openapi(route, async (c) => {
    const key = c.req.header('idempotency-key')
    const items = c.req.valid('json').sims.map((s, i) => ({ i, iccid: s.iccid, quota_type: s.quota_type, volume: s.volume }))
    const job = await c.var.services.simTopUpService.bulk(contextOf(c), items, { idempotency: key ? { scope: idempotencyScope(principalOf(c)), key } : undefined })
    return c.json(envelope(c, { job_id: job.id, status: job.status, total_sims: job.total, status_url: `/api/v1/jobs/${job.id}` }), 202)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { and, count, eq, gt, isNull, or } from 'drizzle-orm'
import { Unauthorized } from '../../lib/errors'
import { aliasOperationId, err, metricsSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { timingSafeEqual } from '../../lib/crypto'
import type { Db } from '../../db/client'
import { apiKeys, sessions, sims, users } from '../../db/schema'
import { LATENCY_BUCKETS, type SeriesTotal } from './metrics.do'
import { flush, metricsStub } from './recorder'

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

export function renderSeries(series: SeriesTotal[]): string[] {
  const out = ['# HELP http_requests_total Total HTTP requests', '# TYPE http_requests_total counter']
  for (const s of series) {
    out.push(`http_requests_total{method="${s.method}",endpoint="${esc(s.route)}",status="${s.status}"} ${s.count}`)
  }
  out.push('# HELP http_request_duration_seconds HTTP request latency', '# TYPE http_request_duration_seconds histogram')
  const byRoute = new Map<string, { method: string; route: string; buckets: number[]; sum: number; count: number }>()
  for (const s of series) {
    const key = `${s.method} ${s.route}`
    const agg = byRoute.get(key) ?? { method: s.method, route: s.route, buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 }
    s.buckets.forEach((n, i) => {
      agg.buckets[i] += n
    })
    agg.sum += s.sumSeconds
    agg.count += s.count
    byRoute.set(key, agg)
  }
  for (const a of byRoute.values()) {
    const labels = `method="${a.method}",endpoint="${esc(a.route)}"`
    let cumulative = 0
    LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += a.buckets[i]!
      out.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${cumulative}`)
    })
    out.push(`http_request_duration_seconds_bucket{${labels},le="+Inf"} ${a.count}`)
    out.push(`http_request_duration_seconds_sum{${labels}} ${a.sum.toFixed(6)}`)
    out.push(`http_request_duration_seconds_count{${labels}} ${a.count}`)
  }
  return out
}

/** Gauges read from D1 at scrape time. Features add theirs here. */
async function gauges(db: Db, now: number): Promise<string[]> {
  const at = new Date(now)
  const [byStatus, keys, active, activeSims] = await db.batch([
    db.select({ status: users.status, role: users.role, n: count() }).from(users).groupBy(users.status, users.role),
    db
      .select({ n: count() })
      .from(apiKeys)
      .where(and(isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, at)))),
    db
      .select({ n: count() })
      .from(sessions)
      .where(and(isNull(sessions.revokedAt), gt(sessions.expiresAt, at))),
    db.select({ n: count() }).from(sims).where(eq(sims.status, 'Enabled')),
  ])
  const out = ['# HELP users_total Accounts by status and role', '# TYPE users_total gauge']
  for (const r of byStatus) out.push(`users_total{status="${r.status}",role="${r.role}"} ${r.n}`)
  out.push('# HELP api_keys_active API keys that are neither revoked nor expired', '# TYPE api_keys_active gauge')
  out.push(`api_keys_active ${keys[0]?.n ?? 0}`)
  out.push('# HELP sessions_active Login sessions that are neither revoked nor expired', '# TYPE sessions_active gauge')
  out.push(`sessions_active ${active[0]?.n ?? 0}`)
  out.push('# HELP active_sims_total Number of active SIMs (registered, status Enabled)', '# TYPE active_sims_total gauge')
  out.push(`active_sims_total ${activeSims[0]?.n ?? 0}`)
  return out
}

export function registerMetrics(r: Router) {
  for (const path of ['/metrics', '/api/metrics']) {
    const route = createRoute({
      method: 'get',
      path,
      operationId: aliasOperationId('getMetrics', path),
      tags: ['health'],
      summary: 'Prometheus metrics',
      description:
        'Request counters and latency histograms by route pattern and status, summed over every isolate (kept in the ' +
        'Metrics Durable Object), and gauges read from D1. When `METRICS_TOKEN` is set, send it as a Bearer token (401 ' +
        'otherwise). Production deployments always have one: the API does not run there without it.',
      middleware: [rateClass('exempt')] as const,
      security: metricsSecurity,
      responses: {
        200: { content: { 'text/plain': { schema: z.string() } }, description: 'Prometheus text format 0.0.4' },
        401: err('Missing or wrong bearer token (`UNAUTHORIZED`)'),
      },
    })
    r.openapi(route, async (c) => {
      const { config, env, db } = c.var.services
      if (config.METRICS_TOKEN) {
        const presented = c.req.header('authorization')?.replace(/^Bearer\s+/i, '') ?? ''
        if (!timingSafeEqual(presented, config.METRICS_TOKEN)) throw new Unauthorized()
      }
      const stub = metricsStub(env.METRICS)
      await flush(stub)
      const [series, g] = await Promise.all([stub.series(), gauges(db, Date.now())])
      const body = `${[...renderSeries(series), ...g].join('\n')}\n`
      return c.text(body, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' })
    })
  }
}

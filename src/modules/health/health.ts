import { createRoute, z } from '@hono/zod-openapi'
import type { Env } from '../../env'
import { aliasOperationId, ok, publicSecurity, Instant } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { chooseRequestId } from '../../http/request-id'
import { flush, metricsStub, observe, shouldFlush } from '../metrics/recorder'
import { logger } from '../../lib/logger'

/** Liveness paths and the status word each answers (monitors of either path match on it). */
export const LIVENESS = {
  '/health': { status: 'healthy', doc: 'Answers `{status: "healthy", timestamp}`' },
  '/api/health': { status: 'ok', doc: 'The activation API\'s health check: answers `{status: "ok", timestamp}`' },
} as const
export type LivenessPath = keyof typeof LIVENESS

export function isLivenessPath(path: string): path is LivenessPath {
  return path === '/health' || path === '/api/health'
}

/**
 * The security headers of a liveness answer: those of `secureHeaders()` that mean something for a
 * small JSON body fetched by monitors — no sniffing, same-origin reads only, HTTPS only — with the
 * middleware's values (test/modules/health/health.test.ts compares them). The others concern documents a
 * browser renders (framing, XSS filter, downloads, referrers, prefetch, agent clusters); leaving
 * them off these two answers keeps a poll near a bare Worker's cost (`npm run bench`: all eleven
 * cost about 15% of its throughput, see BENCHMARKS.md).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
  'x-content-type-options': 'nosniff',
}

/**
 * Liveness of the Worker itself; touches no dependency. The Worker's fetch answers it ahead of
 * the router and its middleware (src/index.ts), so a monitor's poll costs little more than a bare
 * Worker's answer (`npm run bench`); it does here what of that middleware a liveness answer needs
 * — the request id, the security headers, the request metrics — and no services, auth, rate limit
 * or CORS.
 */
export function liveness(request: Request, path: LivenessPath, env: Pick<Env, 'METRICS'>, ctx: Pick<ExecutionContext, 'waitUntil'>): Response {
  const started = performance.now()
  const requestId = chooseRequestId(request.headers.get('x-request-id') ?? undefined)
  const timestamp = new Date().toISOString()
  const body = `{"success":true,"data":{"status":"${LIVENESS[path].status}","timestamp":"${timestamp}"},"meta":{"timestamp":"${timestamp}","requestId":${JSON.stringify(requestId)},"request_id":${JSON.stringify(requestId)},"version":"v1"}}`
  const res = new Response(body, { status: 200, headers: { ...SECURITY_HEADERS, 'content-type': 'application/json', 'x-request-id': requestId } })
  observe('GET', path, 200, (performance.now() - started) / 1000)
  if (shouldFlush()) ctx.waitUntil(flush(metricsStub(env.METRICS)).catch((e) => logger.error('metrics flush failed', { requestId, error: e })))
  return res
}

/** The liveness routes; the same answer when the app is called without the Worker's fetch (tests). */
export const registerHealthCheck = (r: Router) => {
  for (const path of Object.keys(LIVENESS) as LivenessPath[]) {
    const { status, doc } = LIVENESS[path]
    const route = createRoute({
      method: 'get',
      path,
      operationId: aliasOperationId('getHealth', path),
      tags: ['health'],
      summary: 'Basic health check',
      description: `${doc}. Liveness only: answered ahead of authentication, rate limiting and CORS.`,
      middleware: [rateClass('exempt')] as const,
      security: publicSecurity,
      responses: { 200: ok(z.object({ status: z.literal(status), timestamp: Instant }), 'Up') },
    })
    r.openapi(route, (c) => liveness(c.req.raw, path, c.env, c.executionCtx) as never)
  }
}

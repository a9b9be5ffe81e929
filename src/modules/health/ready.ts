import { createRoute } from '@hono/zod-openapi'
import { aliasOperationId, ErrorBody, envelope, meta, ok, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { Readiness } from './schemas'

const NotReady = ErrorBody.extend({ data: Readiness })

export const registerReady = (r: Router) => {
  for (const path of ['/health/ready', '/api/health/ready']) {
    const route = createRoute({
      method: 'get',
      path,
      operationId: aliasOperationId('getReadiness', path),
      tags: ['health'],
      summary: 'Readiness check (D1, every Durable Object namespace, and the SIM provider)',
      description:
        '`status`, `checks` and `timestamp` inside the envelope. When D1 or a Durable Object namespace fails the answer is 503 ' +
        'with the error envelope (`SERVICE_UNAVAILABLE`) and the same readiness object under `data`, so probes that ' +
        'read either find the per-check status. `once_api` is the SIM provider (the active provider of kind `sim` first by ' +
        'priority: 1NCE, or the sandbox) answering an authenticated call within 2 s; it is reported but does not make the API ' +
        'not ready, since every other family works without it.',
      middleware: [rateClass('exempt')] as const,
      security: publicSecurity,
      responses: {
        200: ok(Readiness, 'Every dependency answered'),
        503: { content: { 'application/json': { schema: NotReady } }, description: 'A dependency failed' },
      },
    })
    r.openapi(route, async (c) => {
      const [internal, upstream] = await Promise.all([c.var.services.health.checks(), c.var.services.health.upstreamChecks()])
      const details = { ...internal, ...upstream }
      const checks = Object.fromEntries(Object.entries(details).map(([k, v]) => [k, v.status]))
      const ready = Object.values(internal).every((d) => d.status === 'healthy')
      const data = { status: ready ? ('ready' as const) : ('not_ready' as const), checks, details, timestamp: new Date().toISOString() }
      if (ready) return c.json(envelope(c, data), 200)
      const failing = Object.keys(internal).filter((k) => internal[k]!.status !== 'healthy')
      return c.json(
        {
          success: false as const,
          data,
          error: { code: 'SERVICE_UNAVAILABLE' as const, message: `Not ready: ${failing.join(', ')} failing`, details: { checks } },
          meta: meta(c),
        },
        503,
      )
    })
  }
}

import { createRoute } from '@hono/zod-openapi'
import { ErrorBody, envelope, meta, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { Readiness } from './schemas'

const NotReady = ErrorBody.extend({ data: Readiness })

export const registerReady = (r: Router) => {
  for (const path of ['/health/ready', '/api/health/ready']) {
    const route = createRoute({
      method: 'get',
      path,
      tags: ['health'],
      summary: 'Readiness check (D1 and every Durable Object namespace)',
      description:
        '`status`, `checks` and `timestamp` inside the envelope. When a check fails the answer is 503 ' +
        'with the error envelope (`SERVICE_UNAVAILABLE`) and the same readiness object under `data`, so probes that ' +
        'read either find the per-check status.',
      middleware: [rateClass('exempt')] as const,
      responses: {
        200: ok(Readiness, 'Every dependency answered'),
        503: { content: { 'application/json': { schema: NotReady } }, description: 'A dependency failed' },
      },
    })
    r.openapi(route, async (c) => {
      const details = await c.var.services.health.checks()
      const checks = Object.fromEntries(Object.entries(details).map(([k, v]) => [k, v.status]))
      const ready = Object.values(details).every((d) => d.status === 'healthy')
      const data = { status: ready ? ('ready' as const) : ('not_ready' as const), checks, details, timestamp: new Date().toISOString() }
      if (ready) return c.json(envelope(c, data), 200)
      const failing = Object.keys(details).filter((k) => details[k]!.status !== 'healthy')
      return c.json(
        {
          success: false as const,
          data,
          error: { code: 'SERVICE_UNAVAILABLE', message: `Not ready: ${failing.join(', ')} failing`, details: { checks } },
          meta: meta(c),
        },
        503,
      )
    })
  }
}

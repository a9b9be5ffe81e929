import { createRoute, z } from '@hono/zod-openapi'
import { envelope, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'

export const registerLive = (r: Router) => {
  for (const path of ['/health/live', '/api/health/live']) {
    const route = createRoute({
      method: 'get',
      path,
      tags: ['health'],
      summary: 'Liveness check',
      middleware: [rateClass('exempt')] as const,
      responses: { 200: ok(z.object({ status: z.literal('alive'), timestamp: z.string() }), 'Alive') },
    })
    r.openapi(route, (c) => c.json(envelope(c, { status: 'alive' as const, timestamp: new Date().toISOString() }), 200))
  }
}

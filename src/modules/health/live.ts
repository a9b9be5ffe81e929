import { createRoute, z } from '@hono/zod-openapi'
import { aliasOperationId, envelope, ok, publicSecurity, Instant } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'

export const registerLive = (r: Router) => {
  for (const path of ['/health/live', '/api/health/live']) {
    const route = createRoute({
      method: 'get',
      path,
      operationId: aliasOperationId('getLiveness', path),
      tags: ['health'],
      summary: 'Liveness check',
      middleware: [rateClass('exempt')] as const,
      security: publicSecurity,
      responses: { 200: ok(z.object({ status: z.literal('alive'), timestamp: Instant }), 'Alive') },
    })
    r.openapi(route, (c) => c.json(envelope(c, { status: 'alive' as const, timestamp: new Date().toISOString() }), 200))
  }
}

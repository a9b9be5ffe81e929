import { createRoute, z } from '@hono/zod-openapi'
import { envelope, ok } from '../../lib/http'
import type { Router } from '../../lib/router'

const routes = [
  { path: '/health', status: 'healthy', doc: 'Seed 002 shape: `{status: "healthy", timestamp}`' },
  { path: '/api/health', status: 'ok', doc: 'Seed 000 shape: `{status: "ok", timestamp}`' },
] as const

/** Liveness of the Worker itself; touches no dependency. */
export const registerHealthCheck = (r: Router) => {
  for (const { path, status, doc } of routes) {
    const route = createRoute({
      method: 'get',
      path,
      tags: ['health'],
      summary: 'Basic health check',
      description: doc,
      responses: { 200: ok(z.object({ status: z.literal(status), timestamp: z.string() }), 'Up') },
    })
    r.openapi(route, (c) => c.json(envelope(c, { status, timestamp: new Date().toISOString() }), 200))
  }
}

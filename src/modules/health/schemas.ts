import { z } from '@hono/zod-openapi'
import { Instant } from '../../lib/http'

export const Check = z.enum(['healthy', 'unhealthy'])

export const Readiness = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), Check).openapi({ example: { database: 'healthy', wallet: 'healthy' } }),
    details: z.record(z.string(), z.object({ status: Check, responseTime: z.number(), error: z.string().optional() })),
    timestamp: Instant,
  })
  .openapi('Readiness')

import { createRoute, z } from '@hono/zod-openapi'
import { eq } from 'drizzle-orm'
import { providers } from '../../db/schema'
import { envelope, errorResponses, ok, sessionSecurity, Instant } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth } from '../../http/authenticate'
import { flush, metricsStub } from '../metrics/recorder'
import { stripeCheck } from './health.service'

const Up = z.enum(['up', 'down'])
const External = z.object({
  status: Up,
  responseTime: z.number(),
  configured: z.boolean(),
  lastError: z.string().optional(),
})

const SystemHealth = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    timestamp: Instant,
    services: z.object({
      database: z.object({ status: Up, responseTime: z.number(), connections: z.number().openapi({ description: 'D1 is connectionless: always 0' }) }),
      redis: z
        .object({
          status: Up,
          responseTime: z.number(),
          memory: z.number().openapi({ description: 'Not applicable: the rate limiter and counters are Durable Objects (always 0)' }),
        })
        .openapi({ description: 'Kept for monitors that expect a cache entry: that role is played by the RateLimiter Durable Object' }),
      durableObjects: z.record(z.string(), z.object({ status: Up, responseTime: z.number(), error: z.string().optional() })),
      twilio: External,
      stripe: External,
    }),
    metrics: z.object({
      uptime: z.number().openapi({ description: 'Seconds since the metrics store first counted a request' }),
      requestsPerMinute: z.number(),
      errorRate: z.number().openapi({ description: 'Share of 5xx answers over the last 5 minutes (0–1)' }),
      avgResponseTime: z.number().openapi({ description: 'Milliseconds, last 5 minutes' }),
    }),
  })
  .openapi('SystemHealth')

const route = createRoute({
  method: 'get',
  path: '/api/v1/admin/system/health',
  operationId: 'getSystemHealth',
  tags: ['admin'],
  summary: 'System health for operators',
  description:
    'healthy: every internal dependency answers; unhealthy: D1 fails; degraded: a Durable Object namespace or a configured ' +
    'upstream fails. Upstreams that are not configured show `configured: false` and do not degrade the status. `twilio`: an ' +
    'active Twilio provider, up while its last sync was healthy. `stripe`: configured when the `STRIPE_SECRET_KEY` secret is ' +
    'set; then Stripe is asked an authenticated read each time (2 s at most): up when it accepts the key, otherwise down with ' +
    '`lastError` and `responseTime` in milliseconds.',
  middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
  security: sessionSecurity,
  responses: { 200: ok(SystemHealth, 'System health'), ...errorResponses },
})

const up = (s: string) => (s === 'healthy' ? ('up' as const) : ('down' as const))
const WINDOW_MINUTES = 4

export const registerSystemHealth = (r: Router) =>
  r.openapi(route, async (c) => {
    const { health, db, env, config, fetch } = c.var.services
    const stub = metricsStub(env.METRICS)
    await flush(stub).catch(() => undefined)
    const [checks, recent, upstreams, stripe] = await Promise.all([
      health.checks(),
      stub.recent(WINDOW_MINUTES),
      db.select().from(providers).where(eq(providers.adapter, 'twilio')).all(),
      stripeCheck(config, fetch),
    ])
    const external = (adapter: string) => {
      const p = upstreams.find((u) => u.adapter === adapter && u.status === 'active')
      if (!p) return { status: 'down' as const, responseTime: 0, configured: false, lastError: 'not configured' }
      return { status: p.healthy ? ('up' as const) : ('down' as const), responseTime: 0, configured: true, ...(p.lastError ? { lastError: p.lastError } : {}) }
    }
    const { database, ...objects } = checks
    const durableObjects = Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, { ...v, status: up(v.status) }]))
    const twilio = external('twilio')
    const degraded = Object.values(objects).some((o) => o.status !== 'healthy') || [twilio, stripe].some((e) => e.configured && e.status === 'down')
    return c.json(
      envelope(c, {
        status: database.status !== 'healthy' ? 'unhealthy' : degraded ? 'degraded' : 'healthy',
        timestamp: new Date().toISOString(),
        services: {
          database: { status: up(database.status), responseTime: database.responseTime, connections: 0 },
          redis: { status: up(checks.rate_limiter.status), responseTime: checks.rate_limiter.responseTime, memory: 0 },
          durableObjects,
          twilio,
          stripe,
        },
        metrics: {
          uptime: Math.round((Date.now() - recent.startedAt) / 1000),
          requestsPerMinute: Math.round((recent.requests / recent.minutes) * 100) / 100,
          errorRate: recent.requests ? Math.round((recent.errors / recent.requests) * 10_000) / 10_000 : 0,
          avgResponseTime: recent.requests ? Math.round((recent.sumSeconds / recent.requests) * 100_000) / 100 : 0,
        },
      }),
      200,
    )
  })

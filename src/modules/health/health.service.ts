/**
 * Readiness: D1 (with our schema) and every Durable Object namespace must answer. Each check is
 * timed and has its own timeout, so one stuck dependency shows as unhealthy instead of hanging.
 */
import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import type { Env } from '../../env'
import type { ProcessorDeps } from '../../providers/payments/registry'
import { StripePayments } from '../../providers/payments/stripe'

export type CheckStatus = 'healthy' | 'unhealthy'

export interface CheckResult {
  status: CheckStatus
  responseTime: number
  error?: string
}

const CHECK_TIMEOUT_MS = 2000

async function timed(fn: () => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now()
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS))])
    return { status: 'healthy', responseTime: Math.round(performance.now() - started) }
  } catch (e) {
    return { status: 'unhealthy', responseTime: Math.round(performance.now() - started), error: (e as Error).message }
  }
}

function ping(call: () => Promise<string>) {
  return async () => {
    if ((await call()) !== 'pong') throw new Error('unexpected answer')
  }
}

export interface UpstreamCheck {
  status: 'up' | 'down'
  responseTime: number
  configured: boolean
  lastError?: string
}

/**
 * Stripe for the system health: not configured without STRIPE_SECRET_KEY (the sandbox processor
 * takes every payment then); with it, an authenticated read at Stripe within CHECK_TIMEOUT_MS
 * says up or down. The error never carries the key (StripePayments.ping).
 */
export async function stripeCheck(config: ProcessorDeps['config'], fetcher: typeof fetch): Promise<UpstreamCheck> {
  const secretKey = config.STRIPE_SECRET_KEY
  if (!secretKey) return { status: 'down', responseTime: 0, configured: false, lastError: 'not configured' }
  const stripe = new StripePayments({ secretKey, baseUrl: config.STRIPE_API_BASE, fetch: fetcher })
  const r = await timed(() => stripe.ping(CHECK_TIMEOUT_MS))
  return r.status === 'healthy'
    ? { status: 'up', responseTime: r.responseTime, configured: true }
    : { status: 'down', responseTime: r.responseTime, configured: true, lastError: r.error ?? 'unreachable' }
}

export class HealthService {
  constructor(
    private readonly env: Env,
    private readonly db: Db,
    /** Upstreams readiness reports without depending on them, by check name: each resolves when its upstream answers. */
    private readonly upstreams: Record<string, () => Promise<void>> = {},
  ) {}

  /** The upstreams' checks (each timed, with its own timeout). */
  async upstreamChecks(): Promise<Record<string, CheckResult>> {
    const names = Object.keys(this.upstreams)
    const results = await Promise.all(names.map((n) => timed(() => this.upstreams[n]!())))
    return Object.fromEntries(names.map((n, i) => [n, results[i]!]))
  }

  async checks(): Promise<Record<string, CheckResult>> {
    const [database, wallet, numberLock, rateLimiter, metrics] = await Promise.all([
      timed(() => this.db.run(sql`SELECT 1 FROM users LIMIT 1`)),
      timed(ping(() => this.env.WALLET.get(this.env.WALLET.idFromName('health')).ping())),
      timed(ping(() => this.env.NUMBER_LOCK.get(this.env.NUMBER_LOCK.idFromName('health')).ping())),
      timed(ping(() => this.env.RATE_LIMITER.get(this.env.RATE_LIMITER.idFromName('health')).ping())),
      timed(ping(() => this.env.METRICS.get(this.env.METRICS.idFromName('health')).ping())),
    ])
    return { database, wallet, number_lock: numberLock, rate_limiter: rateLimiter, metrics }
  }
}

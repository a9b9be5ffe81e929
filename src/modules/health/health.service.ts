/**
 * Readiness: D1 (with our schema) and every Durable Object namespace must answer. Each check is
 * timed and has its own timeout, so one stuck dependency shows as unhealthy instead of hanging.
 */
import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import type { Env } from '../../env'

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
    await Promise.race([
      fn(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)),
    ])
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

export class HealthService {
  constructor(
    private readonly env: Env,
    private readonly db: Db,
  ) {}

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

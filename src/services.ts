/**
 * createServices(env, ctx) — the one factory used by fetch, queue and cron. Built once per
 * invocation; nothing here outlives the request that made it.
 */
import { readConfig, type Env } from './env'
import { createDb } from './db/client'
import { createMailer } from './providers/mailer/mailer'
import { AuthService } from './modules/auth/auth.service'
import { AuthnService } from './modules/auth/authn.service'
import { ApiKeyService } from './modules/api-keys/api-keys.service'
import { AuditService } from './modules/audit/audit.service'
import { AdminUsersService } from './modules/admin/admin-users.service'
import { HealthService } from './modules/health/health.service'
import { RateLimitService } from './modules/rate-limit/rate-limit.service'
import { resolveLimits } from './modules/rate-limit/limits'
import { WalletService } from './modules/wallet/wallet.service'
import { NumberLockService } from './modules/number-locks/number-lock.service'
import { ProvidersService } from './modules/providers/providers.service'
import { WebhooksService } from './modules/webhooks/webhooks.service'
import { logger } from './lib/logger'

function createCore(env: Env, ctx: Pick<ExecutionContext, 'waitUntil'>) {
  const config = readConfig(env)
  const db = createDb(env.DB)
  const defer = (p: Promise<unknown>) => ctx.waitUntil(p.catch((e) => logger.error('deferred task failed', { error: e })))
  const jwt = {
    secret: env.JWT_SECRET,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  }
  const mailer = createMailer(config.MAILER, db)
  const audit = new AuditService(db)
  return {
    env,
    config,
    db,
    defer,
    mailer,
    audit,
    limits: resolveLimits(config.RATE_LIMITS),
    rateLimiter: new RateLimitService(env.RATE_LIMITER),
    authn: new AuthnService(db, jwt, defer),
    auth: new AuthService(db, config, jwt, mailer),
    apiKeys: new ApiKeyService(db, { maxActive: config.MAX_ACTIVE_API_KEYS }),
    adminUsers: new AdminUsersService(db, audit, mailer),
    health: new HealthService(env, db),
    wallet: new WalletService(env.WALLET),
    numberLocks: new NumberLockService(env.NUMBER_LOCK),
    /** Outbound HTTP to partners (webhook deliveries); tests replace it. */
    fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
    providers: new ProvidersService(db, {
      fetch: (input, init) => fetch(input, init),
      secret: (name) => {
        const value = (env as unknown as Record<string, unknown>)[name]
        return typeof value === 'string' ? value : undefined
      },
    }),
  }
}

/** The services that depend on nothing but bindings and config. */
export type CoreServices = ReturnType<typeof createCore>

export function createServices(env: Env, ctx: Pick<ExecutionContext, 'waitUntil'>) {
  const core = createCore(env, ctx)
  return { ...core, webhooks: new WebhooksService(core) }
}

export type Services = ReturnType<typeof createServices>

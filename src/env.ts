/**
 * Bindings, vars and secrets. `readConfig` checks vars and secrets once per isolate and env
 * object; a missing or weak secret fails every request with a clear 500 rather than running
 * half-configured.
 */
import { z } from 'zod'
import type { Metrics } from './modules/metrics/metrics.do'
import type { NumberLock } from './modules/number-locks/number-lock.do'
import type { RateLimiter } from './modules/rate-limit/rate-limiter.do'
import type { Wallet } from './modules/wallet/wallet.do'
import { logger } from './lib/logger'

export interface Env {
  DB: D1Database
  WALLET: DurableObjectNamespace<Wallet>
  NUMBER_LOCK: DurableObjectNamespace<NumberLock>
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>
  METRICS: DurableObjectNamespace<Metrics>
  EVENTS: Queue
  WEBHOOKS: Queue
  JOBS: Queue
  /** Outbound messages to send (seed 004): `{kind: 'send' | 'receipt', messageId}`. */
  MESSAGES: Queue

  ENVIRONMENT: string
  JWT_ISSUER: string
  JWT_AUDIENCE: string
  ACCESS_TOKEN_TTL_SECONDS: string
  REFRESH_TOKEN_TTL_DAYS: string
  CORS_ORIGINS: string
  APP_URL: string
  MAILER: string
  MAIL_FROM: string
  /** JSON overrides of the rate-limit table, e.g. `{"purchase":{"limit":1000}}`. */
  RATE_LIMITS?: string
  /**
   * Secret: /metrics requires `Authorization: Bearer <METRICS_TOKEN>` when set. Required (24+
   * characters) with ENVIRONMENT=production, where an open /metrics would publish account counts.
   */
  METRICS_TOKEN?: string
  /** How many active API keys one account may hold (default 25). */
  MAX_ACTIVE_API_KEYS?: string
  /** Tax added to every invoice, in percent of its subtotal (default 0: no tax line). */
  BILLING_TAX_RATE_PERCENT?: string
  /** Most numbers one account may hold by reservation at a time (default 50). */
  RESERVATION_MAX_NUMBERS?: string
  /** Most times one reserved number may be extended (default 4: 30 minutes + 4 × 30 minutes). */
  RESERVATION_MAX_EXTENSIONS?: string
  /** Stripe API base URL (default https://api.stripe.com); tests point it at a fake. */
  STRIPE_API_BASE?: string
  /** Messaging upstreams' base URLs (default: WhatsApp https://graph.facebook.com, Telegram https://api.telegram.org, Twilio https://api.twilio.com). */
  WHATSAPP_API_BASE?: string
  TELEGRAM_API_BASE?: string
  TWILIO_API_BASE?: string
  /** Secret: Stripe secret key `sk_…`. Without it the `stripe` payment processor is refused (400). */
  STRIPE_SECRET_KEY?: string
  /**
   * `true`: webhook URLs (and numbers' smsUrl) may point at this machine's loopback — only with
   * ENVIRONMENT development or test; ignored elsewhere. `npm start` writes it to `.dev.vars`.
   */
  WEBHOOK_ALLOW_LOOPBACK?: string

  JWT_SECRET: string
  ENCRYPTION_KEY: string
  /** Shared secret providers present on inbound webhooks (unless their config names another). */
  PROVIDER_WEBHOOK_SECRET: string
}

const METRICS_TOKEN_MIN = 24
export const DEFAULT_MAX_ACTIVE_API_KEYS = 25

const RateLimitOverride = z.record(z.string(), z.object({ limit: z.number().int().positive().optional(), windowSeconds: z.number().int().positive().optional() }))

/** A whole-number var with a default (unset or empty: the default). */
const countVar = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((s) => (s ? Number(s) : fallback))
    .pipe(z.number().int().min(min).max(max))

const ConfigSchema = z
  .object({
    ENVIRONMENT: z.enum(['production', 'staging', 'development', 'test']),
    JWT_ISSUER: z.string().min(1),
    JWT_AUDIENCE: z.string().min(1),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400),
    REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(365),
    CORS_ORIGINS: z.string().default(''),
    APP_URL: z.url(),
    MAILER: z.enum(['sandbox']),
    MAIL_FROM: z.string().min(3),
    RATE_LIMITS: z
      .string()
      .optional()
      .transform((s, ctx) => {
        if (!s) return {}
        try {
          return RateLimitOverride.parse(JSON.parse(s))
        } catch {
          ctx.addIssue({ code: 'custom', message: 'RATE_LIMITS must be JSON like {"purchase":{"limit":20}}' })
          return z.NEVER
        }
      }),
    METRICS_TOKEN: z
      .string()
      .optional()
      .transform((s) => (s ? s : undefined)),
    MAX_ACTIVE_API_KEYS: z
      .string()
      .optional()
      .transform((s) => (s ? Number(s) : DEFAULT_MAX_ACTIVE_API_KEYS))
      .pipe(z.number().int('MAX_ACTIVE_API_KEYS must be a whole number').min(1).max(10_000)),
    BILLING_TAX_RATE_PERCENT: z
      .string()
      .optional()
      .transform((s) => (s ? Number(s) : 0))
      .pipe(z.number().min(0).max(100)),
    RESERVATION_MAX_NUMBERS: countVar(50, 1, 10_000),
    RESERVATION_MAX_EXTENSIONS: countVar(4, 0, 1_000),
    STRIPE_API_BASE: z.url().default('https://api.stripe.com'),
    WHATSAPP_API_BASE: z.url().optional(),
    TELEGRAM_API_BASE: z.url().optional(),
    TWILIO_API_BASE: z.url().optional(),
    STRIPE_SECRET_KEY: z
      .string()
      .optional()
      .transform((s) => (s ? s : undefined)),
    WEBHOOK_ALLOW_LOOPBACK: z
      .enum(['true', 'false', ''], { error: 'WEBHOOK_ALLOW_LOOPBACK must be true or false' })
      .optional()
      .transform((s) => s === 'true'),
    JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 characters'),
    ENCRYPTION_KEY: z.string().min(32, 'ENCRYPTION_KEY must be at least 32 characters'),
    PROVIDER_WEBHOOK_SECRET: z.string().min(24, 'PROVIDER_WEBHOOK_SECRET must be at least 24 characters'),
  })
  .superRefine((c, ctx) => {
    // Production fails closed: /metrics exposes user and key counts, so it is never left open there.
    if (c.ENVIRONMENT === 'production' && (c.METRICS_TOKEN?.length ?? 0) < METRICS_TOKEN_MIN) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_TOKEN'],
        message: `METRICS_TOKEN is required with ENVIRONMENT=production and must be at least ${METRICS_TOKEN_MIN} characters`,
      })
    }
  })

export type Config = z.infer<typeof ConfigSchema> & {
  corsOrigins: string[]
  isLocal: boolean
  /** APP_URL without its trailing slash: the base of every absolute URL the API writes. */
  appUrl: string
  /** What partner-facing URLs (webhook endpoints, numbers' smsUrl) may be, in this environment. */
  webhookUrls: { allowHttp: boolean; allowLoopback: boolean }
}

const cache = new WeakMap<object, Config>()

export function readConfig(env: Env): Config {
  const hit = cache.get(env)
  if (hit) return hit
  const parsed = ConfigSchema.safeParse(env)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new Error(`Invalid configuration: ${problems}`)
  }
  const isLocal = parsed.data.ENVIRONMENT === 'development' || parsed.data.ENVIRONMENT === 'test'
  if (parsed.data.WEBHOOK_ALLOW_LOOPBACK && !isLocal) {
    logger.warn('WEBHOOK_ALLOW_LOOPBACK is ignored outside development and test', { environment: parsed.data.ENVIRONMENT })
  }
  const config: Config = {
    ...parsed.data,
    corsOrigins: parsed.data.CORS_ORIGINS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    isLocal,
    appUrl: parsed.data.APP_URL.replace(/\/+$/, ''),
    webhookUrls: { allowHttp: isLocal, allowLoopback: isLocal && parsed.data.WEBHOOK_ALLOW_LOOPBACK },
  }
  cache.set(env, config)
  return config
}

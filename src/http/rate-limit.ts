import type { MiddlewareHandler } from 'hono'
import { RateLimited } from '../lib/errors'
import type { AppEnv } from './router'
import { clientIp } from '../modules/auth/client-info'
import { subjectOf } from '../modules/rate-limit/limits'
import { declaredPolicy } from './policy'

/**
 * Counts the request in the class its route declares (`rateClass`, src/http/policy.ts; a 404 is
 * `general`) in that class's RateLimiter object (per subject: limits.ts) and refuses it past the
 * limit (429).
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cls = declaredPolicy(c).rateClass
  if (cls === 'exempt') return next()
  const { limits, rateLimiter } = c.var.services
  const { limit, windowSeconds } = limits[cls]
  const subject = subjectOf(cls, c.get('principal'), clientIp(c))
  const res = await rateLimiter.hit(`${cls}:${subject}`, limit, windowSeconds * 1000)
  c.header('X-RateLimit-Limit', String(res.limit))
  c.header('X-RateLimit-Remaining', String(res.remaining))
  c.header('X-RateLimit-Reset', String(Math.ceil(res.resetAt / 1000)))
  if (!res.allowed) throw new RateLimited(res.limit, res.retryAfter, res.resetAt)
  await next()
}

import type { MiddlewareHandler } from 'hono'
import { RateLimited } from '../lib/errors'
import type { AppEnv } from '../lib/router'
import { clientIp } from '../modules/auth/client-info'
import { classify } from '../modules/rate-limit/limits'

/** Counts the request in its class's RateLimiter object and refuses it past the limit (429). */
export const rateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cls = classify(c.req.method, c.req.path)
  if (!cls) return next()
  const { limits, rateLimiter } = c.var.services
  const { limit, windowSeconds } = limits[cls]
  const p = c.get('principal')
  const subject =
    cls !== 'auth' && p ? (p.apiKeyId ? `key:${p.apiKeyId}` : `user:${p.userId}`) : `ip:${clientIp(c) ?? 'unknown'}`
  const res = await rateLimiter.hit(`${cls}:${subject}`, limit, windowSeconds * 1000)
  c.header('X-RateLimit-Limit', String(res.limit))
  c.header('X-RateLimit-Remaining', String(res.remaining))
  c.header('X-RateLimit-Reset', String(Math.ceil(res.resetAt / 1000)))
  if (!res.allowed) throw new RateLimited(res.limit, res.retryAfter, res.resetAt)
  await next()
}

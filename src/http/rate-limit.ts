import type { Context, MiddlewareHandler } from 'hono'
import { AppError, RateLimited } from '../lib/errors'
import type { AppEnv } from './router'
import { clientIp } from '../modules/auth/client-info'
import { limitFor, type LimitName, REFUSAL, subjectOf } from '../modules/rate-limit/limits'
import { declaredPolicy } from './policy'

/**
 * Counts the request in the class its route declares (`rateClass`, src/http/policy.ts; a 404 is
 * `general`) in that class's RateLimiter object (per subject: limits.ts) and refuses it past the
 * limit (429); then in each limit the route adds (`alsoLimit`), counted only when the class let the
 * request through. The `X-RateLimit-*` headers describe the limit with the fewest requests left.
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const policy = declaredPolicy(c)
  if (policy.rateClass === 'exempt') return next()
  const refused = await countIn(c, [policy.rateClass, ...policy.also])
  if (refused) throw refused
  await next()
}

/**
 * Counts the request in each of `names` in turn (per subject: limits.ts), stopping at the first
 * that refuses, and sets the `X-RateLimit-*` headers. Answers the refusal (429) or null. The
 * middleware above counts a route's declared limits with it; a route whose one path serves
 * several kinds of call (handler_api.php: reads and purchases) counts the purchase class with it too.
 */
export async function countIn(c: Context<AppEnv>, names: LimitName[]): Promise<AppError | null> {
  const { limits, messageTiers, rateLimiter } = c.var.services
  const principal = c.get('principal')
  let shown: Awaited<ReturnType<typeof rateLimiter.hit>> | undefined
  let refusedBy: LimitName | undefined
  for (const name of names) {
    const { limit, windowSeconds } = limitFor(name, limits, messageTiers, principal?.plan)
    const subject = subjectOf(name, principal, clientIp(c))
    const res = await rateLimiter.hit(`${name}:${subject}`, limit, windowSeconds * 1000)
    if (!shown || !res.allowed || res.remaining < shown.remaining) shown = res
    if (!res.allowed) {
      refusedBy = name
      break
    }
  }
  if (!shown) return null
  c.header('X-RateLimit-Limit', String(shown.limit))
  c.header('X-RateLimit-Remaining', String(shown.remaining))
  c.header('X-RateLimit-Reset', String(Math.ceil(shown.resetAt / 1000)))
  if (shown.allowed) return null
  const e = new RateLimited(shown.limit, shown.retryAfter, shown.resetAt)
  const named = refusedBy ? REFUSAL[refusedBy] : undefined
  return named ? new AppError(429, named.code, named.message(shown.limit), e.details, undefined, e.headers) : e
}

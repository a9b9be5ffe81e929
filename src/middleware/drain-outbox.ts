import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../lib/router'
import { drainOutbox } from '../modules/events/outbox'

const READS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * After a request that changed something, hand the events it wrote to the `events` queue, off the
 * response path. The per-minute sweeper catches whatever this misses.
 */
export const drainOutboxAfter: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next()
  if (READS.has(c.req.method) || c.res.status >= 400) return
  const { db, env, defer } = c.var.services
  defer(drainOutbox({ db, env }))
}

import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from './router'
import { eventScope, sendEvents } from '../modules/events/outbox'

const READS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * A request that changed something sends the events it wrote to the `events` queue after its
 * answer (waitUntil), by id, without reading the outbox: the ids are collected while the handler
 * runs (src/modules/events/outbox.ts). A failed answer sends nothing. Whatever is not sent — the
 * send failed, the isolate died — the per-minute sweeper sends.
 */
export const sendEventsAfter: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (READS.has(c.req.method)) return next()
  const ids: string[] = []
  await eventScope.run(ids, next)
  if (c.res.status >= 400 || !ids.length) return
  const { env, afterAnswer } = c.var.services
  afterAnswer(() => sendEvents(env, ids))
}

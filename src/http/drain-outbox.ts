import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from './router'
import { eventScope, sendEvents } from '../modules/events/outbox'
import { coalescedFlush } from '../lib/coalesce'
import { logger } from '../lib/logger'

const READS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Event ids written by this isolate's requests and not sent yet. Strings only: never a promise. */
let unsent: string[] = []

/**
 * The sends of many requests go out together (lib/coalesce.ts): each request's deferred flush
 * sends every id pending in the isolate, or leaves them to the flush already running. A failed
 * send is not retried here: the rows are still unsent in the outbox, and the sweeper sends them.
 */
const sender = coalescedFlush<string[], { EVENTS: Queue }>({
  take: () => {
    if (!unsent.length) return null
    const ids = unsent
    unsent = []
    return ids
  },
  write: (ids, env) =>
    sendEvents(env, ids).then(
      () => true,
      (e: unknown) => {
        logger.warn('events: send failed; the sweeper sends them', { module: 'events', events: ids.length, error: (e as Error).message })
        return false
      },
    ),
})

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
  unsent.push(...ids)
  const { env, afterAnswer, flushWindowMs } = c.var.services
  afterAnswer(() => sender.flush(env, flushWindowMs))
}

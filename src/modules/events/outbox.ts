/**
 * Domain events go into the `outbox` table in the same D1 batch as the change that causes them,
 * so an event exists exactly when its cause does; `drainOutbox` then hands it to the `events`
 * queue (src/modules/webhooks fans it out to partners). Event ids are stable across every retry.
 */
import { asc, inArray, isNull } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { outbox } from '../../db/schema'
import { newId } from '../../lib/ids'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'

export interface DomainEvent {
  /** Catalogue name, e.g. `sms.received`, `NUMBER_PURCHASED`. */
  type: string
  userId: string | null
  data: Record<string, unknown>
}

/** The insert to put in the batch of the change. */
export function outboxInsert(db: Db, event: DomainEvent, now = new Date()) {
  return db.insert(outbox).values({ id: newId('evt', now.getTime()), type: event.type, userId: event.userId, payload: event.data, createdAt: now })
}

/** A queue batch holds at most 100 messages. */
const PAGE = 100

/**
 * Sends unsent outbox rows to the `events` queue, oldest first, and marks them sent, page by page
 * until none is left or `maxRows` went out. Runs after every request that changed something and
 * from the per-minute sweeper; two drains racing may both send a row, and a crash between send
 * and mark sends it again later, which the fan-out absorbs (deliveries are unique per target and
 * event, and the event id never changes).
 */
export async function drainOutbox({ db, env }: { db: Db; env: { EVENTS: Queue } }, maxRows = 1000): Promise<number> {
  let sent = 0
  while (sent < maxRows) {
    const limit = Math.min(PAGE, maxRows - sent)
    const rows = await db.select({ id: outbox.id }).from(outbox).where(isNull(outbox.sentAt)).orderBy(asc(outbox.createdAt), asc(outbox.id)).limit(limit).all()
    if (!rows.length) break
    await env.EVENTS.sendBatch(rows.map((r) => ({ body: { eventId: r.id } })))
    const at = new Date()
    const ids = rows.map((r) => r.id)
    const marks = []
    for (const part of chunk(ids, IDS_PER_STATEMENT)) marks.push(db.update(outbox).set({ sentAt: at }).where(inArray(outbox.id, part)))
    await db.batch(marks as [(typeof marks)[0], ...typeof marks])
    sent += rows.length
    if (rows.length < limit) break
  }
  return sent
}

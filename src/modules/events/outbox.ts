/**
 * Domain events go into the `outbox` table in the same D1 batch as the change that causes them,
 * so an event exists exactly when its cause does; then they go to the `events` queue, whose
 * consumer (src/modules/webhooks) marks each row sent and fans it out to partners. Event ids are
 * stable across every retry.
 *
 * Two ways to the queue:
 * - A request sends the ids of the events it wrote, after its answer, with no D1 call
 *   (`eventScope` collects the ids made by `newEventId` while the request runs; the middleware
 *   `sendEventsAfter` sends them). An id whose batch did not commit reaches the consumer, which
 *   finds no row and does nothing.
 * - `drainOutbox` sends rows still unsent: the per-minute sweeper (rows older than a grace, so as
 *   not to resend what a request has just sent) and jobs that write events outside a request.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { and, asc, inArray, isNull, lt, lte, or } from 'drizzle-orm'
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

/** The ids of the events written during the current request (see `sendEventsAfter`). */
export const eventScope = new AsyncLocalStorage<string[]>()

/** Notes an event id written in this request, so the request sends it after its answer. */
export function noteEvent(id: string): string {
  eventScope.getStore()?.push(id)
  return id
}

/** A new event id, noted for this request. Every outbox row a request writes takes its id from here or `noteEvent`. */
export function newEventId(at: Date | number = Date.now()): string {
  return noteEvent(newId('evt', typeof at === 'number' ? at : at.getTime()))
}

/** Sends event ids to the `events` queue, 100 per batch. */
export async function sendEvents(env: { EVENTS: Queue }, ids: string[]): Promise<void> {
  for (const part of chunk(ids, PAGE)) await env.EVENTS.sendBatch(part.map((eventId) => ({ body: { eventId } })))
}

/** The insert to put in the batch of the change. */
export function outboxInsert(db: Db, event: DomainEvent, now = new Date()) {
  return db.insert(outbox).values({ id: newEventId(now), type: event.type, userId: event.userId, payload: event.data, createdAt: now })
}

/** A queue batch holds at most 100 messages. */
const PAGE = 100
/** How long a drain owns the rows it took; a drain that died before marking them frees them then. */
export const CLAIM_MS = 60_000

/**
 * Sends unsent outbox rows to the `events` queue, oldest first, and marks them sent, page by page
 * until none is left or `maxRows` went out; `minAgeMs` leaves younger rows alone (the sweeper's
 * grace for rows a request has just sent itself).
 *
 * Each page is taken by one UPDATE … RETURNING that claims unsent, unclaimed rows for `CLAIM_MS`,
 * so concurrent drains take disjoint rows instead of all sending the same ones. A drain that dies
 * between its claim and its mark leaves the rows claimed; once the claim lapses the next drain
 * sends them. That resend, and a send whose mark failed, reach the fan-out twice, which absorbs
 * it (deliveries are unique per target and event, and the event id never changes).
 */
export async function drainOutbox({ db, env }: { db: Db; env: { EVENTS: Queue } }, maxRows = 1000, minAgeMs = 0): Promise<number> {
  let sent = 0
  while (sent < maxRows) {
    const limit = Math.min(PAGE, maxRows - sent)
    const now = Date.now()
    const unclaimed = db
      .select({ id: outbox.id })
      .from(outbox)
      .where(and(isNull(outbox.sentAt), lte(outbox.createdAt, new Date(now - minAgeMs)), or(isNull(outbox.claimedUntil), lt(outbox.claimedUntil, new Date(now)))))
      .orderBy(asc(outbox.createdAt), asc(outbox.id))
      .limit(limit)
    const rows = await db
      .update(outbox)
      .set({ claimedUntil: new Date(now + CLAIM_MS) })
      .where(and(inArray(outbox.id, unclaimed), isNull(outbox.sentAt)))
      .returning({ id: outbox.id, createdAt: outbox.createdAt })
    if (!rows.length) break
    rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
    const ids = rows.map((r) => r.id)
    try {
      await sendEvents(env, ids)
    } catch (e) {
      // Not sent: free the rows for the next drain at once (if this fails too, the claim lapses).
      for (const part of chunk(ids, IDS_PER_STATEMENT))
        await db
          .update(outbox)
          .set({ claimedUntil: null })
          .where(inArray(outbox.id, part))
          .catch(() => undefined)
      throw e
    }
    const at = new Date()
    const marks = []
    for (const part of chunk(ids, IDS_PER_STATEMENT)) marks.push(db.update(outbox).set({ sentAt: at }).where(inArray(outbox.id, part)))
    await db.batch(marks as [(typeof marks)[0], ...typeof marks])
    sent += rows.length
    if (rows.length < limit) break
  }
  return sent
}

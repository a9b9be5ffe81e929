/**
 * Domain events go into the `outbox` table in the same D1 batch as the change that causes them,
 * so an event exists exactly when its cause does; `drainOutbox` then hands it to the `events`
 * queue (src/modules/webhooks fans it out to partners). Event ids are stable across every retry.
 */
import { and, asc, inArray, isNull, lt, or } from 'drizzle-orm'
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
/** How long a drain owns the rows it took; a drain that died before marking them frees them then. */
export const CLAIM_MS = 60_000

/**
 * Sends unsent outbox rows to the `events` queue, oldest first, and marks them sent, page by page
 * until none is left or `maxRows` went out. Runs after every request that changed something and
 * from the per-minute sweeper.
 *
 * Each page is taken by one UPDATE … RETURNING that claims unsent, unclaimed rows for `CLAIM_MS`,
 * so concurrent drains (every purchase runs one) take disjoint rows instead of all sending the
 * same ones. A drain that dies between its claim and its mark leaves the rows claimed; once the
 * claim lapses the next drain sends them. That resend, and a send whose mark failed, reach the
 * fan-out twice, which absorbs it (deliveries are unique per target and event, and the event id
 * never changes).
 */
export async function drainOutbox({ db, env }: { db: Db; env: { EVENTS: Queue } }, maxRows = 1000): Promise<number> {
  let sent = 0
  while (sent < maxRows) {
    const limit = Math.min(PAGE, maxRows - sent)
    const now = Date.now()
    const unclaimed = db
      .select({ id: outbox.id })
      .from(outbox)
      .where(and(isNull(outbox.sentAt), or(isNull(outbox.claimedUntil), lt(outbox.claimedUntil, new Date(now)))))
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
      await env.EVENTS.sendBatch(rows.map((r) => ({ body: { eventId: r.id } })))
    } catch (e) {
      // Not sent: free the rows for the next drain at once (if this fails too, the claim lapses).
      for (const part of chunk(ids, IDS_PER_STATEMENT)) await db.update(outbox).set({ claimedUntil: null }).where(inArray(outbox.id, part)).catch(() => undefined)
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

/**
 * Domain events go into the `outbox` table in the same D1 batch as the change that causes them,
 * so an event exists exactly when its cause does. Delivery (outbox → `events` queue → partner
 * webhooks) is the webhooks feature's; event ids are stable across every retry.
 */
import type { Db } from '../../db/client'
import { outbox } from '../../db/schema'
import { newId } from '../../lib/ids'

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

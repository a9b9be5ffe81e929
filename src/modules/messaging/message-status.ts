/**
 * A message's status only moves forward — `queued → sent → delivered | read | failed`, with `read`
 * after `delivered` — whatever order the upstream's updates arrive in. Each move is one D1 batch:
 * a compare-and-set UPDATE guarded by the statuses it may come from, preceded by the rows that go
 * with it (the partner events, and for `sent` the usage row and the hold's outcome), inserted only
 * when that guard holds (`insertWhere`). So an event exists exactly when its move happened, once.
 *
 * Events: `message.sent`, `message.delivered`, `message.failed`; for SMS (Twilio) also the DID
 * API's `SMS_SENT`, `SMS_DELIVERED`, `SMS_FAILED`.
 */
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import type { Stmt } from '../../db/batch'
import { runBatch } from '../../db/batch'
import { insertWhere } from '../../db/insert-where'
import { holdOutcomes, messages, outbox, usageRecords, type Message } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { noteEvent } from '../events/outbox'
import { messageUsageRow } from '../usage/product-meters'

type Status = Message['status']

/** The statuses a message may move to `to` from. */
export const MOVES_FROM: Record<Exclude<Status, 'queued'>, Status[]> = {
  sent: ['queued'],
  delivered: ['queued', 'sent'],
  read: ['queued', 'sent', 'delivered'],
  failed: ['queued', 'sent'],
}

const PARTNER_EVENT: Partial<Record<Status, string>> = { sent: 'message.sent', delivered: 'message.delivered', failed: 'message.failed' }
const SMS_EVENT: Partial<Record<Status, string>> = { sent: 'SMS_SENT', delivered: 'SMS_DELIVERED', failed: 'SMS_FAILED' }

export interface Move {
  to: Exclude<Status, 'queued'>
  at: Date
  upstreamId?: string
  metadata?: Record<string, unknown>
  errorCode?: string
  errorMessage?: string
}

export interface MoveOptions {
  /** For `sent`: the hold whose price is captured (its outcome row is written with the move). */
  chargeHoldId?: string
  /** For `failed` before anything was taken: the hold to void. */
  voidHoldId?: string
  /** Narrower than MOVES_FROM (a failure of the sending itself applies only to a `queued` message). */
  onlyFrom?: Status[]
}

/** The partner payload of a message event. */
export function messageEventData(m: Message, move: Move): Record<string, unknown> {
  return {
    messageId: m.id,
    projectId: m.projectId,
    connectorId: m.connectorId,
    connectorType: m.connectorType,
    to: m.to,
    status: move.to,
    upstreamId: move.upstreamId ?? m.upstreamId,
    at: move.at.toISOString(),
    ...(move.to === 'failed' ? { error: { code: move.errorCode ?? 'CONNECTOR_ERROR', message: move.errorMessage ?? '' } } : {}),
  }
}

function smsEventData(m: Message, move: Move): Record<string, unknown> {
  return {
    messageId: m.id,
    messageSid: move.upstreamId ?? m.upstreamId,
    from: null,
    to: m.to,
    body: m.text,
    direction: 'outbound',
    status: move.to,
    ...(move.to === 'failed' ? { errorCode: move.errorCode ?? null } : {}),
  }
}

/** The statements of one move (run them with `runBatch`, or add them to a batch). */
export function moveStatements(db: Db, m: Message, move: Move, opts: MoveOptions = {}): Stmt[] {
  const from = opts.onlyFrom ?? MOVES_FROM[move.to]
  const guard = sql`exists (select 1 from ${messages} where ${messages.id} = ${m.id} and ${messages.status} in ${from})`
  const stmts: Stmt[] = []
  const event = (type: string, data: Record<string, unknown>) =>
    insertWhere(db, outbox, { id: noteEvent(`evt_${m.id}_${type.replace(/[^A-Za-z0-9]/g, '_')}`), type, userId: m.userId, payload: data, createdAt: move.at }, guard).onConflictDoNothing()
  const partner = PARTNER_EVENT[move.to]
  if (partner) stmts.push(event(partner, messageEventData(m, move)))
  const sms = m.connectorType === 'twilio' ? SMS_EVENT[move.to] : undefined
  if (sms) stmts.push(event(sms, smsEventData(m, move)))
  if (opts.chargeHoldId) {
    stmts.push(insertWhere(db, usageRecords, messageUsageRow(m, move.at), guard).onConflictDoNothing())
    stmts.push(insertWhere(db, holdOutcomes, { holdId: opts.chargeHoldId, userId: m.userId, outcome: 'capture', amount: m.price, createdAt: move.at }, guard).onConflictDoNothing())
  }
  if (opts.voidHoldId) {
    stmts.push(insertWhere(db, holdOutcomes, { holdId: opts.voidHoldId, userId: m.userId, outcome: 'void', amount: 0, createdAt: move.at }, guard).onConflictDoNothing())
  }
  const set: Partial<Message> = { status: move.to, updatedAt: move.at, attemptStartedAt: null }
  if (move.upstreamId) set.upstreamId = move.upstreamId
  if (move.metadata) set.metadata = move.metadata
  if (move.to === 'sent') set.sentAt = move.at
  if (move.to === 'delivered') set.deliveredAt = move.at
  if (move.to === 'read') set.readAt = move.at
  if (move.to === 'failed') {
    set.failedAt = move.at
    set.errorCode = move.errorCode ?? 'CONNECTOR_ERROR'
    set.errorMessage = (move.errorMessage ?? '').slice(0, 500)
  }
  stmts.push(
    db
      .update(messages)
      .set(set)
      .where(and(eq(messages.id, m.id), inArray(messages.status, from))),
  )
  return stmts
}

/** Runs one move; true when it applied (the message was in a status it may move from). */
export async function move(db: Db, m: Message, mv: Move, opts: MoveOptions = {}): Promise<boolean> {
  const results = await runBatch(db, moveStatements(db, m, mv, opts))
  const last = results.at(-1) as { meta?: { changes?: number } } | undefined
  return (last?.meta?.changes ?? 0) > 0
}

/** A message's price as the API shows it (USD decimal). */
export const priceOf = (m: Pick<Message, 'price' | 'status' | 'sentAt'>) => (m.sentAt ? fromMicros(m.price) : 0)

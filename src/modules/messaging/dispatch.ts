/**
 * The `messages` queue consumer: sends each queued message through its connector exactly once
 * toward the customer, at-least-once inside.
 *
 * For one queue message:
 * 1. The row is read; a message no longer `queued` is done (a redelivery after the connector
 *    accepted finds `sent` and sends nothing).
 * 2. An earlier attempt that never recorded its outcome (`attempt_started_at` set: the Worker died
 *    mid-call, or the upstream's answer was lost) is reconciled, never blindly repeated: the
 *    connector's `find` says whether it went out (the sandbox knows exactly; Twilio's list is
 *    checked again for a while, since it may lag); a connector that cannot tell (WhatsApp,
 *    Telegram) fails the message with `DELIVERY_UNCONFIRMED` and nothing is charged. An attempt
 *    younger than ATTEMPT_TIMEOUT_MS may still be running elsewhere: this delivery waits.
 * 3. Pacing (per recipient, then per connector: RateLimiter slots): a burst is spread — a slot
 *    a little ahead is waited for here, a later one retries the queue message after that long.
 * 4. The attempt is recorded (compare-and-set: one runner), the connector called, the outcome
 *    stored at once: accepted → `sent` (usage row, hold outcome, events) then the price captured;
 *    final failure → `failed` and the hold voided; 429/5xx → retried with backoff honouring the
 *    upstream's `Retry-After`; after the queue's last retry the dead-letter consumer fails it.
 */
import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { connectors, messages, type Message } from '../../db/schema'
import { sleep } from '../../lib/concurrency'
import { logger } from '../../lib/logger'
import { pacingOf, parseModeFor } from '../../providers/messaging/registry'
import type { MessagingConnector, OutboundMessage, SendResult, StatusUpdate } from '../../providers/messaging/types'
import type { RateLimitService } from '../rate-limit/rate-limit.service'
import type { WalletService } from '../wallet/wallet.service'
import type { ConnectorsService } from './connectors.service'
import { move } from './message-status'
import type { MessagesQueueBody } from './messages.service'

const { log } = logger.with({ module: 'messaging' })

/** An attempt older than this without an outcome is taken as dead (adapters time out after 10 s). */
export const ATTEMPT_TIMEOUT_MS = 60_000
/** How long an uncertain Twilio attempt is looked for in its Messages list before it is given up. */
export const RECONCILE_WINDOW_MS = 15 * 60_000
/** A pacing slot at most this far ahead is waited for in the consumer; a later one retries the message for then. */
const MAX_INLINE_WAIT_MS = 2_000
/** The furthest ahead a slot is handed out (a queue message may be delayed up to 12 hours). */
const MAX_SLOT_AHEAD_MS = 12 * 3_600_000

/** What a consumer tells the queue about one message. */
export type Outcome = { ack: true } | { retryAfterSeconds: number }

export interface DispatchDeps {
  db: Db
  connectors: Pick<ConnectorsService, 'adapterOf'>
  wallet: Pick<WalletService, 'capture' | 'void' | 'debit' | 'stub'>
  rateLimiter: Pick<RateLimitService, 'pace'>
  queue: Queue<MessagesQueueBody>
  /** The public base URL Twilio's StatusCallback reaches (APP_URL or the API's own). */
  callbackBase?: string
  now?: () => number
}

/** Retry delay after `attempts` failed tries: 5 s, 10 s, 20 s … capped at 10 minutes. */
export function backoffSeconds(attempts: number): number {
  return Math.min(600, 5 * 2 ** Math.max(0, attempts - 1))
}

export class Dispatcher {
  private readonly now: () => number

  constructor(private readonly deps: DispatchDeps) {
    this.now = deps.now ?? Date.now
  }

  /** One queue message. */
  async handle(body: MessagesQueueBody): Promise<Outcome> {
    if (body.kind === 'receipt') {
      await this.applyUpdates(body.messageId, [{ upstreamId: body.upstreamId, status: 'delivered', at: new Date(this.now()) }])
      return { ack: true }
    }
    return this.send(body.messageId)
  }

  private async row(id: string): Promise<Message | undefined> {
    return this.deps.db.select().from(messages).where(eq(messages.id, id)).get()
  }

  async send(messageId: string): Promise<Outcome> {
    const { db } = this.deps
    // The message with its connector, in one read.
    const found = await db.select({ m: messages, connector: connectors }).from(messages).leftJoin(connectors, eq(connectors.id, messages.connectorId)).where(eq(messages.id, messageId)).get()
    const m = found?.m
    if (m?.status !== 'queued') return { ack: true }
    const connector = found?.connector
    if (!connector || connector.deletedAt) {
      await this.fail(m, 'CONNECTOR_NOT_FOUND', 'The connector was deleted before the message was sent')
      return { ack: true }
    }
    const adapter = await this.deps.connectors.adapterOf(connector)
    const outbound = this.outbound(m)

    if (m.attemptStartedAt) {
      if (this.now() - m.attemptStartedAt.getTime() < ATTEMPT_TIMEOUT_MS) return { retryAfterSeconds: Math.ceil(ATTEMPT_TIMEOUT_MS / 1000) }
      const settled = await this.reconcile(m, adapter, outbound)
      if (settled) return settled
    }

    // Pacing: the message takes its send slot once (kept in metadata.slotAt); a slot more than a
    // moment away retries the queue message for then, so each message waits at most one retry.
    const slotAt = typeof m.metadata.slotAt === 'number' ? m.metadata.slotAt : await this.reserveSlot(m, connector.id, pacingOf(connector.type, connector.settings))
    const wait = slotAt - this.now()
    if (wait > MAX_INLINE_WAIT_MS) return { retryAfterSeconds: Math.ceil(wait / 1000) }
    if (wait > 0) await sleep(wait)

    // One runner: the attempt is recorded before the call (compare-and-set on a clear attempt).
    const started = new Date(this.now())
    const claimed = await db
      .update(messages)
      .set({ attemptStartedAt: started, attempts: sql`${messages.attempts} + 1`, updatedAt: started })
      .where(and(eq(messages.id, m.id), eq(messages.status, 'queued'), m.attemptStartedAt ? eq(messages.attemptStartedAt, m.attemptStartedAt) : isNull(messages.attemptStartedAt)))
      .returning({ attempts: messages.attempts })
      .get()
    if (!claimed) return { ack: true }

    const result = await adapter.send(outbound).catch((e): SendResult => ({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: `the connector failed: ${(e as Error).name}` }))
    return this.settle(m, adapter, result, claimed.attempts)
  }

  private outbound(m: Message): OutboundMessage {
    const parseMode = parseModeFor(m.connectorType)
    return {
      messageId: m.id,
      to: m.to,
      text: m.text,
      ...(parseMode ? { parseMode } : {}),
      ...(m.connectorType === 'twilio' && this.deps.callbackBase ? { statusCallbackUrl: `${this.deps.callbackBase.replace(/\/+$/, '')}/api/v1/connectors/${m.connectorId}/status` } : {}),
    }
  }

  /**
   * The message's send slot: the recipient's next (every `perRecipientMs`), then the connector's next
   * from then on (every 1/`perSecond` s). A slot beyond a moment from now is kept on the row, so a
   * redelivery sends in it instead of queueing again.
   */
  private async reserveSlot(m: Message, connectorId: string, pacing: { perSecond: number; perRecipientMs: number }): Promise<number> {
    const now = this.now()
    let at = now
    if (pacing.perRecipientMs > 0) {
      const r = await this.deps.rateLimiter.pace(`pace:${connectorId}:to:${m.to}`, pacing.perRecipientMs, MAX_SLOT_AHEAD_MS)
      at = now + r.waitMs
    }
    if (pacing.perSecond > 0) {
      const r = await this.deps.rateLimiter.pace(`pace:${connectorId}`, Math.ceil(1000 / pacing.perSecond), MAX_SLOT_AHEAD_MS, at)
      at = now + r.waitMs
    }
    if (at - now > MAX_INLINE_WAIT_MS) {
      await this.deps.db
        .update(messages)
        .set({ metadata: { ...m.metadata, slotAt: at } })
        .where(and(eq(messages.id, m.id), eq(messages.status, 'queued')))
    }
    return at
  }

  /** What the connector answered, stored: the message moves, the money follows. */
  private async settle(m: Message, adapter: MessagingConnector, result: SendResult, attempts: number): Promise<Outcome> {
    const { db } = this.deps
    const at = new Date(this.now())
    switch (result.kind) {
      case 'accepted':
        await this.accepted(m, result.upstreamId, result.status, result.metadata ?? {}, at)
        // The sandbox's receipt: at once when it delivers at once, else a delayed queue message.
        if (result.receiptAfterMs === 0) await move(this.deps.db, m, { to: 'delivered', at: new Date(this.now()), upstreamId: result.upstreamId })
        else if (result.receiptAfterMs !== undefined) {
          await this.deps.queue
            .send({ kind: 'receipt', messageId: m.id, upstreamId: result.upstreamId }, { delaySeconds: Math.ceil(result.receiptAfterMs / 1000) })
            .catch((e) => log('warn', 'messaging: sandbox receipt not queued', { messageId: m.id, error: (e as Error).message }))
        }
        return { ack: true }
      case 'failed':
        await this.fail(m, result.code, result.message)
        return { ack: true }
      case 'retry':
        await db
          .update(messages)
          .set({ attemptStartedAt: null, errorCode: result.code, errorMessage: result.message.slice(0, 500), updatedAt: at })
          .where(and(eq(messages.id, m.id), eq(messages.status, 'queued')))
        return { retryAfterSeconds: Math.max(1, result.retryAfterSeconds ?? backoffSeconds(attempts)) }
      case 'uncertain':
        // The attempt stays recorded: the next delivery reconciles it (or fails it when the connector cannot tell).
        if (!adapter.find) {
          await this.fail(m, 'DELIVERY_UNCONFIRMED', `${result.message}; the upstream cannot be asked whether it went out, so it is not sent again`)
          return { ack: true }
        }
        return { retryAfterSeconds: Math.ceil(ATTEMPT_TIMEOUT_MS / 1000) }
    }
  }

  /** Settles an earlier attempt whose outcome was never stored; undefined when it is safe to send. */
  private async reconcile(m: Message, adapter: MessagingConnector, outbound: OutboundMessage): Promise<Outcome | undefined> {
    if (!adapter.find) {
      await this.fail(m, 'DELIVERY_UNCONFIRMED', 'An earlier attempt may have reached the upstream, which cannot be asked: not sent again')
      return { ack: true }
    }
    const since = m.attemptStartedAt!
    const found = await adapter.find(outbound, new Date(since.getTime() - 1000)).catch((e) => {
      log('warn', 'messaging: reconciliation lookup failed', { messageId: m.id, error: (e as Error).message })
      return undefined
    })
    if (found) {
      await this.accepted(m, found.upstreamId, found.status, { reconciled: true }, new Date(this.now()))
      return { ack: true }
    }
    // The sandbox knows exactly; another upstream's list may lag: look again for a while, then give up unsent.
    if (m.connectorType === 'sandbox' && found === null) return undefined
    if (this.now() - since.getTime() < RECONCILE_WINDOW_MS) return { retryAfterSeconds: 120 }
    await this.fail(m, 'DELIVERY_UNCONFIRMED', 'An earlier attempt could not be confirmed by the upstream: not sent again')
    return { ack: true }
  }

  /** The connector accepted: `sent` (or further), the price taken. */
  private async accepted(m: Message, upstreamId: string, status: 'sent' | 'delivered', metadata: Record<string, unknown>, at: Date): Promise<void> {
    const holdId = `${m.id}:hold`
    const { slotAt: _slot, ...kept } = m.metadata
    const moved = await move(this.deps.db, m, { to: 'sent', at, upstreamId, metadata: { ...kept, ...metadata, messageId: upstreamId } }, { chargeHoldId: holdId })
    if (moved) await this.capture(m, holdId)
    if (status === 'delivered') await this.applyUpdates(m.id, [{ upstreamId, status: 'delivered', at }])
  }

  private async capture(m: Message, holdId: string): Promise<void> {
    const { wallet } = this.deps
    try {
      const r = await wallet.capture(m.userId, { opId: `${holdId}:capture`, holdId, amount: m.price })
      if (r.ok) return
      const hold = await wallet.stub(m.userId).getHoldById(holdId)
      if (hold?.status === 'captured') return
      // The hold expired (a message retried for more than a day): the price is taken directly, once.
      const d = await wallet.debit(m.userId, { opId: `${m.id}:charge`, amount: m.price, reference: { type: 'message', id: m.id }, description: `Message ${m.id}` })
      if (!d.ok) log('error', 'messaging: message charge refused', { messageId: m.id, reason: d.reason })
    } catch (e) {
      // The outcome row is written: the wallet captures at the hold's expiry.
      log('error', 'messaging: capture failed; the wallet settles at hold expiry', { messageId: m.id, error: (e as Error).message })
    }
  }

  /** Fails the message for good and releases its hold (nothing is charged). */
  async fail(m: Message, code: string, message: string): Promise<void> {
    const holdId = `${m.id}:hold`
    // Only a message nothing was taken for: one already sent keeps its status and its charge.
    const moved = await move(this.deps.db, m, { to: 'failed', at: new Date(this.now()), errorCode: code, errorMessage: message }, { voidHoldId: holdId, onlyFrom: ['queued'] })
    if (!moved) return
    await this.deps.wallet
      .void(m.userId, { opId: `${holdId}:void`, holdId })
      .catch((e) => log('error', 'messaging: void failed; the wallet releases at hold expiry', { messageId: m.id, error: (e as Error).message }))
  }

  /** Status updates from the upstream (callbacks, the sandbox's receipts), each moving only forward. */
  async applyUpdates(messageId: string | null, updates: StatusUpdate[], connectorId?: string): Promise<number> {
    let applied = 0
    for (const u of updates) {
      const m = messageId
        ? await this.row(messageId)
        : await this.deps.db
            .select()
            .from(messages)
            .where(and(eq(messages.connectorId, connectorId!), eq(messages.upstreamId, u.upstreamId)))
            .get()
      if (!m || (m.upstreamId && m.upstreamId !== u.upstreamId)) continue
      if (await move(this.deps.db, m, { to: u.status, at: u.at, errorCode: u.errorCode, errorMessage: u.errorMessage })) applied++
    }
    return applied
  }
}

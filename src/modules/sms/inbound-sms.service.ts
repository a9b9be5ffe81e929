/**
 * Inbound SMS on activations (docs/money-and-flows.md, "SMS activations"): a provider's webhook,
 * the sandbox route and the sandbox's automatic SMS all end in `deliver`.
 *
 * Invariants:
 * - Stored once: `(provider_id, upstream_message_id)` is unique. The key is the upstream message
 *   id when the provider sends one, else a hash of (activation, text, receivedAt). A redelivery
 *   answers `duplicate: true` and writes nothing.
 * - The SMS row, the activation's change and the `sms.received` outbox event are one D1 batch.
 * - Never free, never lost: an SMS on an activation whose price is not collected (cancelled or
 *   expired and refunded, or never charged) is stored withheld — no code, no text, no event — and
 *   its price is collected (`settlement.ts`: now, then by the sweeper while the SMS is recent); it
 *   is shown and announced the moment it is paid.
 * - A provider can only deliver for its own activations.
 */
import { and, eq, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { isUniqueViolation } from '../../db/errors'
import { insertWhere } from '../../db/insert-where'
import { activations, outbox, providers, smsMessages, type Activation, type Provider } from '../../db/schema'
import { sha256Hex, timingSafeEqual } from '../../lib/crypto'
import { NotFound, Unauthorized } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { collect, smsEvent } from '../activations/settlement'
import { newEventId } from '../events/outbox'
import type { WalletService } from '../wallet/wallet.service'
import { extractCode, normalizeCode } from './sms-code'

export const DEFAULT_WEBHOOK_SECRET = 'PROVIDER_WEBHOOK_SECRET'

export interface InboundSms {
  text: string
  sender?: string | null
  /** The upstream's id of this message, when it has one. */
  messageId?: string | null
  /** As the upstream wrote it (part of the dedup hash when there is no message id). */
  receivedAt?: string | null
  /** A code the upstream extracted itself. */
  code?: string | number | null
}

export interface Delivered {
  duplicate: boolean
  smsId: string
  activationId: string
  /** Null while the SMS is withheld. */
  code: string | null
  /** Stored, but not shown until the activation's price is collected. */
  withheld: boolean
  status: Activation['status']
  billing: Activation['billing']
}

export interface InboundDeps {
  db: Db
  wallet: Pick<WalletService, 'credit' | 'debit'>
  /** Secrets by env name. */
  secret: (name: string) => string | undefined
  now?: () => number
}

export class InboundSmsService {
  private readonly now: () => number

  constructor(private readonly deps: InboundDeps) {
    this.now = deps.now ?? Date.now
  }

  /**
   * The provider a webhook comes from: `code` names it, `presented` must equal the secret its
   * config names (`webhookSecret`, an env name; default PROVIDER_WEBHOOK_SECRET). Compared as
   * SHA-256 digests in constant time; an unknown provider costs the same as a wrong secret.
   */
  async authenticate(code: string | undefined, presented: string | undefined): Promise<Provider> {
    const p = code ? await this.deps.db.select().from(providers).where(eq(providers.code, code)).get() : undefined
    const name = typeof p?.config.webhookSecret === 'string' ? p.config.webhookSecret : DEFAULT_WEBHOOK_SECRET
    const expected = p ? this.deps.secret(name) : undefined
    const [a, b] = await Promise.all([sha256Hex(presented ?? ''), sha256Hex(expected ?? `\u0000missing:${crypto.randomUUID()}`)])
    if (!p || !presented || !expected || !timingSafeEqual(a, b)) {
      throw new Unauthorized('UNAUTHORIZED', 'Provider webhook not authenticated: send ?provider=<code> (or X-Provider) and its secret in X-Webhook-Secret (or ?token=)')
    }
    return p
  }

  /** An SMS for `ref` (our `num_…` id or the upstream's activation id) from provider `p`. */
  async receive(p: Provider, ref: string, sms: InboundSms): Promise<Delivered> {
    const a = await this.deps.db
      .select()
      .from(activations)
      .where(and(eq(activations.providerId, p.id), or(eq(activations.upstreamId, ref), eq(activations.id, ref))))
      .get()
    // Unknown now may be known in a moment (an SMS can beat our own write): a 404 makes the upstream retry.
    if (!a) throw new NotFound('Activation')
    return this.deliver(a, sms)
  }

  async deliver(a: Activation, sms: InboundSms): Promise<Delivered> {
    const { db } = this.deps
    const key = sms.messageId ? `msg:${sms.messageId}` : `sha256:${await sha256Hex([a.id, sms.text, sms.receivedAt ?? ''].join('\n'))}`
    const seen = await this.stored(a.providerId, key)
    if (seen) return this.redelivered(a, seen)

    const code = normalizeCode(sms.code) ?? extractCode(sms.text)
    const receivedAt = parseInstant(sms.receivedAt) ?? new Date(this.now())
    const now = new Date(this.now())
    const smsId = newId('sms')
    const wasActive = a.status === 'active'
    // Shown (and announced) iff the activation's price is collected at the moment the batch runs:
    // an SMS racing a cancel or the expiry is withheld, and `collect` below settles it.
    const paid = sql`(select ${activations.billing} from ${activations} where ${activations.id} = ${a.id}) = 'captured'`
    let stored: { withheld: boolean }[]
    let statusChanged = false
    try {
      const results = await db.batch([
        db
          .insert(smsMessages)
          .values({
            id: smsId,
            userId: a.userId,
            providerId: a.providerId,
            upstreamMessageId: key,
            activationId: a.id,
            phone: a.phone,
            sender: sms.sender ?? null,
            text: sms.text,
            code,
            withheld: sql`not ${paid}`,
            receivedAt,
            createdAt: now,
          })
          .returning({ withheld: smsMessages.withheld }),
        insertWhere(
          db,
          outbox,
          { id: newEventId(now), type: 'sms.received', userId: a.userId, payload: smsEvent(a, { code, text: sms.text, sender: sms.sender ?? null, receivedAt }), createdAt: now },
          paid,
        ),
        ...(wasActive
          ? [
              db
                .update(activations)
                .set({ status: 'sms_received', updatedAt: now })
                .where(and(eq(activations.id, a.id), eq(activations.status, 'active')))
                .returning({ id: activations.id }),
            ]
          : []),
      ])
      stored = results[0]
      statusChanged = wasActive && (results[2] as { id: string }[]).length > 0
    } catch (e) {
      // A concurrent delivery of the same message won the unique key: this one is the duplicate.
      if (!isUniqueViolation(e)) throw e
      const winner = await this.stored(a.providerId, key)
      if (!winner) throw e
      return this.redelivered((await db.select().from(activations).where(eq(activations.id, a.id)).get()) ?? a, winner)
    }

    // Withheld: the price is owed (the number was refunded or never charged). Collect it now; the
    // sweeper keeps trying while the SMS is recent, and shows it the moment it is paid.
    const billing = stored[0]?.withheld ? await collect(this.deps, a.id, this.now()) : 'captured'
    const current = statusChanged && billing === 'captured' ? null : await db.select().from(activations).where(eq(activations.id, a.id)).get()
    const shown = billing === 'captured'
    return {
      duplicate: false,
      smsId,
      activationId: a.id,
      code: shown ? code : null,
      withheld: !shown,
      status: statusChanged ? 'sms_received' : (current?.status ?? a.status),
      billing: current?.billing ?? billing,
    }
  }

  /** A message stored before: its charge may have been cut off by a crash, so it is collected again (idempotent). */
  private async redelivered(a: Activation, seen: { id: string; code: string | null; withheld: boolean }): Promise<Delivered> {
    const billing = a.billing === 'captured' && !seen.withheld ? 'captured' : await collect(this.deps, a.id, this.now())
    const shown = billing === 'captured'
    return { duplicate: true, smsId: seen.id, activationId: a.id, code: shown ? seen.code : null, withheld: !shown, status: a.status, billing }
  }

  private stored(providerId: string, key: string) {
    return this.deps.db
      .select({ id: smsMessages.id, code: smsMessages.code, withheld: smsMessages.withheld })
      .from(smsMessages)
      .where(and(eq(smsMessages.providerId, providerId), eq(smsMessages.upstreamMessageId, key)))
      .get()
  }
}

/** ISO-8601, or sms-activate's `YYYY-MM-DD HH:mm:ss` (UTC); null when absent or unreadable. */
export function parseInstant(value: string | null | undefined): Date | null {
  if (!value) return null
  const s = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value.trim()) ? `${value.trim().replace(' ', 'T')}Z` : value.trim()
  const t = Date.parse(s)
  return Number.isFinite(t) ? new Date(t) : null
}

/**
 * Inbound SMS on activations (DESIGN.md "Inbound SMS"): a provider's webhook, the sandbox route
 * and the sandbox's automatic SMS all end in `deliver`.
 *
 * Invariants:
 * - Stored once: `(provider_id, upstream_message_id)` is unique. The key is the upstream message
 *   id when the provider sends one, else a hash of (activation, text, receivedAt). A redelivery
 *   answers `duplicate: true` and writes nothing.
 * - The SMS row, the activation's change and the `sms.received` outbox event are one D1 batch.
 * - Never free, never lost: an SMS on a cancelled/expired (refunded) activation is stored and
 *   announced, and the price is charged again (debit `late_<id>`); when the wallet cannot pay,
 *   the activation is marked `unbilled`. The refund is re-issued first (op `refund_<id>`, a no-op
 *   when it went through), so a refund lost in a crash can never turn into a double charge.
 * - A provider can only deliver for its own activations.
 */
import { and, eq, inArray, or } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { activations, providers, smsMessages, type Activation, type Provider } from '../../db/schema'
import { sha256Hex, timingSafeEqual } from '../../lib/crypto'
import { NotFound, Unauthorized } from '../../lib/errors'
import { newId } from '../../lib/ids'
import type { Services } from '../../services'
import { log, refund } from '../activations/activations.service'
import { outboxInsert } from '../events/outbox'
import { activationRechargeMeter } from '../usage/product-meters'
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
  code: string | null
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

const LATE_STATES: Activation['status'][] = ['cancelled', 'expired']

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
    if (seen) {
      // Stored, but a crash may have come before its late charge: charge now (idempotent by op id).
      let billing = a.billing
      if (LATE_STATES.includes(a.status) && a.billing !== 'captured') {
        billing = await this.chargeLate(a)
        const at = new Date(this.now())
        await db.batch([
          db.update(activations).set({ billing, updatedAt: at }).where(and(eq(activations.id, a.id), inArray(activations.status, LATE_STATES))),
          ...(billing === 'captured' ? [activationRechargeMeter(db, a, at)] : []),
        ])
      }
      return { duplicate: true, smsId: seen.id, activationId: a.id, code: seen.code, status: a.status, billing }
    }

    const code = normalizeCode(sms.code) ?? extractCode(sms.text)
    const receivedAt = parseInstant(sms.receivedAt) ?? new Date(this.now())
    const now = new Date(this.now())
    let billing = a.billing
    if (LATE_STATES.includes(a.status) && a.billing !== 'captured') billing = await this.chargeLate(a)

    const smsId = newId('sms')
    const wasActive = a.status === 'active'
    const statements = [
      db.insert(smsMessages).values({
        id: smsId,
        userId: a.userId,
        providerId: a.providerId,
        upstreamMessageId: key,
        activationId: a.id,
        phone: a.phone,
        sender: sms.sender ?? null,
        text: sms.text,
        code,
        receivedAt,
        createdAt: now,
      }),
      outboxInsert(
        db,
        {
          type: 'sms.received',
          userId: a.userId,
          data: { numberId: a.id, phone: a.phone, code, text: sms.text, sender: sms.sender ?? null, receivedAt: receivedAt.toISOString() },
        },
        now,
      ),
    ] as const
    let statusChanged = false
    try {
      if (wasActive) {
        const [, , changed] = await db.batch([
          ...statements,
          db
            .update(activations)
            .set({ status: 'sms_received', updatedAt: now })
            .where(and(eq(activations.id, a.id), eq(activations.status, 'active')))
            .returning({ id: activations.id }),
        ])
        statusChanged = changed.length > 0
      } else if (billing !== a.billing) {
        await db.batch([
          ...statements,
          db
            .update(activations)
            .set({ billing, updatedAt: now })
            .where(and(eq(activations.id, a.id), inArray(activations.status, LATE_STATES))),
          // The late charge went through: it is metered with the change it causes.
          ...(billing === 'captured' ? [activationRechargeMeter(db, a, now)] : []),
        ])
      } else {
        await db.batch([...statements])
      }
    } catch (e) {
      // A concurrent delivery of the same message won the unique key: this one is the duplicate.
      if (!isUniqueViolation(e)) throw e
      const winner = await this.stored(a.providerId, key)
      if (!winner) throw e
      const current = (await db.select().from(activations).where(eq(activations.id, a.id)).get()) ?? a
      return { duplicate: true, smsId: winner.id, activationId: a.id, code: winner.code, status: current.status, billing: current.billing }
    }

    let status: Activation['status'] = wasActive && statusChanged ? 'sms_received' : a.status
    if (wasActive && !statusChanged) {
      // A cancel or the expiry refunded it between our read and our write: this SMS is late.
      const current = await db.select().from(activations).where(eq(activations.id, a.id)).get()
      status = current?.status ?? a.status
      billing = current?.billing ?? a.billing
      if (current && LATE_STATES.includes(current.status) && current.billing !== 'captured') {
        billing = await this.chargeLate(current)
        const at = new Date(this.now())
        await db.batch([
          db.update(activations).set({ billing, updatedAt: at }).where(and(eq(activations.id, a.id), inArray(activations.status, LATE_STATES))),
          ...(billing === 'captured' ? [activationRechargeMeter(db, current, at)] : []),
        ])
      }
    }
    return { duplicate: false, smsId, activationId: a.id, code, status, billing }
  }

  /** Charges a refunded or never-charged activation: `captured` when the wallet paid, else `unbilled`. */
  private async chargeLate(a: Activation): Promise<'captured' | 'unbilled'> {
    // A refunded activation: the refund first (a replay when it went through) — charging for a refund
    // that never happened would charge twice. An `unbilled` one either was never charged or had its
    // refund made before a late charge failed: crediting it again would make the number free.
    if (a.billing === 'refunded' && (await refund(this.deps.wallet, a)) === 'failed') return 'unbilled'
    try {
      const r = await this.deps.wallet.debit(a.userId, {
        opId: `late_${a.id}`,
        amount: a.price,
        reference: { type: 'activation', id: a.id },
        description: `SMS after refund: number ${a.phone}`,
      })
      return r.ok ? 'captured' : 'unbilled'
    } catch (e) {
      log('warn', 'late SMS: could not charge; marked unbilled', { activationId: a.id, error: (e as Error).message })
      return 'unbilled'
    }
  }

  private stored(providerId: string, key: string) {
    return this.deps.db
      .select({ id: smsMessages.id, code: smsMessages.code })
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

export function isUniqueViolation(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    if (/UNIQUE constraint failed/i.test(String((x as Error).message ?? ''))) return true
  }
  return false
}

const built = new WeakMap<Services, InboundSmsService>()

export function inboundSmsOf(s: Services): InboundSmsService {
  let svc = built.get(s)
  if (!svc) {
    svc = new InboundSmsService({ db: s.db, wallet: s.wallet, secret: (name) => (s.env as unknown as Record<string, unknown>)[name] as string | undefined })
    built.set(s, svc)
  }
  return svc
}

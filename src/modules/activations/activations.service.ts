/**
 * SMS activations (the activation API): purchase (activation-purchase.ts), cancel, complete, and
 * the caller's view of them.
 *
 * Invariants:
 * - Money moves only through the Wallet DO. A purchase holds the price before buying upstream and
 *   writes the activation row together with a `capture` hold outcome in ONE D1 batch, then
 *   captures. If the capture is lost (crash, DO unreachable) the Wallet's alarm captures the hold
 *   at its expiry from that outcome: the number is never free and never charged twice.
 * - A purchase that fails upstream (no numbers, 5xx) voids its hold and writes nothing.
 * - Refunds are credits with op id `refund_<activation id>`: whoever issues one (cancel, expiry,
 *   the sweeper, a late SMS) issues the same one, so a refund happens at most once. The D1 state
 *   change (`status = 'active'` → cancelled/expired, `billing` → `refund_pending`, a conditional
 *   update) comes first, so of two concurrent cancels exactly one refunds, and a refund that does
 *   not go through at once is finished later (settlement.ts); an SMS racing a cancel sees it.
 * - Every query is scoped to the owner: another account's activation is a 404.
 */
import { and, asc, count, desc, eq, inArray, isNotNull, or, sql } from 'drizzle-orm'
import { activations, providers, smsMessages, type Activation, type Provider } from '../../db/schema'
import { Conflict, NotFound } from '../../lib/errors'
import { activationRefundMeter } from '../usage/product-meters'
import { latestCode, type ActivationRecord, type SmsRecord } from './schemas'
import { finishRefunds, refundIfCaptured } from './settlement'
import { ActivationPurchase, activationAdapter, type ActivationDeps, type PurchaseInput, type PurchaseOptions, type WalletPort } from './activation-purchase'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import type { RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'

export type { ActivationDeps, WalletPort }

/** The activations' log lines carry `module: 'activations'`; `log(level, message, fields)`. */
export const { log } = logger.with({ module: 'activations' })

export class ActivationsService {
  private readonly now: () => number
  private readonly purchasing: ActivationPurchase

  constructor(private readonly deps: ActivationDeps) {
    this.now = deps.now ?? Date.now
    this.purchasing = new ActivationPurchase(deps)
  }

  // ---- purchase ---------------------------------------------------------------------------

  /** Buys a number (activation-purchase.ts). */
  purchase(ctx: RequestContext, input: PurchaseInput, opts: PurchaseOptions = {}): Promise<ActivationRecord> {
    return this.purchasing.run(ctx, input, opts)
  }

  // ---- cancel / complete ----------------------------------------------------------------

  /** Cancels an activation that has no SMS: upstream first, then the state, then the refund. */
  async cancel(ctx: RequestContext, id: string): Promise<ActivationRecord> {
    const userId = ctx.accountId
    const { db } = this.deps
    const { activation: a, provider } = await this.owned(userId, id)
    assertCancellable(a)
    // An upstream that refuses (an early cancel, 5xx) leaves everything as it was.
    await activationAdapter(this.deps.adapters, provider).cancel(a.upstreamId)
    const now = new Date(this.now())
    const [changed] = await db.batch([
      db
        .update(activations)
        .set({ status: 'cancelled', billing: refundIfCaptured, updatedAt: now })
        .where(and(eq(activations.id, a.id), eq(activations.userId, userId), eq(activations.status, 'active')))
        .returning({ id: activations.id, billing: activations.billing }),
      // The refund's usage row, iff this cancel (or a concurrent one) refunded it.
      activationRefundMeter(db, and(eq(activations.id, a.id), eq(activations.userId, userId), eq(activations.status, 'cancelled'))!, now, 'cancelled'),
    ])
    if (!changed.length) {
      // An SMS or another cancel got there first.
      assertCancellable((await this.owned(userId, id)).activation)
      throw new Conflict('ACTIVATION_NOT_ACTIVE', 'The activation is no longer active')
    }
    // Only money that was taken comes back: an `unbilled` number is cancelled without a refund.
    // A refund that does not go through now stays `refund_pending`; the sweeper finishes it.
    let billing = changed[0]!.billing
    if (billing === 'refund_pending' && (await finishRefunds(this.deps, [{ ...a, billing }], this.now())).done.length) billing = 'refunded'
    return { ...a, status: 'cancelled', billing, updatedAt: now, providerCode: provider.code }
  }

  /** Marks an activation whose SMS arrived as done (POST /api/numbers/{id}/complete). */
  async complete(ctx: RequestContext, id: string): Promise<ActivationRecord> {
    const userId = ctx.accountId
    const { db } = this.deps
    const { activation: a, provider } = await this.owned(userId, id)
    if (a.status === 'completed') return { ...a, providerCode: provider.code }
    if (a.status === 'active') throw new Conflict('ACTIVATION_NO_SMS', 'No SMS has arrived yet: wait for it, or cancel the number for a refund')
    if (a.status !== 'sms_received') throw new Conflict('ACTIVATION_NOT_ACTIVE', `The activation is ${a.status}`, { status: a.status })
    // Completing upstream only closes the activation there early; it moves no money.
    await activationAdapter(this.deps.adapters, provider)
      .complete(a.upstreamId)
      .catch((e) => log('warn', 'complete: upstream complete failed', { activationId: a.id, error: (e as Error).message }))
    const now = new Date(this.now())
    await db
      .update(activations)
      .set({ status: 'completed', updatedAt: now })
      .where(and(eq(activations.id, a.id), eq(activations.userId, userId), eq(activations.status, 'sms_received')))
    return { ...a, status: 'completed', updatedAt: now, providerCode: provider.code }
  }

  // ---- reads ------------------------------------------------------------------------------

  async list(ctx: RequestContext, q: { page: number; limit: number; status?: Activation['status'] }) {
    const userId = ctx.accountId
    const { db } = this.deps
    const where = and(eq(activations.userId, userId), q.status ? eq(activations.status, q.status) : undefined)
    const [rows, total] = await db.batch([
      db
        .select({ activation: activations, providerCode: providers.code })
        .from(activations)
        .innerJoin(providers, eq(providers.id, activations.providerId))
        .where(where)
        .orderBy(desc(activations.createdAt), desc(activations.id))
        .limit(q.limit)
        .offset((q.page - 1) * q.limit),
      db.select({ n: count() }).from(activations).where(where),
    ])
    const codes = new Map<string, string>()
    const withheld = new Map<string, number>()
    if (rows.length) {
      // One batch for the latest code of every listed activation, in chunks under D1's 100-parameter limit.
      const ids = rows.map((r) => r.activation.id)
      const queries = chunk(ids, IDS_PER_STATEMENT).map((part) =>
        db
          .select({ activationId: smsMessages.activationId, code: smsMessages.code, withheld: smsMessages.withheld })
          .from(smsMessages)
          .where(and(inArray(smsMessages.activationId, part), ownedSms(userId), or(isNotNull(smsMessages.code), eq(smsMessages.withheld, true))))
          .orderBy(asc(smsMessages.receivedAt), asc(smsMessages.id)),
      )
      const results = await db.batch(queries as [(typeof queries)[0], ...typeof queries])
      for (const sms of results) {
        for (const s of sms) {
          if (s.withheld) withheld.set(s.activationId!, (withheld.get(s.activationId!) ?? 0) + 1)
          else if (s.code) codes.set(s.activationId!, s.code)
        }
      }
    }
    return {
      rows: rows.map((r) => ({
        record: { ...r.activation, providerCode: r.providerCode },
        code: codes.get(r.activation.id) ?? null,
        withheldSms: withheld.get(r.activation.id) ?? 0,
      })),
      total: total[0]?.n ?? 0,
    }
  }

  /** The caller's activation and the SMS it may see, oldest first (withheld ones are only counted). */
  async get(ctx: RequestContext, id: string): Promise<{ record: ActivationRecord; sms: SmsRecord[]; code: string | null; withheldSms: number }> {
    const userId = ctx.accountId
    const { db } = this.deps
    const [found, sms] = await db.batch([
      db
        .select({ activation: activations, providerCode: providers.code })
        .from(activations)
        .innerJoin(providers, eq(providers.id, activations.providerId))
        .where(and(eq(activations.id, id), eq(activations.userId, userId))),
      db
        .select({ id: smsMessages.id, code: smsMessages.code, text: smsMessages.text, sender: smsMessages.sender, receivedAt: smsMessages.receivedAt, withheld: smsMessages.withheld })
        .from(smsMessages)
        .where(and(eq(smsMessages.activationId, id), ownedSms(userId)))
        .orderBy(asc(smsMessages.receivedAt), asc(smsMessages.id)),
    ])
    const row = found[0]
    if (!row) throw new NotFound('Number')
    const shown = sms.filter((s) => !s.withheld)
    return { record: { ...row.activation, providerCode: row.providerCode }, sms: shown, code: latestCode(shown), withheldSms: sms.length - shown.length }
  }

  private async owned(userId: string, id: string): Promise<{ activation: Activation; provider: Provider }> {
    const row = await this.deps.db
      .select({ activation: activations, provider: providers })
      .from(activations)
      .innerJoin(providers, eq(providers.id, activations.providerId))
      .where(and(eq(activations.id, id), eq(activations.userId, userId)))
      .get()
    if (!row) throw new NotFound('Number')
    return row
  }
}

/**
 * The owner scope of an SMS query by activation. The unary `+` keeps SQLite on
 * sms_activation_idx (a few rows) rather than sms_user_idx (all of the user's SMS).
 */
const ownedSms = (userId: string) => sql`+${smsMessages.userId} = ${userId}`

function assertCancellable(a: Activation) {
  if (a.status === 'active') return
  if (a.status === 'sms_received' || a.status === 'completed') {
    throw new Conflict('ACTIVATION_HAS_SMS', 'An SMS has already arrived on this number: it can no longer be cancelled', { status: a.status })
  }
  throw new Conflict('ACTIVATION_NOT_ACTIVE', `The activation is already ${a.status}`, { status: a.status })
}

/** Message on the `jobs` queue that makes the sandbox deliver an SMS (local dev only). */
export interface SandboxSmsJobBody {
  type: 'sandbox.sms'
  activationId: string
  messageId: string
}

/**
 * In local dev (`ENVIRONMENT=development`), a sandbox provider whose config has
 * `activation.autoSmsSeconds` sends an SMS that many seconds after each purchase, as a real
 * upstream's webhook would. The message id makes a redelivered job store the SMS once.
 */
export function scheduleSandboxSms(s: { environment: string; defer: (p: Promise<unknown>) => void; jobs: Pick<Queue<SandboxSmsJobBody>, 'send'> }, a: ActivationRecord, p: Provider) {
  if (s.environment !== 'development' || p.adapter !== 'sandbox') return
  const seconds = (p.config as { activation?: { autoSmsSeconds?: unknown } }).activation?.autoSmsSeconds
  if (typeof seconds !== 'number' || !(seconds > 0)) return
  const body: SandboxSmsJobBody = { type: 'sandbox.sms', activationId: a.id, messageId: `auto_${a.id}` }
  s.defer(s.jobs.send(body, { delaySeconds: Math.min(Math.round(seconds), 600) }))
}

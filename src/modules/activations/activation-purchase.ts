/**
 * Buying an activation number (ActivationsService.purchase): every provider's offer for the
 * service and country, cheapest first, tried one after the other — hold → buy → record → capture —
 * until one sells. The money invariants are at the top of activations.service.ts.
 *
 * What the request waits for (ARCHITECTURE.md, "The purchase's request path"): the hold (the one
 * wallet call), the upstream buy and the recording batch. The offers come from a per-isolate cache
 * (providers/offer-cache.ts) whose price the batch checks against D1; the capture runs after the
 * answer (`afterAnswer`), and the Wallet's alarm captures from the recorded outcome if it never does.
 */
import { and, eq, getTableColumns, type Placeholder } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { insertWhere } from '../../db/insert-where'
import { placeholderRow, prebuilt } from '../../db/prebuilt'
import { activations, holdOutcomes, outbox, providers, usageRecords, type Activation, type Offer, type Provider } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import { AppError, Conflict, InsufficientBalance, NoNumbersAvailable, NotFound, UpstreamError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import type { ActivationProvider } from '../../providers/numbers/types'
import { newEventId } from '../events/outbox'
import { offerPriceIs, offersFor } from '../providers/offer-cache'
import { activationPurchaseUsage, activationUnbilledMeter, type ActivationUsageRow } from '../usage/product-meters'
import { orThrow, type WalletService } from '../wallet/wallet.service'
import type { ActivationRecord } from './schemas'
import { IDEMPOTENCY_TTL_MS } from '../../lib/idempotency'
import type { RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'

export type WalletPort = Pick<WalletService, 'hold' | 'capture' | 'captureSoon' | 'void' | 'credit' | 'debit' | 'stub'>

export interface ActivationDeps {
  db: Db
  wallet: WalletPort
  /** Builds a provider row's adapters (ProvidersService.adapters). */
  adapters: (p: Provider) => { activation?: ActivationProvider }
  /** Runs after a successful purchase (the sandbox's automatic SMS in local dev). Must not throw. */
  afterPurchase?: (a: ActivationRecord, p: Provider) => void
  /**
   * Runs a task after the answer (the request's waitUntil): the capture. Absent, the task runs
   * before the answer. A task that never runs (the Worker died) is finished by the Wallet's alarm.
   */
  afterAnswer?: (task: () => Promise<unknown>) => void
  /**
   * How long the deferred capture may wait for the account's next hold to carry it
   * (WalletService.captureSoon, lib/deferral.ts); 0 or absent: it is sent at once.
   */
  captureWindowMs?: number
  /** How long this isolate may reuse a read of the offers (offer-cache.ts); 0 or absent: read D1 every time. */
  offersTtlMs?: number
  now?: () => number
}

/** How long a number stays the buyer's (activations last ~20 minutes upstream). */
export const ACTIVATION_TTL_MS = 20 * 60_000
/** The purchase's hold outlives any upstream call; its expiry is when the Wallet heals a lost capture. */
export const HOLD_TTL_MS = 120_000
/**
 * A capture waits for company (captureWindowMs) only while its hold has at least this long left
 * beyond the window: then no alarm can have settled the hold before the capture is made, and a
 * refusal — which another request's call would see, not this one — cannot happen.
 */
const CAPTURE_MARGIN_MS = 30_000

export interface PurchaseInput {
  countryCode: string
  serviceCode: string
  provider?: string
  /** Micro-units: offers priced above it are not tried (the handler_api.php protocol's `maxPrice`). */
  maxPrice?: number
}

export interface PurchaseOptions {
  /**
   * `Idempotency-Key` with the scope of the credential that sent it. The activation id is derived
   * from it, so a retry that runs again (the middleware hands a key over after a crashed request's
   * lease) finds the number the first run bought instead of buying a second one.
   */
  idempotency?: { scope: string; key: string }
}

type Attempt = { provider: string; code: string; message: string }

/** The offer's price changed between the read the purchase used and its recording: nothing was kept. */
const REPRICED = 'repriced'

// The activations' bound logger, made here as settlement.ts does: importing activations.service's would be a cycle.
const { log } = logger.with({ module: 'activations' })

/** A provider's activation adapter; 502 UPSTREAM_ERROR when it has none. */
export function activationAdapter(adapters: ActivationDeps['adapters'], p: Provider): ActivationProvider {
  const a = adapters(p).activation
  if (!a) throw new UpstreamError(p.code, 'provider has no activation adapter')
  return a
}

type OutcomeRow = Required<typeof holdOutcomes.$inferInsert>
type EventRow = Pick<typeof outbox.$inferInsert, 'id' | 'type' | 'userId' | 'payload' | 'createdAt'>
/** Any activation: what the usage row's columns are read from. */
const SAMPLE = { id: '', userId: '', price: 0, phone: '', serviceCode: '', countryCode: '' }

/** The guard of the recording batch: the offer still has the price held (offerPriceIs). */
type Priced = { pricedOffer: string; pricedAt: number }
const priced = (p: (name: keyof Priced) => Placeholder) => offerPriceIs(p('pricedOffer'), p('pricedAt'))

/**
 * The recording batch's statements (record), built once per isolate (db/prebuilt.ts): the
 * activation, its hold's outcome, its usage row and its event, each only while the offer's price
 * is the price held.
 */
const recording = {
  activation: prebuilt<Activation & Priced>((db, p) =>
    insertWhere(db, activations, placeholderRow(activations, Object.keys(getTableColumns(activations)) as (keyof Activation)[], p), priced(p)).returning({ id: activations.id }),
  ),
  outcome: prebuilt<OutcomeRow & Priced>((db, p) => insertWhere(db, holdOutcomes, placeholderRow(holdOutcomes, ['holdId', 'userId', 'outcome', 'amount', 'createdAt'], p), priced(p))),
  usage: prebuilt<ActivationUsageRow & Priced>((db, p) =>
    insertWhere(db, usageRecords, placeholderRow(usageRecords, Object.keys(activationPurchaseUsage(SAMPLE, new Date(0))) as (keyof ActivationUsageRow)[], p), priced(p)).onConflictDoNothing(),
  ),
  event: prebuilt<EventRow & Priced>((db, p) => insertWhere(db, outbox, placeholderRow(outbox, ['id', 'type', 'userId', 'payload', 'createdAt'], p), priced(p))),
}

export class ActivationPurchase {
  private readonly now: () => number

  constructor(private readonly deps: ActivationDeps) {
    this.now = deps.now ?? Date.now
  }

  /** Buys a number for the caller: the first provider that sells one (attempts in the error when none does). */
  async run(ctx: RequestContext, input: PurchaseInput, opts: PurchaseOptions = {}): Promise<ActivationRecord> {
    const userId = ctx.accountId
    const { db } = this.deps
    // With an Idempotency-Key the id derives from it, so a second run of the same request finds the
    // first one's number instead of buying another. Keys live 24 hours (the middleware's window):
    // a key reused after that buys anew, under a fresh id.
    let activationId = newId('num')
    if (opts.idempotency) {
      const derived = `num_${(await sha256Hex(`${opts.idempotency.scope}\n${opts.idempotency.key}`)).slice(0, 26)}`
      const done = await this.existing(userId, derived)
      if (done && done.createdAt.getTime() > this.now() - IDEMPOTENCY_TTL_MS) return done
      if (!done) activationId = derived
    }
    const serviceCode = input.serviceCode.trim().toLowerCase()
    const countryCode = input.countryCode.trim().toLowerCase()
    const named = input.provider?.trim()
    const ttlMs = this.deps.offersTtlMs ?? 0

    const attempts: Attempt[] = []
    // At most two reads of the offers: this isolate's cached one, then D1's when the cached one
    // offered nothing or its price turned out stale. A read from D1 is never read again.
    for (let fresh = ttlMs <= 0; ; fresh = true) {
      const rows = await offersFor(db, serviceCode, countryCode, { ttlMs, refresh: fresh })
      const scoped = named ? rows.filter((r) => r.provider.code === named || r.provider.id === named) : rows
      const candidates = scoped.filter((r) => r.provider.status === 'active' && r.provider.healthy && r.offer.stock > 0 && (input.maxPrice === undefined || r.offer.price <= input.maxPrice))
      // A cached read never refuses a sale by itself: the database is asked first.
      if (!candidates.length && !fresh) continue
      if (!scoped.length) {
        throw new NotFound(named ? `Offer for '${serviceCode}' in '${countryCode}' from provider '${named}'` : `Offer for '${serviceCode}' in '${countryCode}'`)
      }
      if (!candidates.length) {
        throw new NoNumbersAvailable(`No numbers available for '${serviceCode}' in '${countryCode}'`, { serviceCode, countryCode })
      }
      let stale = false
      for (const { offer, provider } of candidates) {
        const bought = await this.tryProvider(userId, activationId, offer, provider, attempts)
        if (bought === REPRICED) {
          stale = !fresh
          if (stale) break
          continue
        }
        if (bought) return bought
      }
      if (!stale) break
    }
    // Every candidate failed and left nothing behind: no hold, no row.
    const noNumbers = attempts.some((a) => a.code === 'NO_NUMBERS_AVAILABLE')
    if (noNumbers) throw new NoNumbersAvailable(`No numbers available for '${serviceCode}' in '${countryCode}'`, { attempts })
    throw new UpstreamError(attempts.map((a) => a.provider).join(', '), 'every provider failed', { attempts })
  }

  /**
   * One provider: hold → buy → record, then the capture (after the answer when `afterAnswer` is
   * given). Null when the provider failed, REPRICED when the offer's price moved meanwhile: in both
   * cases nothing is left behind (the hold voided, the upstream number cancelled).
   */
  private async tryProvider(userId: string, activationId: string, offer: Offer, provider: Provider, attempts: Attempt[]): Promise<ActivationRecord | typeof REPRICED | null> {
    const { wallet } = this.deps
    let adapter: ActivationProvider
    try {
      adapter = activationAdapter(this.deps.adapters, provider)
    } catch (e) {
      attempts.push(attemptOf(provider, e))
      return null
    }
    const holdId = newId('hld')
    const reference = { type: 'activation', id: activationId }
    // INSUFFICIENT_BALANCE (400) propagates: the wallet refused, so there is no hold to undo.
    const held = await wallet.hold(userId, {
      opId: holdId,
      amount: offer.price,
      ttlMs: HOLD_TTL_MS,
      reference,
      description: `Number for ${offer.serviceName} (${offer.countryCode.toUpperCase()})`,
    })
    const { hold } = orThrow(held, offer.price, 'The payment could not be reserved')

    let bought: { upstreamId: string; phone: string }
    try {
      bought = await adapter.buy({
        serviceCode: offer.serviceCode,
        countryCode: offer.countryCode,
        upstreamService: offer.upstreamService ?? undefined,
        upstreamCountry: offer.upstreamCountry ?? undefined,
        maxCost: offer.cost,
      })
    } catch (e) {
      await this.voidHold(userId, holdId)
      attempts.push(attemptOf(provider, e))
      log('warn', 'purchase: provider failed, trying the next', { provider: provider.code, error: (e as Error).message })
      return null
    }

    const now = this.now()
    const row: Activation = {
      id: activationId,
      userId,
      providerId: provider.id,
      offerId: offer.id,
      upstreamId: bought.upstreamId,
      phone: bought.phone,
      countryCode: offer.countryCode,
      serviceCode: offer.serviceCode,
      price: offer.price,
      status: 'active',
      billing: 'captured',
      holdId,
      expiresAt: new Date(now + ACTIVATION_TTL_MS),
      createdAt: new Date(now),
      updatedAt: new Date(now),
    }
    const recorded = await this.record(row, offer, adapter)
    if (recorded === 'taken') {
      // A concurrent run with the same Idempotency-Key recorded first: its number is the answer.
      const winner = await this.existing(userId, activationId)
      if (winner) return winner
      throw new Conflict('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still in progress')
    }
    if (recorded === REPRICED) {
      attempts.push({ provider: provider.code, code: 'PRICE_CHANGED', message: `${provider.code}: the offer's price changed during the purchase` })
      log('warn', 'purchase: the offer was repriced meanwhile; undone', { provider: provider.code, offerId: offer.id })
      return REPRICED
    }
    // The number is recorded with its `capture` outcome: from here the capture cannot be lost, only late.
    const window = this.deps.captureWindowMs ?? 0
    const wait = window > 0 && hold.expiresAt - this.now() > window + CAPTURE_MARGIN_MS ? window : 0
    if (this.deps.afterAnswer) this.deps.afterAnswer(() => this.capture(row, wait))
    else await this.capture(row, 0)
    const record = { ...row, providerCode: provider.code }
    this.deps.afterPurchase?.(record, provider)
    return record
  }

  /**
   * The activation, its hold outcome, its usage row and its event: one D1 batch, so they exist
   * together or not at all — and only while the offer's price in D1 is the price held (the offers
   * may come from a cache): otherwise none is written, the hold is voided, the number cancelled.
   */
  private async record(row: Activation, offer: Offer, adapter: ActivationProvider): Promise<'recorded' | 'taken' | typeof REPRICED> {
    const { db } = this.deps
    const guard: Priced = { pricedOffer: offer.id, pricedAt: row.price }
    try {
      const [inserted] = await db.$client.batch([
        recording.activation(db, { ...row, ...guard }),
        recording.outcome(db, { holdId: row.holdId, userId: row.userId, outcome: 'capture', amount: row.price, createdAt: row.createdAt, ...guard }),
        recording.usage(db, { ...activationPurchaseUsage(row, row.createdAt), ...guard }),
        recording.event(db, {
          id: newEventId(row.createdAt),
          type: 'activation.created',
          userId: row.userId,
          payload: {
            numberId: row.id,
            phone: row.phone,
            serviceCode: row.serviceCode,
            countryCode: row.countryCode,
            price: fromMicros(row.price),
            expiresAt: row.expiresAt.toISOString(),
          },
          createdAt: row.createdAt,
          ...guard,
        }),
      ])
      if (inserted.results.length) return 'recorded'
      await this.undo(row, adapter)
      return REPRICED
    } catch (e) {
      // The batch may have committed before the error reached us: look before undoing anything.
      // 'other': a concurrent run with the same Idempotency-Key recorded this id with its own hold.
      const present = await db
        .select({ holdId: activations.holdId })
        .from(activations)
        .where(eq(activations.id, row.id))
        .get()
        .then(
          (r) => (r ? (r.holdId === row.holdId ? 'yes' : 'other') : 'no'),
          () => 'unknown',
        )
      if (present === 'yes') return 'recorded'
      if (present === 'no' || present === 'other') await this.undo(row, adapter)
      if (present === 'other') return 'taken'
      // 'unknown': the hold stays; at its expiry the wallet captures it iff the outcome row exists.
      log('error', 'purchase: recording the activation failed', { activationId: row.id, holdId: row.holdId, present, error: (e as Error).message })
      throw e
    }
  }

  /** Nothing of `row` was recorded: its hold is released and its number given back upstream. */
  private async undo(row: Activation, adapter: ActivationProvider) {
    await this.voidHold(row.userId, row.holdId)
    await adapter.cancel(row.upstreamId).catch((err) => log('warn', 'purchase: upstream cancel after a failed write failed', { error: (err as Error).message }))
  }

  /**
   * Takes the held price, at once or within `windowMs` (carried by the account's next hold). A lost
   * capture is healed by the wallet alarm (the outcome row says `capture`), so a failure here is
   * logged, not returned: the number is the buyer's.
   */
  private async capture(row: Activation, windowMs: number) {
    const { wallet } = this.deps
    try {
      const r = await wallet.captureSoon(row.userId, { opId: `cap_${row.holdId}`, holdId: row.holdId, description: `Number ${row.phone}` }, windowMs)
      // null: another request's call carried it (only while the hold is far from expiry: CAPTURE_MARGIN_MS).
      if (r === null || r.ok) return
      // The hold is gone: captured by the alarm already (fine) or voided by it (the buy outlived the hold).
      const hold = await wallet.stub(row.userId).getHoldById(row.holdId)
      if (hold?.status === 'captured') return
      log('error', 'purchase: hold was not capturable; charging directly', { activationId: row.id, reason: r.reason, hold: hold?.status ?? null })
      await this.chargeOrMarkUnbilled(row)
    } catch (e) {
      log('error', 'purchase: capture failed; the wallet captures at hold expiry', { activationId: row.id, holdId: row.holdId, error: (e as Error).message })
    }
  }

  private async chargeOrMarkUnbilled(row: Activation) {
    const { db, wallet } = this.deps
    try {
      const r = await wallet.debit(row.userId, { opId: `charge_${row.id}`, amount: row.price, reference: { type: 'activation', id: row.id } })
      if (r.ok) return
      // Short of money is logged like a failed charge; other refusals mark it unbilled quietly.
      if (r.reason === 'INSUFFICIENT_BALANCE')
        log('error', 'purchase: direct charge failed; marking unbilled', { activationId: row.id, error: new InsufficientBalance(row.price, r.available ?? 0).message })
    } catch (e) {
      log('error', 'purchase: direct charge failed; marking unbilled', { activationId: row.id, error: (e as Error).message })
    }
    const at = new Date(this.now())
    // No money was taken: the purchase's usage row is reversed in the same batch.
    await db.batch([db.update(activations).set({ billing: 'unbilled', updatedAt: at }).where(eq(activations.id, row.id)), activationUnbilledMeter(db, row, at)])
  }

  private async voidHold(userId: string, holdId: string) {
    try {
      const r = await this.deps.wallet.void(userId, { opId: `void_${holdId}`, holdId })
      if (!r.ok) log('warn', 'purchase: void refused', { holdId, reason: r.reason })
    } catch (e) {
      // The hold has no outcome row: the wallet alarm voids it at its expiry.
      log('error', 'purchase: void failed; the wallet voids at hold expiry', { holdId, error: (e as Error).message })
    }
  }

  /** An activation of this user by id, with its provider code (an Idempotency-Key's earlier answer). */
  private async existing(userId: string, id: string): Promise<ActivationRecord | null> {
    const done = await this.deps.db
      .select({ activation: activations, providerCode: providers.code })
      .from(activations)
      .innerJoin(providers, eq(providers.id, activations.providerId))
      .where(and(eq(activations.id, id), eq(activations.userId, userId)))
      .get()
    return done ? { ...done.activation, providerCode: done.providerCode } : null
  }
}

function attemptOf(p: Provider, e: unknown): Attempt {
  if (e instanceof AppError) return { provider: p.code, code: e.code, message: e.message }
  return { provider: p.code, code: 'UPSTREAM_ERROR', message: `${p.code}: ${(e as Error)?.message ?? 'failed'}` }
}

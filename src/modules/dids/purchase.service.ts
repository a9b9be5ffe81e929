/**
 * The DID order flow (docs/money-and-flows.md, "Buying DIDs"), shared by
 * POST /api/v1/numbers/purchase, POST /api/v1/orders and POST /api/v1/orders/{id}/retry-payment:
 *
 *   inventory check → NumberLock reserve (holder = account, 5 min) → wallet hold of
 *   Σ(setup + first month) of the reserved numbers → order + items + timeline (one batch) →
 *   upstream purchase number by number → ONE batch with every result (numbers, items, order,
 *   timeline, inventory, hold outcome, outbox) → capture of what was bought (void when nothing)
 *   → NumberLock confirm for bought numbers, release for the rest.
 *
 * Invariants:
 * - A number is bought upstream only while this account holds its NumberLock, so two accounts
 *   never both buy it. D1's partial unique index (phone_numbers_live_number_uq) is the last line of
 *   defence: when it refuses a row (the same account racing itself), that number becomes FAILED
 *   and the result batch is written once more.
 * - Money: one hold per payment attempt. Only SUCCESS and PENDING numbers are charged (the
 *   upstream accepted a PENDING order; it activates later). `hold_outcomes` is written in the same
 *   batch as the results, so a crash before the capture ends captured by the wallet's alarm for
 *   exactly the charged amount — never free, never twice.
 * - A number the account had reserved itself (POST /numbers/reservations) keeps its reservation
 *   when its purchase fails; every other lock this flow took is released.
 * - Nothing reservable → 409 NUMBER_NOT_AVAILABLE and no order. Not enough money → the order is
 *   written as `payment_failed` (retry-payment can pay it later), the locks are released, 400
 *   INSUFFICIENT_BALANCE.
 * - Paid by a payment method (`billing.paymentMethodId`): before the hold, the method is charged
 *   the total as a wallet top-up (payByMethod), so the flow above runs unchanged and what is not
 *   bought stays in the wallet. A decline is like missing money (order `payment_failed`, locks
 *   released) but answers 402 PAYMENT_FAILED. A retry of the request (same Idempotency-Key, after
 *   a 5xx) whose total changed meanwhile is not charged again: it holds from what the first charge
 *   put in the wallet, and a larger total charges only the difference.
 */
import { newEventId } from '../events/outbox'
import { and, eq, gt, inArray, ne } from 'drizzle-orm'
import type { Db } from '../../db/client'
import {
  didInventory,
  holdOutcomes,
  numberReservations,
  orderEvents,
  orderItems,
  orders,
  outbox,
  phoneNumbers,
  providers,
  usageRecords,
  type DidInventory,
  type Order,
  type OrderItem,
  type Provider,
} from '../../db/schema'
import { AppError, Conflict, InsufficientBalance, NotFound, UpstreamError, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros, toMicros, usd } from '../../lib/money'
import type { DidProvider } from '../../providers/numbers/types'
import { errorText, insertChunks, runBatch, type Stmt } from '../../db/batch'
import type { PurchaseResult } from './schemas'
import type { NumberLockService } from '../number-locks/number-lock.service'
import type { ProvidersService } from '../providers/providers.service'
import { orThrow, type WalletService } from '../wallet/wallet.service'
import type { TopUpService } from '../payments/top-up.service'
import { MICROS_PER_CENT } from '../../providers/payments/types'
import { sha256Hex } from '../../lib/crypto'
import { didPurchaseRows } from '../usage/product-meters'
import type { RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'

/** How long a purchase holds each number's lock: long enough for the upstream calls. */
export const PURCHASE_LOCK_MS = 5 * 60_000
/** The wallet hold outlives the locks; if the flow dies, the alarm settles it from hold_outcomes. */
export const PURCHASE_HOLD_TTL_MS = 15 * 60_000
/** What a PENDING number's `estimatedActivation` promises. */
const PENDING_ACTIVATION_MS = 24 * 3_600_000

export interface NumberRequest {
  phoneNumber: string
  friendlyName?: string
  configuration?: { voiceUrl?: string; voiceMethod?: string; smsUrl?: string; statusCallback?: string }
  /** Admin-only price of the whole first charge (setup + first month), micro-units. */
  customPrice?: number
  metadata?: Record<string, unknown>
  /** The order's defaultRouting, kept with each item so that a payment retry applies it too. */
  defaultRouting?: DefaultRouting
}

export interface DefaultRouting {
  voiceUrl: string
  voiceMethod: string
  voiceFallbackUrl?: string
  statusCallback?: string
  recordCalls?: boolean
  transcribeCalls?: boolean
  callScreening?: boolean
}

export interface PlaceOptions {
  billing?: Record<string, unknown>
  defaultRouting?: DefaultRouting
  notes?: string
  /** The request's Idempotency-Key and whose it is: a card payment's attempt is derived from it. */
  idempotency?: { scope: string; key: string }
}

export interface RetryOptions {
  /** The method to charge; default the order's `billing.paymentMethodId`; `wallet`: the wallet alone. */
  paymentMethodId?: string
  idempotency?: { scope: string; key: string }
}

export interface PurchaseDeps {
  db: Db
  wallet: WalletService
  locks: NumberLockService
  providers: ProvidersService
  /** Wallet top-ups by payment method (orders paid by card). */
  topUps: Pick<TopUpService, 'topUpAtLeast'>
  appUrl: string
}

type ResultStatus = 'SUCCESS' | 'FAILED' | 'PENDING'
type Outcome = PurchaseResult['results'][number]

/** One requested number on its way through the flow. */
interface Line {
  itemId: string
  req: NumberRequest
  inv: DidInventory | null
  /** What this order charges for it: setup + first month (a customPrice is all setup). */
  setup: number
  monthly: number
  ownReservation: boolean
  reserved: boolean
  /** Bought upstream but refused by D1 (another live row holds it): never released upstream. */
  conflict: boolean
  goneUpstream: boolean
  /** The upstream never answered (timeout, network): it may have bought the number. PENDING until looked up. */
  unconfirmed: boolean
  upstreamId?: string
  numberId?: string
  result?: Outcome
}

interface OrderRef {
  id: string
  orderNumber: string
  holdId: string
  /** False when nothing had to be paid (a zero total): there is no hold to settle. */
  held: boolean
  currency: string
}

const failed = (phoneNumber: string, error: string, message: string): Outcome => ({ phoneNumber, status: 'FAILED', error, message })
const price = (l: Line) => l.setup + l.monthly

/** The same day next month (the month's last day when it has fewer days): the first renewal. */
export function addMonth(now: number): Date {
  const d = new Date(now)
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()))
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate()
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay))
  return target
}

export function newOrderNumber(now: number): string {
  const d = new Date(now).toISOString().slice(0, 10).replace(/-/g, '')
  return `ORD-${d}-${newId('x', now).slice(-8).toUpperCase()}`
}

/** `CODE: message` as stored in order_items.error. */
export function splitItemError(error: string | null): { error?: string; message?: string } {
  if (!error) return {}
  const i = error.indexOf(': ')
  return i < 0 ? { error } : { error: error.slice(0, i), message: error.slice(i + 2) }
}

export class PurchaseService {
  constructor(private readonly deps: PurchaseDeps) {}

  private get db() {
    return this.deps.db
  }

  /** Places a new order for `requests` and runs it to the end. */
  async place(ctx: RequestContext, requests: NumberRequest[], opts: PlaceOptions = {}): Promise<PurchaseResult> {
    const userId = ctx.accountId
    const now = Date.now()
    const phones = requests.map((r) => r.phoneNumber)
    const dup = phones.find((p, i) => phones.indexOf(p) !== i)
    if (dup) throw ValidationError.field('numbers', `${dup} is requested twice`)

    const withRouting = opts.defaultRouting ? requests.map((r) => ({ ...r, defaultRouting: opts.defaultRouting })) : requests
    const { lines, providerRows } = await this.loadLines(userId, withRouting, now)
    await this.reserveAll(userId, lines)
    const reserved = lines.filter((l) => l.reserved)
    if (!reserved.length) {
      throw new Conflict('NUMBER_NOT_AVAILABLE', 'None of the requested numbers can be bought now', { results: lines.map((l) => l.result) })
    }

    const orderId = newId('ord', now)
    const orderNumber = newOrderNumber(now)
    const total = reserved.reduce((s, l) => s + price(l), 0)
    const holdId = newId('hold', now)
    const billing = opts.billing ?? {}
    const orderRow = (status: Order['status'], paymentStatus: Order['paymentStatus'], hold: string | null) => ({
      id: orderId,
      orderNumber,
      userId,
      type: 'number_purchase' as const,
      status,
      paymentStatus,
      total,
      charged: 0,
      refunded: 0,
      currency: 'USD',
      holdId: hold,
      billing,
      notes: opts.notes ?? null,
      createdAt: new Date(now),
      updatedAt: new Date(now),
      completedAt: null,
    })

    try {
      const attempt = opts.idempotency ? await derivedKey(opts.idempotency.scope, opts.idempotency.key, 'place') : orderId
      await this.payByMethod(ctx, { total, paymentMethodId: methodOf(billing), attempt })
      await this.holdFor(userId, { orderId, orderNumber, holdId, total, count: reserved.length })
    } catch (e) {
      const declined = e instanceof AppError && e.code === 'PAYMENT_FAILED'
      if (declined || (e instanceof AppError && e.code === 'INSUFFICIENT_BALANCE')) {
        // The error shows decimals; the order timeline works in micro-units.
        const available = toMicros(Number((e.details as { available?: number } | undefined)?.available ?? 0))
        await runBatch(this.db, [
          this.db.insert(orders).values(orderRow('payment_failed', 'failed', null)),
          ...this.itemInserts(orderId, userId, lines, now),
          ...this.events(orderId, now, [
            ['pending', `Order placed for ${lines.length} number(s)`],
            ['payment_failed', declined ? `Payment failed: ${declinedNote(e, total)}` : `Insufficient balance: ${usd(total)} needed, ${usd(available)} available`],
          ]),
        ]).catch((err) => logger.error('purchase: payment_failed order not written', { orderId, error: errorText(err) }))
        await this.releaseLocks(userId, reserved.filter((l) => !l.ownReservation))
        throw declined ? withOrder(e, { orderId, orderNumber }) : insufficient(total, available, { orderId, orderNumber })
      }
      await this.releaseLocks(userId, reserved.filter((l) => !l.ownReservation))
      throw e
    }

    try {
      await runBatch(this.db, [
        this.db.insert(orders).values(orderRow('processing', 'held', holdId)),
        ...this.itemInserts(orderId, userId, lines, now),
        ...this.events(orderId, now, [
          ['pending', `Order placed for ${lines.length} number(s)`],
          ['processing', `${usd(total)} held for ${reserved.length} reserved number(s)`],
        ]),
      ])
    } catch (e) {
      if (total > 0) await this.settleHold(userId, holdId, 0)
      await this.releaseLocks(userId, reserved.filter((l) => !l.ownReservation))
      throw e
    }

    return this.fulfil(userId, { id: orderId, orderNumber, holdId, held: total > 0, currency: 'USD' }, lines, providerRows)
  }

  /**
   * An unpaid order (POST /orders with autoComplete: false): priced items, no reservation, no
   * hold. retry-payment pays it. Returns the order id.
   */
  async open(userId: string, requests: NumberRequest[], opts: PlaceOptions = {}): Promise<string> {
    const now = Date.now()
    const phones = requests.map((r) => r.phoneNumber)
    const dup = phones.find((p, i) => phones.indexOf(p) !== i)
    if (dup) throw ValidationError.field('items', `${dup} is requested twice`)
    const { lines } = await this.loadLines(userId, requests, now)
    const ok = lines.filter((l) => l.inv)
    if (!ok.length) {
      throw new Conflict('NUMBER_NOT_AVAILABLE', 'None of the requested numbers can be bought now', { results: lines.map((l) => l.result) })
    }
    const orderId = newId('ord', now)
    const total = ok.reduce((s, l) => s + price(l), 0)
    await runBatch(this.db, [
      this.db.insert(orders).values({
        id: orderId,
        orderNumber: newOrderNumber(now),
        userId,
        type: 'number_purchase',
        status: 'pending',
        paymentStatus: 'pending',
        total,
        charged: 0,
        refunded: 0,
        currency: 'USD',
        holdId: null,
        billing: opts.billing ?? {},
        notes: opts.notes ?? null,
        createdAt: new Date(now),
        updatedAt: new Date(now),
        completedAt: null,
      }),
      ...this.itemInserts(orderId, userId, lines, now),
      ...this.events(orderId, now, [['pending', `Order created for ${lines.length} number(s); ${usd(total)} due`]]),
    ])
    return orderId
  }

  /** Pays a `payment_failed` (or unpaid `pending`) order again: its pending items run the whole flow. */
  async retry(ctx: RequestContext, orderId: string, opts: RetryOptions = {}): Promise<PurchaseResult> {
    const userId = ctx.accountId
    const now = Date.now()
    // Claiming the order first makes concurrent retries (and a cancel) see it as taken.
    const claimed = await this.db
      .update(orders)
      .set({ status: 'processing', updatedAt: new Date(now) })
      .where(and(eq(orders.id, orderId), eq(orders.userId, userId), inArray(orders.status, ['payment_failed', 'pending'])))
      .returning()
      .get()
    if (!claimed) {
      const o = await this.db.select({ status: orders.status }).from(orders).where(and(eq(orders.id, orderId), eq(orders.userId, userId))).get()
      if (!o) throw new NotFound('Order')
      throw new Conflict('ORDER_NOT_RETRYABLE', `The order is ${o.status}; only pending or payment_failed orders can be paid`, { status: o.status })
    }
    // An unpaid order (autoComplete: false) still says payment `pending`; a refused one `failed`.
    const previous = claimed.paymentStatus === 'pending' ? ('pending' as const) : ('payment_failed' as const)
    const pendingItems = this.db
      .select({ phoneNumber: orderItems.phoneNumber })
      .from(orderItems)
      .where(and(eq(orderItems.orderId, orderId), eq(orderItems.status, 'pending')))
    const [items, inv, provs, own] = await this.db.batch([
      this.db.select().from(orderItems).where(and(eq(orderItems.orderId, orderId), eq(orderItems.status, 'pending'))).orderBy(orderItems.id),
      this.db.select().from(didInventory).where(inArray(didInventory.phoneNumber, pendingItems)),
      this.db.select().from(providers).where(inArray(providers.id, this.db.select({ id: didInventory.providerId }).from(didInventory).where(inArray(didInventory.phoneNumber, pendingItems)))),
      this.db
        .select({ phoneNumber: numberReservations.phoneNumber })
        .from(numberReservations)
        .where(and(eq(numberReservations.userId, userId), inArray(numberReservations.phoneNumber, pendingItems), eq(numberReservations.status, 'active'), gt(numberReservations.expiresAt, new Date(now)))),
    ])
    const lines = this.linesOf(
      items.map((it) => ({ req: it.request as unknown as NumberRequest, item: it })),
      inv,
      new Set(own.map((r) => r.phoneNumber)),
    )
    await this.reserveAll(userId, lines)
    const reserved = lines.filter((l) => l.reserved)
    const failedLines = lines.filter((l) => !l.reserved)

    if (!reserved.length) {
      await runBatch(this.db, [
        ...this.itemFailures(failedLines, now),
        this.db.update(orders).set({ status: 'failed', paymentStatus: 'failed', updatedAt: new Date(now) }).where(eq(orders.id, orderId)),
        ...this.events(orderId, now, [['failed', 'Payment retry: none of the numbers can be bought any more']]),
      ])
      throw new Conflict('NUMBER_NOT_AVAILABLE', 'None of the order\'s numbers can be bought any more; the order has failed', {
        orderId,
        status: 'failed',
        results: lines.map((l) => l.result),
      })
    }

    const total = reserved.reduce((s, l) => s + price(l), 0)
    const holdId = newId('hold', now)
    // The method named now, else the one the order was placed with; the order records what paid it.
    const paymentMethodId = opts.paymentMethodId ?? methodOf(claimed.billing)
    const billing = opts.paymentMethodId ? { ...claimed.billing, paymentMethodId: opts.paymentMethodId } : claimed.billing
    try {
      const attempt = opts.idempotency ? await derivedKey(opts.idempotency.scope, opts.idempotency.key, `retry:${orderId}`) : `${orderId}_${holdId}`
      await this.payByMethod(ctx, { total, paymentMethodId, attempt })
      await this.holdFor(userId, { orderId, orderNumber: claimed.orderNumber, holdId, total, count: reserved.length })
    } catch (e) {
      const declined = e instanceof AppError && e.code === 'PAYMENT_FAILED'
      const isFunds = e instanceof AppError && e.code === 'INSUFFICIENT_BALANCE'
      const available = toMicros(Number((isFunds && (e.details as { available?: number } | undefined)?.available) || 0))
      const refused = isFunds || declined
      await runBatch(this.db, [
        this.db
          .update(orders)
          .set({ status: refused ? 'payment_failed' : previous, paymentStatus: refused ? 'failed' : claimed.paymentStatus, ...(refused ? { billing } : {}), updatedAt: new Date(now) })
          .where(eq(orders.id, orderId)),
        ...(refused
          ? this.events(orderId, now, [
              ['payment_failed', `Payment retry: ${declined ? declinedNote(e, total) : `${usd(total)} needed, ${usd(available)} available`}`],
            ])
          : []),
      ])
      await this.releaseLocks(userId, reserved.filter((l) => !l.ownReservation))
      if (isFunds) throw insufficient(total, available, { orderId, orderNumber: claimed.orderNumber })
      if (declined) throw withOrder(e, { orderId, orderNumber: claimed.orderNumber })
      throw e
    }

    try {
      await runBatch(this.db, [
        ...this.itemFailures(failedLines, now),
        this.db.update(orders).set({ paymentStatus: 'held', holdId, total, billing, updatedAt: new Date(now) }).where(eq(orders.id, orderId)),
        ...this.events(orderId, now, [['processing', `${usd(total)} held for ${reserved.length} reserved number(s)`]]),
      ])
    } catch (e) {
      if (total > 0) await this.settleHold(userId, holdId, 0)
      await this.releaseLocks(userId, reserved.filter((l) => !l.ownReservation))
      throw e
    }
    return this.fulfil(userId, { id: orderId, orderNumber: claimed.orderNumber, holdId, held: total > 0, currency: claimed.currency }, lines, provs)
  }

  // ---- steps ----------------------------------------------------------------------------

  /** Inventory rows, their providers and the account's own reservations, in one batch. */
  private async loadLines(userId: string, requests: NumberRequest[], now: number) {
    const phones = requests.map((r) => r.phoneNumber)
    const [inv, providerRows, own] = await this.db.batch([
      this.db.select().from(didInventory).where(inArray(didInventory.phoneNumber, phones)),
      this.db
        .select()
        .from(providers)
        .where(inArray(providers.id, this.db.select({ id: didInventory.providerId }).from(didInventory).where(inArray(didInventory.phoneNumber, phones)))),
      this.db
        .select({ phoneNumber: numberReservations.phoneNumber })
        .from(numberReservations)
        .where(and(eq(numberReservations.userId, userId), inArray(numberReservations.phoneNumber, phones), eq(numberReservations.status, 'active'), gt(numberReservations.expiresAt, new Date(now)))),
    ])
    const lines = this.linesOf(
      requests.map((req) => ({ req, item: null })),
      inv,
      new Set(own.map((r) => r.phoneNumber)),
    )
    return { lines, providerRows }
  }

  private linesOf(entries: { req: NumberRequest; item: OrderItem | null }[], inv: DidInventory[], own: Set<string>): Line[] {
    const byPhone = new Map(inv.map((r) => [r.phoneNumber, r]))
    const t = Date.now()
    // Item ids carry increasing times, so the order's items sort as they were requested.
    return entries.map(({ req, item }, i) => {
      const row = byPhone.get(req.phoneNumber)
      const available = row && row.status === 'available' ? row : null
      const custom = req.customPrice
      const line: Line = {
        itemId: item?.id ?? newId('oit', t + i),
        req,
        inv: available,
        setup: item ? item.setupPrice : custom !== undefined ? custom : (available?.setupPrice ?? 0),
        monthly: item ? item.monthlyPrice : custom !== undefined ? 0 : (available?.monthlyPrice ?? 0),
        ownReservation: own.has(req.phoneNumber),
        reserved: false,
        conflict: false,
        goneUpstream: false,
        unconfirmed: false,
      }
      if (!available) line.result = failed(req.phoneNumber, 'NUMBER_NOT_AVAILABLE', row ? 'The number has already been sold' : 'The number is not in the inventory')
      return line
    })
  }

  /** NumberLock reserve for every available line, all at once (one object per number). */
  private async reserveAll(userId: string, lines: Line[]) {
    await Promise.all(
      lines
        .filter((l) => l.inv)
        .map(async (l) => {
          try {
            // An own reservation may have more than 5 minutes left; renewing keeps the longer of the two.
            const state = l.ownReservation ? await this.deps.locks.of(l.req.phoneNumber).state() : null
            const left = state && state.holder === userId && state.expiresAt ? state.expiresAt - Date.now() : 0
            const r = await this.deps.locks.of(l.req.phoneNumber).reserve(userId, Math.max(PURCHASE_LOCK_MS, left))
            if (r.ok) l.reserved = true
            else {
              l.ownReservation = false
              l.result = failed(l.req.phoneNumber, 'NUMBER_NOT_AVAILABLE', 'The number is reserved by another account')
            }
          } catch (e) {
            logger.error('purchase: number lock unreachable', { phoneNumber: l.req.phoneNumber, error: errorText(e) })
            l.result = failed(l.req.phoneNumber, 'NUMBER_NOT_AVAILABLE', 'The number could not be reserved; try again')
          }
        }),
    )
  }

  /** Upstream purchases, the result batch, the money, the locks. */
  private async fulfil(userId: string, order: OrderRef, lines: Line[], providerRows: Provider[]): Promise<PurchaseResult> {
    const buying = lines.filter((l) => l.reserved)
    const byId = new Map(providerRows.map((p) => [p.id, p]))
    const adapters = new Map<string, DidProvider | undefined>()
    for (const l of buying) {
      const p = byId.get(l.inv!.providerId)
      if (!p || p.status !== 'active') {
        l.result = failed(l.req.phoneNumber, 'PROVIDER_UNAVAILABLE', 'The number\'s provider is not available')
        continue
      }
      try {
        if (!adapters.has(p.id)) adapters.set(p.id, this.deps.providers.adapters(p).did)
        const did = adapters.get(p.id)
        if (!did) throw new UpstreamError(p.code, 'provider sells no DIDs')
        const routing = { ...l.req.defaultRouting, ...l.req.configuration }
        // The upstream sends the number's SMS to us (stored, billed, turned into events); the
        // customer's own smsUrl is reached from there, by the webhook fan-out.
        const inbound = `${this.deps.appUrl}/api/v1/webhooks/sms?provider=${encodeURIComponent(p.code)}`
        const r = await did.purchase(l.req.phoneNumber, { smsUrl: inbound, voiceUrl: routing.voiceUrl, friendlyName: l.req.friendlyName })
        l.upstreamId = r.upstreamId
        l.numberId = newId('pn')
        l.result =
          r.status === 'active'
            ? { phoneNumber: l.req.phoneNumber, status: 'SUCCESS', numberId: l.numberId }
            : { phoneNumber: l.req.phoneNumber, status: 'PENDING', numberId: l.numberId, estimatedActivation: new Date(Date.now() + PENDING_ACTIVATION_MS).toISOString() }
      } catch (e) {
        if (outcomeUnknown(e)) {
          // Not a refusal: the purchase may have gone through. The number stays ours and its price
          // held until the sweeper looks it up (confirm-purchases.job.ts): captured if bought, released if not.
          l.unconfirmed = true
          l.numberId = newId('pn')
          l.result = { phoneNumber: l.req.phoneNumber, status: 'PENDING', numberId: l.numberId, message: UNCONFIRMED_MESSAGE }
          continue
        }
        const gone = e instanceof AppError && e.code === 'NO_NUMBERS_AVAILABLE'
        l.goneUpstream = gone
        l.result = failed(l.req.phoneNumber, gone ? 'NUMBER_NOT_AVAILABLE' : 'UPSTREAM_ERROR', e instanceof AppError ? e.message : 'The provider failed')
      }
    }

    const now = Date.now()
    let written: { charged: number; awaiting: number; status: Order['status'] } | null = null
    for (let attempt = 0; !written; attempt++) {
      const final = this.finalStatements(userId, order, lines, now)
      try {
        await runBatch(this.db, final.stmts)
        written = final
      } catch (e) {
        const bought = lines.filter((l) => l.result?.status !== 'FAILED' && l.reserved)
        const live =
          attempt === 0 && /UNIQUE/i.test(errorText(e)) && bought.length
            ? await this.db
                .select({ phoneNumber: phoneNumbers.phoneNumber })
                .from(phoneNumbers)
                .where(and(inArray(phoneNumbers.phoneNumber, bought.map((l) => l.req.phoneNumber)), ne(phoneNumbers.status, 'released')))
                .all()
            : []
        if (!live.length) {
          // The batch may have committed before its error reached us, and numbers were bought
          // upstream: voiding here could hand them out free. The hold is left to the Wallet's
          // alarm, which captures it iff the batch wrote its `hold_outcomes` row; the timed locks
          // lapse by themselves.
          logger.error('purchase: result batch failed; the hold settles at expiry', { orderId: order.id, holdId: order.holdId, error: errorText(e) })
          throw e
        }
        const taken = new Set(live.map((r) => r.phoneNumber))
        for (const l of bought.filter((x) => taken.has(x.req.phoneNumber))) {
          l.conflict = true
          l.numberId = undefined
          l.result = failed(l.req.phoneNumber, 'NUMBER_NOT_AVAILABLE', 'The number was bought by another order meanwhile')
        }
      }
    }

    // With numbers awaiting confirmation the hold stays: their lookup settles it (the provisional
    // hold outcome covers its expiry meanwhile).
    if (order.held && !written.awaiting) await this.settleHold(userId, order.holdId, written.charged)
    await this.settleLocks(userId, buying)

    const results = lines.map((l) => l.result!)
    const count = (s: ResultStatus) => results.filter((r) => r.status === s).length
    const firstId = results.find((r) => r.numberId)?.numberId
    return {
      order: { id: order.id, orderNumber: order.orderNumber, status: written.status, totalAmount: fromMicros(written.charged + written.awaiting), currency: order.currency },
      results,
      summary: { totalRequested: results.length, successful: count('SUCCESS'), failed: count('FAILED'), pending: count('PENDING') },
      nextSteps: {
        configurationUrl: `${this.deps.appUrl}/api/v1/numbers${firstId ? `/${firstId}/configure` : ''}`,
        documentationUrl: `${this.deps.appUrl}/docs`,
      },
    }
  }

  /** Every effect of the upstream results, as one atomic batch. */
  private finalStatements(userId: string, order: OrderRef, lines: Line[], now: number) {
    const at = new Date(now)
    const bought = lines.filter((l) => l.reserved && l.result?.status !== 'FAILED')
    const confirmed = bought.filter((l) => !l.unconfirmed)
    const unconfirmed = bought.filter((l) => l.unconfirmed)
    const failedBuys = lines.filter((l) => l.reserved && l.result?.status === 'FAILED')
    const charged = confirmed.reduce((s, l) => s + price(l), 0)
    const awaiting = unconfirmed.reduce((s, l) => s + price(l), 0)
    const anyFailed = lines.some((l) => l.result?.status === 'FAILED')
    const status: Order['status'] = unconfirmed.length ? 'processing' : !bought.length ? 'failed' : anyFailed ? 'partially_completed' : 'completed'
    const numberRows = bought.map((l) => {
      const inv = l.inv!
      const routing = l.req.defaultRouting
      const features: Record<string, boolean> = {}
      for (const k of ['recordCalls', 'transcribeCalls', 'callScreening'] as const) if (routing?.[k] !== undefined) features[k] = routing[k]!
      const cfg = { ...routing, ...l.req.configuration }
      return {
        id: l.numberId!,
        userId,
        providerId: inv.providerId,
        upstreamId: l.upstreamId ?? null,
        phoneNumber: inv.phoneNumber,
        friendlyName: l.req.friendlyName ?? null,
        countryCode: inv.countryCode,
        region: inv.region,
        locality: inv.locality,
        areaCode: inv.areaCode,
        numberType: inv.numberType,
        capabilities: inv.capabilities,
        status: l.result!.status === 'SUCCESS' ? ('active' as const) : ('pending' as const),
        // An unconfirmed number's upstream id is learnt from the lookup.
        voiceUrl: cfg.voiceUrl ?? null,
        voiceMethod: cfg.voiceMethod ?? (cfg.voiceUrl ? 'POST' : null),
        voiceFallbackUrl: routing?.voiceFallbackUrl ?? null,
        smsUrl: cfg.smsUrl ?? null,
        statusCallback: cfg.statusCallback ?? null,
        features,
        monthlyPrice: inv.monthlyPrice,
        setupPrice: l.req.customPrice ?? inv.setupPrice,
        currency: 'USD',
        tags: [],
        notes: null,
        orderId: order.id,
        purchasedAt: at,
        nextRenewalAt: addMonth(now),
        releaseAt: null,
        releaseReason: null,
        releasedAt: null,
        lastUsedAt: null,
        createdAt: at,
        updatedAt: at,
      }
    })

    const stmts: Stmt[] = []
    for (const chunk of insertChunks(phoneNumbers, numberRows)) stmts.push(this.db.insert(phoneNumbers).values(chunk))
    for (const l of bought) {
      stmts.push(
        this.db
          .update(orderItems)
          .set({ status: l.unconfirmed ? 'unconfirmed' : 'success', phoneNumberId: l.numberId!, error: null, updatedAt: at })
          .where(eq(orderItems.id, l.itemId)),
      )
    }
    stmts.push(...this.itemFailures(failedBuys, now))
    stmts.push(
      this.db
        .update(orders)
        .set(
          unconfirmed.length
            ? { status, paymentStatus: 'held', charged: 0, updatedAt: at }
            : { status, paymentStatus: bought.length ? 'paid' : 'refunded', charged, updatedAt: at, completedAt: bought.length ? at : null },
        )
        .where(eq(orders.id, order.id)),
    )
    const note =
      `${confirmed.length} of ${lines.length} number(s) purchased` +
      (confirmed.some((l) => l.result!.status === 'PENDING') ? ' (some pending activation upstream)' : '') +
      (unconfirmed.length
        ? `; ${unconfirmed.length} awaiting confirmation from the provider (no answer in time); ${usd(charged + awaiting)} stays held until then`
        : `; ${usd(charged)} charged`) +
      (failedBuys.length ? `, ${usd(failedBuys.reduce((s, l) => s + price(l), 0))} released` : '')
    stmts.push(...this.events(order.id, now, [[status, note]]))
    if (bought.length) {
      stmts.push(this.db.update(didInventory).set({ status: 'sold', updatedAt: at }).where(inArray(didInventory.phoneNumber, bought.map((l) => l.req.phoneNumber))))
      stmts.push(
        this.db
          .update(numberReservations)
          .set({ status: 'purchased', updatedAt: at })
          .where(and(eq(numberReservations.userId, userId), inArray(numberReservations.phoneNumber, bought.map((l) => l.req.phoneNumber)), eq(numberReservations.status, 'active'))),
      )
    }
    const gone = failedBuys.filter((l) => l.goneUpstream)
    if (gone.length) {
      // Only an available row: a concurrent order that did buy the number has marked it sold.
      stmts.push(this.db.update(didInventory).set({ status: 'gone', updatedAt: at }).where(and(inArray(didInventory.phoneNumber, gone.map((l) => l.req.phoneNumber)), eq(didInventory.status, 'available'))))
    }
    // While numbers await confirmation the outcome is provisional: at most everything they may
    // cost, so a hold that expires first is captured (never free); the lookup settles the exact amount.
    const outcome = charged + awaiting
    stmts.push(
      this.db
        .insert(holdOutcomes)
        .values({ holdId: order.holdId, userId, outcome: outcome > 0 ? 'capture' : 'void', amount: outcome, createdAt: at })
        .onConflictDoNothing(),
    )
    // One usage row per charged number, for what this batch captures for it.
    const meters = didPurchaseRows(
      confirmed.filter((l) => price(l) > 0).map((l) => ({ userId, numberId: l.numberId!, phoneNumber: l.req.phoneNumber, amount: price(l), orderId: order.id })),
      at,
    )
    for (const chunk of insertChunks(usageRecords, meters)) stmts.push(this.db.insert(usageRecords).values(chunk).onConflictDoNothing())
    const events = confirmed.map((l, i) => numberPurchasedEvent(userId, order.id, numberRows[bought.indexOf(l)]!, price(l), now + i))
    for (const chunk of insertChunks(outbox, events)) stmts.push(this.db.insert(outbox).values(chunk))
    return { stmts, charged, awaiting, status }
  }

  // ---- pieces -----------------------------------------------------------------------------

  private itemInserts(orderId: string, userId: string, lines: Line[], now: number): Stmt[] {
    const at = new Date(now)
    const rows = lines.map((l) => ({
      id: l.itemId,
      orderId,
      userId,
      phoneNumber: l.req.phoneNumber,
      providerId: l.inv?.providerId ?? null,
      status: l.result?.status === 'FAILED' ? ('failed' as const) : ('pending' as const),
      phoneNumberId: null,
      setupPrice: l.setup,
      monthlyPrice: l.monthly,
      error: l.result?.status === 'FAILED' ? `${l.result.error}: ${l.result.message}` : null,
      request: l.req as unknown as Record<string, unknown>,
      createdAt: at,
      updatedAt: at,
    }))
    return insertChunks(orderItems, rows).map((chunk) => this.db.insert(orderItems).values(chunk))
  }

  private itemFailures(lines: Line[], now: number): Stmt[] {
    return lines.map((l) =>
      this.db
        .update(orderItems)
        .set({ status: 'failed', error: `${l.result?.error ?? 'FAILED'}: ${l.result?.message ?? ''}`, updatedAt: new Date(now) })
        .where(eq(orderItems.id, l.itemId)),
    )
  }

  /**
   * An order paid by a payment method: the method is charged `total` (rounded up to whole cents,
   * which processors need) as a wallet top-up — its own `payments` row, the processor's
   * idempotency key, the wallet credit — so the hold that follows finds the money. `attempt` names
   * the payment (from the request's Idempotency-Key when it has one), so a retried request finds
   * the payment it made and never charges twice — even when the total changed in between (a
   * number sold or freed since the first try, which ended in a 5xx): the earlier payment counts,
   * and only a larger total charges the difference (TopUpService.topUpAtLeast). Nothing to do
   * without a method, for `wallet` or for a free order. Throws 402 PAYMENT_FAILED (declined), 404 (not one of the account's methods),
   * 502 (processor unreachable: the payment stays pending until a retry or the sweeper ends it).
   */
  private async payByMethod(ctx: RequestContext, o: { total: number; paymentMethodId?: string; attempt: string }) {
    if (!o.paymentMethodId || o.paymentMethodId === WALLET || o.total <= 0) return
    const amount = Math.ceil(o.total / MICROS_PER_CENT) * MICROS_PER_CENT
    await this.deps.topUps.topUpAtLeast(ctx, { amount, paymentMethodId: o.paymentMethodId, attemptKey: `orderpay_${o.attempt}` })
  }

  /** Reserves an order's total in the wallet (nothing for a free order). Throws INSUFFICIENT_BALANCE. */
  private async holdFor(userId: string, o: { orderId: string; orderNumber: string; holdId: string; total: number; count: number }) {
    if (o.total <= 0) return
    const r = await this.deps.wallet.hold(userId, {
      opId: o.holdId,
      amount: o.total,
      ttlMs: PURCHASE_HOLD_TTL_MS,
      reference: { type: 'order', id: o.orderId },
      description: `Order ${o.orderNumber}: ${o.count} number(s)`,
    })
    orThrow(r, o.total, 'The payment could not be reserved')
  }

  /** Timeline rows; ids carry increasing times so that rows of one instant keep their order. */
  events(orderId: string, now: number, entries: [string, string][]): Stmt[] {
    if (!entries.length) return []
    const rows = entries.map(([status, message], i) => ({ id: newId('oev', now + i), orderId, status, message, createdAt: new Date(now) }))
    return [this.db.insert(orderEvents).values(rows)]
  }

  /** Capture what was bought, or release the whole hold. Failures are logged: the alarm settles from hold_outcomes. */
  private async settleHold(userId: string, holdId: string, charged: number) {
    try {
      const r =
        charged > 0
          ? await this.deps.wallet.capture(userId, { opId: `capture_${holdId}`, holdId, amount: charged })
          : await this.deps.wallet.void(userId, { opId: `void_${holdId}`, holdId })
      if (!r.ok) logger.error('purchase: hold not settled', { holdId, reason: r.reason })
    } catch (e) {
      logger.error('purchase: wallet unreachable while settling', { holdId, error: errorText(e) })
    }
  }

  /** Bought numbers stay held for good; the others are let go, unless still the account's (own reservation, or live in D1). */
  private async settleLocks(userId: string, buying: Line[]) {
    const bought = buying.filter((l) => l.result?.status !== 'FAILED')
    let toRelease = buying.filter((l) => l.result?.status === 'FAILED' && !l.ownReservation && !l.conflict)
    if (toRelease.length) {
      const live = await this.db
        .select({ phoneNumber: phoneNumbers.phoneNumber })
        .from(phoneNumbers)
        .where(and(eq(phoneNumbers.userId, userId), inArray(phoneNumbers.phoneNumber, toRelease.map((l) => l.req.phoneNumber)), ne(phoneNumbers.status, 'released')))
        .all()
      const owned = new Set(live.map((r) => r.phoneNumber))
      toRelease = toRelease.filter((l) => !owned.has(l.req.phoneNumber))
    }
    await Promise.all([
      ...bought.map(async (l) => {
        const lock = this.deps.locks.of(l.req.phoneNumber)
        try {
          let r = await lock.confirm(userId)
          // The 5-minute hold ran out during a slow purchase: take it again, then keep it.
          if (!r.ok && r.reason === 'NOT_HELD') {
            const again = await lock.reserve(userId, PURCHASE_LOCK_MS)
            if (again.ok) r = await lock.confirm(userId)
          }
          if (!r.ok) logger.error('purchase: bought number lock not confirmed', { phoneNumber: l.req.phoneNumber, reason: r.reason })
        } catch (e) {
          logger.error('purchase: number lock unreachable', { phoneNumber: l.req.phoneNumber, error: errorText(e) })
        }
      }),
      this.releaseLocks(userId, toRelease),
    ])
  }

  private async releaseLocks(userId: string, lines: Line[]) {
    await Promise.all(
      lines.map((l) =>
        this.deps.locks
          .of(l.req.phoneNumber)
          .release(userId)
          .catch((e: unknown) => logger.error('purchase: lock release failed', { phoneNumber: l.req.phoneNumber, error: errorText(e) })),
      ),
    )
  }
}

/** What a number whose purchase got no answer says in the order's results. */
export const UNCONFIRMED_MESSAGE = 'The provider did not answer in time; the purchase is being confirmed with it, and the price stays held until then'

/** A failure after which the upstream may still have done it: no answer (timeout) or a broken connection. */
export function outcomeUnknown(e: unknown): boolean {
  const reason = e instanceof AppError && e.code === 'UPSTREAM_ERROR' ? (e.details as { reason?: unknown } | undefined)?.reason : undefined
  return reason === 'timeout' || reason === 'network'
}

/** The NUMBER_PURCHASED outbox row of a bought number. */
export function numberPurchasedEvent(
  userId: string,
  orderId: string,
  n: Pick<typeof phoneNumbers.$inferSelect, 'id' | 'phoneNumber' | 'numberType' | 'status'>,
  cost: number,
  at: number,
) {
  return {
    id: newEventId(at),
    type: 'NUMBER_PURCHASED',
    userId,
    payload: { numberId: n.id, phoneNumber: n.phoneNumber, numberType: n.numberType, status: n.status, orderId, cost: fromMicros(cost), currency: 'USD' },
    createdAt: new Date(at),
    sentAt: null,
  }
}

/** `billing.paymentMethodId` of a request or an order: paying by a payment method instead of the wallet. */
const WALLET = 'wallet'
function methodOf(billing: Record<string, unknown> | undefined): string | undefined {
  const id = billing?.paymentMethodId
  return typeof id === 'string' && id ? id : undefined
}

/** A payment attempt's name derived from the request's Idempotency-Key (the same key, the same attempt). */
async function derivedKey(scope: string, key: string, what: string): Promise<string> {
  return (await sha256Hex(`${scope}\n${key}\n${what}`)).slice(0, 40)
}

/** The timeline's words for a declined charge. */
function declinedNote(e: AppError, total: number): string {
  const reason = (e.details as { failureReason?: unknown } | undefined)?.failureReason
  return `the payment method was declined for ${usd(total)}${typeof reason === 'string' && reason ? ` (${reason})` : ''}`
}

/** A declined payment's 402, naming the order that waits for the money. */
function withOrder(e: AppError, extra: Record<string, unknown>): AppError {
  return new AppError(e.status, e.code, e.message, { ...(e.details as Record<string, unknown> | undefined), ...extra })
}

/** 400 INSUFFICIENT_BALANCE (amounts shown as decimals) and the order that waits for the money. */
export function insufficient(required: number, available: number, extra: Record<string, unknown>) {
  return new InsufficientBalance(required, available, extra)
}

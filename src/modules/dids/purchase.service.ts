/**
 * The DID order flow (docs/money-and-flows.md, "Buying DIDs"), shared by
 * POST /api/v1/numbers/purchase, POST /api/v1/orders and POST /api/v1/orders/{id}/retry-payment:
 *
 *   inventory check → NumberLock reserve (holder = account, 5 min) → wallet hold of
 *   Σ(setup + first month) of the reserved numbers → order + items + timeline (one batch) →
 *   upstream purchase number by number → ONE batch with every result (numbers, items, order,
 *   timeline, inventory, hold outcome, outbox) → capture of what was bought (void when nothing),
 *   which the answer does not wait for → NumberLock confirm for bought numbers, release for the rest.
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
 *
 * This file is the flow; purchase-lines.ts holds a number's way through it, purchase.statements.ts
 * what it reads and writes in D1, purchase-steps.ts its NumberLock, wallet and upstream calls.
 */
import { and, eq, inArray } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { orders, type Order, type Provider } from '../../db/schema'
import { AppError, Conflict, NotFound, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { toMicros, usd } from '../../lib/money'
import { errorText, runBatch, type Stmt } from '../../db/batch'
import type { NumberLockService } from '../number-locks/number-lock.service'
import type { ProvidersService } from '../providers/providers.service'
import type { WalletService } from '../wallet/wallet.service'
import type { TopUpService } from '../payments/top-up.service'
import type { RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'
import { newOrderNumber, price, type DefaultRouting, type Line, type NumberRequest, type OrderRef, type Outcome } from './purchase-lines'
import { itemFailures, itemInserts, readLines, readPendingLines, timeline, writeResults } from './purchase.statements'
import { buyUpstream, declinedNote, derivedKey, holdFor, insufficient, methodOf, payByMethod, releaseLocks, reserveAll, settleHold, settleLocks, withOrder } from './purchase-steps'

// The verbs' input, named from here by the order endpoints.
export type { DefaultRouting, NumberRequest } from './purchase-lines'

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

/** What a placed (or paid-again) order came to: the order, and each requested number's outcome in request order. */
export interface PlacedOrder {
  order: {
    id: string
    orderNumber: string
    status: Order['status']
    /** Micro-units: charged, plus what awaits confirmation. */
    total: number
    currency: string
  }
  results: Outcome[]
}

export interface PurchaseDeps {
  db: Db
  wallet: WalletService
  locks: NumberLockService
  providers: ProvidersService
  /** Wallet top-ups by payment method (orders paid by card). */
  topUps: Pick<TopUpService, 'topUpAtLeast'>
  appUrl: string
  /**
   * Runs a task after the answer (the request's waitUntil): the capture or void of the order's
   * hold. Absent, it runs before the answer. A task that never runs (the Worker died) is settled by
   * the Wallet's alarm from the hold outcome the result batch wrote (ARCHITECTURE.md).
   */
  afterAnswer?: (task: () => Promise<unknown>) => void
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
  async place(ctx: RequestContext, requests: NumberRequest[], opts: PlaceOptions = {}): Promise<PlacedOrder> {
    const userId = ctx.accountId
    const now = Date.now()
    const phones = requests.map((r) => r.phoneNumber)
    const dup = phones.find((p, i) => phones.indexOf(p) !== i)
    if (dup) throw ValidationError.field('numbers', `${dup} is requested twice`)

    const withRouting = opts.defaultRouting ? requests.map((r) => ({ ...r, defaultRouting: opts.defaultRouting })) : requests
    const { lines, providerRows } = await readLines(this.db, userId, withRouting, now)
    await reserveAll(this.deps.locks, userId, lines)
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
      await payByMethod(this.deps.topUps, ctx, { total, paymentMethodId: methodOf(billing), attempt })
      await holdFor(this.deps.wallet, userId, { orderId, orderNumber, holdId, total, count: reserved.length })
    } catch (e) {
      const declined = e instanceof AppError && e.code === 'PAYMENT_FAILED'
      if (declined || (e instanceof AppError && e.code === 'INSUFFICIENT_BALANCE')) {
        // The error shows decimals; the order timeline works in micro-units.
        const available = toMicros(Number((e.details as { available?: number } | undefined)?.available ?? 0))
        await runBatch(this.db, [
          this.db.insert(orders).values(orderRow('payment_failed', 'failed', null)),
          ...itemInserts(this.db, orderId, userId, lines, now),
          ...this.events(orderId, now, [
            ['pending', `Order placed for ${lines.length} number(s)`],
            ['payment_failed', declined ? `Payment failed: ${declinedNote(e, total)}` : `Insufficient balance: ${usd(total)} needed, ${usd(available)} available`],
          ]),
        ]).catch((err) => logger.error('purchase: payment_failed order not written', { orderId, error: errorText(err) }))
        await releaseLocks(
          this.deps.locks,
          userId,
          reserved.filter((l) => !l.ownReservation),
        )
        throw declined ? withOrder(e, { orderId, orderNumber }) : insufficient(total, available, { orderId, orderNumber })
      }
      await releaseLocks(
        this.deps.locks,
        userId,
        reserved.filter((l) => !l.ownReservation),
      )
      throw e
    }

    try {
      await runBatch(this.db, [
        this.db.insert(orders).values(orderRow('processing', 'held', holdId)),
        ...itemInserts(this.db, orderId, userId, lines, now),
        ...this.events(orderId, now, [
          ['pending', `Order placed for ${lines.length} number(s)`],
          ['processing', `${usd(total)} held for ${reserved.length} reserved number(s)`],
        ]),
      ])
    } catch (e) {
      await this.abandon(userId, holdId, total, reserved)
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
    const { lines } = await readLines(this.db, userId, requests, now)
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
      ...itemInserts(this.db, orderId, userId, lines, now),
      ...this.events(orderId, now, [['pending', `Order created for ${lines.length} number(s); ${usd(total)} due`]]),
    ])
    return orderId
  }

  /** Pays a `payment_failed` (or unpaid `pending`) order again: its pending items run the whole flow. */
  async retry(ctx: RequestContext, orderId: string, opts: RetryOptions = {}): Promise<PlacedOrder> {
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
      const o = await this.db
        .select({ status: orders.status })
        .from(orders)
        .where(and(eq(orders.id, orderId), eq(orders.userId, userId)))
        .get()
      if (!o) throw new NotFound('Order')
      throw new Conflict('ORDER_NOT_RETRYABLE', `The order is ${o.status}; only pending or payment_failed orders can be paid`, { status: o.status })
    }
    // An unpaid order (autoComplete: false) still says payment `pending`; a refused one `failed`.
    const previous = claimed.paymentStatus === 'pending' ? ('pending' as const) : ('payment_failed' as const)
    const { lines, provs } = await readPendingLines(this.db, userId, orderId, now)
    await reserveAll(this.deps.locks, userId, lines)
    const reserved = lines.filter((l) => l.reserved)
    const failedLines = lines.filter((l) => !l.reserved)

    if (!reserved.length) {
      await runBatch(this.db, [
        ...itemFailures(this.db, failedLines, now),
        this.db
          .update(orders)
          .set({ status: 'failed', paymentStatus: 'failed', updatedAt: new Date(now) })
          .where(eq(orders.id, orderId)),
        ...this.events(orderId, now, [['failed', 'Payment retry: none of the numbers can be bought any more']]),
      ])
      throw new Conflict('NUMBER_NOT_AVAILABLE', "None of the order's numbers can be bought any more; the order has failed", {
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
      await payByMethod(this.deps.topUps, ctx, { total, paymentMethodId, attempt })
      await holdFor(this.deps.wallet, userId, { orderId, orderNumber: claimed.orderNumber, holdId, total, count: reserved.length })
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
        ...(refused ? this.events(orderId, now, [['payment_failed', `Payment retry: ${declined ? declinedNote(e, total) : `${usd(total)} needed, ${usd(available)} available`}`]]) : []),
      ])
      await releaseLocks(
        this.deps.locks,
        userId,
        reserved.filter((l) => !l.ownReservation),
      )
      if (isFunds) throw insufficient(total, available, { orderId, orderNumber: claimed.orderNumber })
      if (declined) throw withOrder(e, { orderId, orderNumber: claimed.orderNumber })
      throw e
    }

    try {
      await runBatch(this.db, [
        ...itemFailures(this.db, failedLines, now),
        this.db
          .update(orders)
          .set({ paymentStatus: 'held', holdId, total, billing, updatedAt: new Date(now) })
          .where(eq(orders.id, orderId)),
        ...this.events(orderId, now, [['processing', `${usd(total)} held for ${reserved.length} reserved number(s)`]]),
      ])
    } catch (e) {
      await this.abandon(userId, holdId, total, reserved)
      throw e
    }
    return this.fulfil(userId, { id: orderId, orderNumber: claimed.orderNumber, holdId, held: total > 0, currency: claimed.currency }, lines, provs)
  }

  // ---- steps ----------------------------------------------------------------------------

  /** Upstream purchases, the result batch, the money, the locks. */
  private async fulfil(userId: string, order: OrderRef, lines: Line[], providerRows: Provider[]): Promise<PlacedOrder> {
    const buying = lines.filter((l) => l.reserved)
    await buyUpstream(this.deps, buying, providerRows)

    const written = await writeResults(this.db, userId, order, lines)

    // With numbers awaiting confirmation the hold stays: their lookup settles it (the provisional
    // hold outcome covers its expiry meanwhile). The hold's outcome is recorded: the capture may
    // follow the answer. The locks may not: a client that releases the number at once must find
    // it confirmed, or a late confirm would take it again after the release.
    if (order.held && !written.awaiting) {
      const settle = () => settleHold(this.deps.wallet, userId, order.holdId, written.charged)
      if (this.deps.afterAnswer) this.deps.afterAnswer(settle)
      else await settle()
    }
    await settleLocks(this.db, this.deps.locks, userId, buying)

    return {
      order: { id: order.id, orderNumber: order.orderNumber, status: written.status, total: written.charged + written.awaiting, currency: order.currency },
      results: lines.map((l) => l.result!),
    }
  }

  /** The order's batch failed: its hold is voided (when it held money) and the locks it took are let go. */
  private async abandon(userId: string, holdId: string, total: number, reserved: Line[]) {
    if (total > 0) await settleHold(this.deps.wallet, userId, holdId, 0)
    await releaseLocks(
      this.deps.locks,
      userId,
      reserved.filter((l) => !l.ownReservation),
    )
  }

  /** Timeline rows of an order (purchase.statements.ts); the order endpoints write them too. */
  events(orderId: string, now: number, entries: [string, string][]): Stmt[] {
    return timeline(this.db, orderId, now, entries)
  }
}

/**
 * Orders of the DID API: listing, details, creation (DID items run the purchase flow), cancel
 * with refund, payment retry.
 *
 * Invariants:
 * - Every query is scoped by `user_id`; another account's order is a 404.
 * - A list is one D1 batch (page with its items aggregated per order, count, summary); every
 *   filter and sort starts from orders_user_created_idx / orders_user_status_idx.
 * - Cancel: open orders with no money moved (pending, payment_failed) just end `cancelled`; a
 *   `processing` order cannot be cancelled (its purchase is running); a completed or partially
 *   completed order can be cancelled within ORDER_CANCEL_WINDOW_MS: its live numbers are released
 *   and what was charged is credited back once (wallet op `order_refund_<id>`, so a repeated or
 *   concurrent cancel never refunds twice). The credit comes before the D1 batch that records
 *   it: a crash in between is healed by cancelling again.
 */
import { and, asc, count, desc, eq, gte, inArray, lt, ne, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { didInventory, orderEvents, orderItems, orders, paymentMethods, phoneNumbers, type Order, type OrderItem, type PhoneNumber } from '../../db/schema'
import { rangeEnd, rangeStart } from '../../lib/dates'
import { AppError, Conflict, Forbidden, NotFound, ValidationError } from '../../lib/errors'
import { toMicros, usd } from '../../lib/money'
import { iso } from '../../lib/time'
import { runBatch } from '../../db/batch'
import type { DidsService } from './dids.service'
import type { WalletService } from '../wallet/wallet.service'
import { didRefundMeter } from '../usage/product-meters'
import type { NumberRequest, PlaceOptions, PurchaseService, RetryOptions } from './purchase.service'
import type { CreateOrderBody, ListOrdersQuery } from './order-schemas'
import { actorCan, type RequestContext } from '../../lib/context'

/** How long after it completed an order can still be cancelled for a refund. */
export const ORDER_CANCEL_WINDOW_MS = 24 * 3_600_000

export interface OrdersDeps {
  db: Db
  wallet: WalletService
  purchase: PurchaseService
  dids: DidsService
}

/** An order's item as the list reads it (aggregated in SQL); prices in micro-units. */
export interface ListedItem {
  id: string
  phoneNumber: string
  status: OrderItem['status']
  setup: number
  monthly: number
}

/** An order of a list page, with its items. */
export interface ListedOrder {
  order: Order
  items: ListedItem[]
}

/** The account's orders whatever the filters: how many, what they cost net of refunds (micro-units), how many are open. */
export interface OrderStats {
  orders: number
  spent: number
  open: number
}

/** One order with what its details show (order-views.ts shapes them). */
export interface OrderRecord {
  order: Order
  items: OrderItem[]
  events: (typeof orderEvents.$inferSelect)[]
  numbers: Pick<PhoneNumber, 'id' | 'phoneNumber' | 'status' | 'purchasedAt'>[]
  /** The processor of the payment method the order names (deleted since or not); null when it names none or an unknown one. */
  methodProcessor: string | null
}

export class OrdersService {
  constructor(private readonly deps: OrdersDeps) {}

  private get db() {
    return this.deps.db
  }

  // ---- list ---------------------------------------------------------------------------------

  listWhere(userId: string, q: ListOrdersQuery): SQL {
    const conds: (SQL | undefined)[] = [eq(orders.userId, userId)]
    if (q.status?.length) conds.push(inArray(orders.status, q.status))
    if (q.type?.length) conds.push(inArray(orders.type, q.type))
    if (q.dateFrom) conds.push(gte(orders.createdAt, new Date(rangeStart(q.dateFrom))))
    if (q.dateTo) conds.push(lt(orders.createdAt, new Date(rangeEnd(q.dateTo))))
    return and(...conds)!
  }

  /** The page, each order with its items as JSON (one correlated subquery on order_items_order_idx). */
  listQuery(userId: string, q: ListOrdersQuery) {
    const dir = q.sortOrder === 'asc' ? asc : desc
    const column = { createdAt: orders.createdAt, totalAmount: orders.total, status: orders.status }[q.sortBy]
    return this.db
      .select({
        o: orders,
        // Written out: inside a selection drizzle leaves columns unqualified, which would bind them to order_items.
        items: sql<string>`(select json_group_array(json_object('id', oi.id, 'phoneNumber', oi.phone_number, 'status', oi.status, 'setup', oi.setup_price, 'monthly', oi.monthly_price)) from order_items oi where oi.order_id = "orders"."id")`,
      })
      .from(orders)
      .where(this.listWhere(userId, q))
      .orderBy(dir(column), dir(orders.id))
      .limit(q.limit)
      .offset((q.page - 1) * q.limit)
  }

  summaryQuery(userId: string) {
    return this.db
      .select({
        total: count(),
        spent: sql<number>`coalesce(sum(${orders.charged} - ${orders.refunded}), 0)`,
        open: sql<number>`coalesce(sum(case when ${orders.status} in ('pending', 'processing', 'payment_failed') then 1 else 0 end), 0)`,
      })
      .from(orders)
      .where(eq(orders.userId, userId))
  }

  async list(ctx: RequestContext, q: ListOrdersQuery): Promise<{ rows: ListedOrder[]; total: number; stats: OrderStats }> {
    const userId = ctx.accountId
    const [rows, totals, summary] = await this.db.batch([this.listQuery(userId, q), this.db.select({ n: count() }).from(orders).where(this.listWhere(userId, q)), this.summaryQuery(userId)])
    const s = summary[0]
    return {
      rows: rows.map(({ o, items }) => ({ order: o, items: (JSON.parse(items ?? '[]') as ListedItem[]).sort((a, b) => a.id.localeCompare(b.id)) })),
      total: totals[0]?.n ?? 0,
      // The account's orders, whatever the filters.
      stats: { orders: s?.total ?? 0, spent: Number(s?.spent ?? 0), open: Number(s?.open ?? 0) },
    }
  }

  // ---- one order ----------------------------------------------------------------------------

  async get(ctx: RequestContext, id: string): Promise<OrderRecord> {
    const userId = ctx.accountId
    const [os, items, events, numbers, methods] = await this.db.batch([
      this.db
        .select()
        .from(orders)
        .where(and(eq(orders.id, id), eq(orders.userId, userId))),
      this.db
        .select()
        .from(orderItems)
        .where(and(eq(orderItems.orderId, id), eq(orderItems.userId, userId)))
        .orderBy(asc(orderItems.id)),
      this.db
        .select()
        .from(orderEvents)
        // Only returned when the order above is the caller's.
        .where(eq(orderEvents.orderId, id))
        .orderBy(asc(orderEvents.createdAt), asc(orderEvents.id)),
      this.db
        .select({ id: phoneNumbers.id, phoneNumber: phoneNumbers.phoneNumber, status: phoneNumbers.status, purchasedAt: phoneNumbers.purchasedAt })
        .from(phoneNumbers)
        .where(
          and(
            inArray(
              phoneNumbers.id,
              this.db
                .select({ id: sql<string>`${orderItems.phoneNumberId}` })
                .from(orderItems)
                .where(eq(orderItems.orderId, id)),
            ),
            eq(phoneNumbers.userId, userId),
          ),
        ),
      // The processor of the payment method the order is paid with (deleted since or not).
      this.db
        .select({ processor: paymentMethods.processor })
        .from(paymentMethods)
        .where(
          and(
            eq(paymentMethods.userId, userId),
            eq(paymentMethods.id, sql`(select json_extract(${orders.billing}, '$.paymentMethodId') from ${orders} where ${and(eq(orders.id, id), eq(orders.userId, userId))})`),
          ),
        ),
    ])
    const o = os[0]
    if (!o) throw new NotFound('Order')
    return { order: o, items, events, numbers, methodProcessor: methods[0]?.processor ?? null }
  }

  // ---- create -------------------------------------------------------------------------------

  /** DID items run the purchase flow now (autoComplete, the default) or wait unpaid. */
  async create(ctx: RequestContext, body: CreateOrderBody, opts: Pick<PlaceOptions, 'idempotency'> = {}) {
    const ids = body.items.map((it, i) => {
      if (!it.itemId) throw ValidationError.field(`items.${i}.itemId`, 'itemId (the E.164 number or its inventory id) is required for a number purchase')
      if (it.customPrice !== undefined && !actorCan(ctx, 'admin')) throw new Forbidden('Only admins can set customPrice', { field: `items.${i}.customPrice` })
      return it.itemId
    })
    const invIds = ids.filter((x) => !x.startsWith('+'))
    const inv = invIds.length ? await this.db.select({ id: didInventory.id, phoneNumber: didInventory.phoneNumber }).from(didInventory).where(inArray(didInventory.id, invIds)).all() : []
    const phoneOf = new Map(inv.map((r) => [r.id, r.phoneNumber]))
    const requests: NumberRequest[] = body.items.map((it, i) => {
      const phoneNumber = it.itemId!.startsWith('+') ? it.itemId! : phoneOf.get(it.itemId!)
      if (!phoneNumber || !/^\+[1-9]\d{6,14}$/.test(phoneNumber)) {
        throw ValidationError.field(`items.${i}.itemId`, `${it.itemId} is neither an E.164 number nor a known inventory id`)
      }
      const { friendlyName, configuration, ...rest } = it.metadata ?? {}
      return {
        phoneNumber,
        ...(friendlyName ? { friendlyName } : {}),
        ...(configuration ? { configuration } : {}),
        ...(it.customPrice !== undefined ? { customPrice: toMicros(it.customPrice) } : {}),
        ...(Object.keys(rest).length ? { metadata: rest } : {}),
      }
    })
    const billing = (body.billing ?? {}) as Record<string, unknown>
    if (body.autoComplete === false) {
      const orderId = await this.deps.purchase.open(ctx.accountId, requests, { billing })
      return { order: await this.get(ctx, orderId) }
    }
    const result = await this.deps.purchase.place(ctx, requests, { billing, idempotency: opts.idempotency })
    return { order: await this.get(ctx, result.order.id), result }
  }

  // ---- cancel -------------------------------------------------------------------------------

  async cancel(ctx: RequestContext, id: string, body: { reason: string; refundRequested?: boolean }, now = Date.now()) {
    const userId = ctx.accountId
    const o = await this.db
      .select()
      .from(orders)
      .where(and(eq(orders.id, id), eq(orders.userId, userId)))
      .get()
    if (!o) throw new NotFound('Order')
    const at = new Date(now)
    const note = `Cancelled: ${body.reason}`

    if (o.status === 'pending' || o.status === 'payment_failed') {
      const done = await this.db
        .update(orders)
        .set({ status: 'cancelled', updatedAt: at })
        .where(and(eq(orders.id, id), inArray(orders.status, ['pending', 'payment_failed'])))
        .returning({ id: orders.id })
        .get()
      if (!done) throw notCancellable('processing')
      await runBatch(this.db, [
        this.db
          .update(orderItems)
          .set({ status: 'cancelled', updatedAt: at })
          .where(and(eq(orderItems.orderId, id), eq(orderItems.status, 'pending'))),
        ...this.deps.purchase.events(id, now, [['cancelled', note]]),
      ])
      return this.get(ctx, id)
    }
    if (o.status !== 'completed' && o.status !== 'partially_completed') throw notCancellable(o.status)
    const since = (o.completedAt ?? o.createdAt).getTime()
    if (now - since > ORDER_CANCEL_WINDOW_MS) {
      throw new Conflict('ORDER_NOT_CANCELLABLE', 'Completed orders can be cancelled for a refund within 24 hours; release the numbers instead (DELETE /api/v1/numbers/{id})', {
        status: o.status,
        completedAt: iso(o.completedAt),
      })
    }

    // 1. The order's live numbers go back upstream. A failure stops here (502); cancelling again resumes.
    const live = await this.db
      .select()
      .from(phoneNumbers)
      .where(and(eq(phoneNumbers.userId, userId), eq(phoneNumbers.orderId, id), ne(phoneNumbers.status, 'released')))
      .all()
    if (live.length) {
      const { failed } = await this.deps.dids.releaseNow(live, now, 'order_cancelled')
      if (failed.length) throw failed[0]!.error
    }
    // 2. The money, once (idempotent by op id).
    const refund = body.refundRequested === false ? 0 : o.charged - o.refunded
    if (refund > 0) {
      const r = await this.deps.wallet.credit(userId, {
        opId: `order_refund_${id}`,
        amount: refund,
        reference: { type: 'order', id },
        description: `Refund of order ${o.orderNumber}`,
      })
      if (!r.ok) throw new AppError(500, 'INTERNAL_ERROR', 'The refund could not be booked; try again', { reason: r.reason })
    }
    // 3. The record.
    await runBatch(this.db, [
      this.db
        .update(orders)
        .set({
          status: 'cancelled',
          updatedAt: at,
          ...(refund > 0 ? { refunded: o.refunded + refund, paymentStatus: 'refunded' as const } : {}),
        })
        .where(and(eq(orders.id, id), inArray(orders.status, ['completed', 'partially_completed']))),
      // The refunded numbers' usage reversals: before the items move on from `success`.
      ...(refund > 0 ? [didRefundMeter(this.db, id, at)] : []),
      this.db
        .update(orderItems)
        .set({ status: refund > 0 ? 'refunded' : 'cancelled', updatedAt: at })
        .where(and(eq(orderItems.orderId, id), eq(orderItems.status, 'success'))),
      this.db
        .insert(orderEvents)
        .values({ id: `oev_cancel_${id}`, orderId: id, status: 'cancelled', message: refund > 0 ? `${note}; ${usd(refund)} refunded to the wallet` : note, createdAt: at })
        .onConflictDoNothing(),
    ])
    return this.get(ctx, id)
  }

  async retryPayment(ctx: RequestContext, id: string, opts: RetryOptions = {}) {
    return this.deps.purchase.retry(ctx, id, opts)
  }
}

function notCancellable(status: Order['status']) {
  const why = status === 'processing' ? 'its purchase is running; try again when it has finished' : status === 'cancelled' ? 'it is already cancelled' : 'nothing was bought and nothing is owed'
  return new Conflict('ORDER_NOT_CANCELLABLE', `The order cannot be cancelled: ${why}`, { status })
}

/**
 * Sweeper step: DID purchases whose upstream answer never came (a timeout or a broken
 * connection). The purchase recorded each such number as PENDING (`order_items.status =
 * 'unconfirmed'`, a `pending` number row), kept the order `processing` and left its hold in place
 * with a provisional outcome covering every unconfirmed number. Here the provider is asked about
 * each number (`DidProvider.lookup`):
 * - bought: the number becomes the customer's (active or pending, as the upstream says), is
 *   charged and announced (NUMBER_PURCHASED);
 * - not bought: its row is released, the inventory row is offered again, its lock let go, and its
 *   price is not charged.
 * Once every unconfirmed number of an order has its answer, one batch writes them, the order's
 * final state and the exact hold outcome; then the hold is captured for exactly that. A hold that
 * expired first was captured by the Wallet for the provisional amount: the difference is credited
 * back (op `reconcile_<hold id>`). An order whose lookups fail is tried again the next minute.
 *
 * Invariants: the batch is guarded by the items still being `unconfirmed`, so a second run (or a
 * concurrent one) writes nothing; money ops are idempotent by op id, so no number is charged twice
 * and none is free.
 */
import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm'
import { insertWhere } from '../../db/insert-where'
import { didInventory, holdOutcomes, orderEvents, orderItems, orders, outbox, phoneNumbers, providers, usageRecords, type OrderItem } from '../../db/schema'
import { newId } from '../../lib/ids'
import { usd } from '../../lib/money'
import type { DidPurchase } from '../../providers/numbers/types'
import type { Services } from '../../services'
import { errorText, insertChunks, runBatch, type Stmt } from '../../db/batch'
import { didPurchaseRows } from '../usage/product-meters'
import { numberPurchasedEvent } from './purchase.statements'
import { logger } from '../../lib/logger'

/** Left to the request that is still running the purchase for this long. */
const CONFIRM_AFTER_MS = 30_000
/** Orders per run. */
const BATCH = 25

type Deps = Pick<Services, 'db' | 'wallet' | 'numberLocks'> & { providers: Pick<Services['providers'], 'adapters'> }

const priceOf = (i: Pick<OrderItem, 'setupPrice' | 'monthlyPrice'>) => i.setupPrice + i.monthlyPrice

const { log } = logger.with({ job: 'sweeper', step: 'confirm-purchases' })

export async function confirmPurchases(deps: Deps, scheduledTime: number) {
  const due = await deps.db
    .selectDistinct({ orderId: orderItems.orderId, updatedAt: orderItems.updatedAt })
    .from(orderItems)
    .where(and(eq(orderItems.status, 'unconfirmed'), lt(orderItems.updatedAt, new Date(scheduledTime - CONFIRM_AFTER_MS)))) // order_items_unconfirmed_idx
    .orderBy(asc(orderItems.updatedAt))
    .limit(BATCH)
    .all()
  const out = { confirmed: 0, released: 0, waiting: 0 }
  for (const orderId of new Set(due.map((d) => d.orderId))) {
    try {
      const r = await confirmOrder(deps, orderId, scheduledTime)
      out.confirmed += r.confirmed
      out.released += r.released
      out.waiting += r.waiting
    } catch (e) {
      log('error', 'confirming an order failed; tried again next run', { orderId, error: errorText(e) })
      out.waiting++
    }
  }
  return out
}

async function confirmOrder(deps: Deps, orderId: string, now: number) {
  const { db } = deps
  const [order] = await db.select().from(orders).where(eq(orders.id, orderId)).limit(1).all()
  const items = await db.select().from(orderItems).where(eq(orderItems.orderId, orderId)).orderBy(asc(orderItems.id)).all()
  const open = items.filter((i) => i.status === 'unconfirmed')
  if (!order || !open.length) return { confirmed: 0, released: 0, waiting: 0 }
  const at = new Date(now)

  // Ask the provider about each number; any lookup that fails leaves the whole order for the next run.
  const provs = await db
    .select()
    .from(providers)
    .where(inArray(providers.id, [...new Set(open.map((i) => i.providerId!))]))
    .all()
  const answers = new Map<string, DidPurchase | null>()
  try {
    for (const item of open) {
      const p = provs.find((x) => x.id === item.providerId)
      const did = p ? deps.providers.adapters(p).did : undefined
      if (!did) throw new Error(`provider ${item.providerId} sells no DIDs`)
      answers.set(item.id, await did.lookup(item.phoneNumber))
    }
  } catch (e) {
    log('warn', 'number lookup failed; asking again next run', { orderId, error: errorText(e) })
    await db
      .update(orderItems)
      .set({ updatedAt: at })
      .where(
        and(
          inArray(
            orderItems.id,
            open.map((i) => i.id),
          ),
          eq(orderItems.status, 'unconfirmed'),
        ),
      )
    return { confirmed: 0, released: 0, waiting: open.length }
  }
  const bought = open.filter((i) => answers.get(i.id))
  const gone = open.filter((i) => !answers.get(i.id))
  const numberRows = await db
    .select()
    .from(phoneNumbers)
    .where(
      inArray(
        phoneNumbers.id,
        open.map((i) => i.phoneNumberId!),
      ),
    )
    .all()
  const numberOf = new Map(numberRows.map((n) => [n.id, n]))

  const succeeded = items.filter((i) => i.status === 'success').concat(bought)
  const charged = succeeded.reduce((s, i) => s + priceOf(i), 0)
  const anyFailed = items.some((i) => i.status === 'failed') || gone.length > 0
  const status = !succeeded.length ? 'failed' : anyFailed ? 'partially_completed' : 'completed'
  // Every statement writes only while this order's numbers are still unconfirmed: one run wins.
  const stillOpen = sql`exists (select 1 from ${orderItems} where ${orderItems.orderId} = ${orderId} and ${orderItems.status} = 'unconfirmed')`

  const stmts: Stmt[] = []
  for (const i of bought) {
    const n = numberOf.get(i.phoneNumberId!)
    const answer = answers.get(i.id)!
    if (n) {
      const live = answer.status === 'active' ? ('active' as const) : ('pending' as const)
      stmts.push(insertWhere(db, outbox, numberPurchasedEvent(order.userId, orderId, { ...n, status: live }, priceOf(i), now), stillOpen))
      stmts.push(
        db
          .update(phoneNumbers)
          .set({ upstreamId: answer.upstreamId, status: live, updatedAt: at })
          .where(and(eq(phoneNumbers.id, n.id), eq(phoneNumbers.status, 'pending'))),
      )
    }
  }
  const meters = didPurchaseRows(
    bought.filter((i) => priceOf(i) > 0).map((i) => ({ userId: order.userId, numberId: i.phoneNumberId!, phoneNumber: i.phoneNumber, amount: priceOf(i), orderId })),
    at,
  )
  for (const rows of insertChunks(usageRecords, meters)) stmts.push(db.insert(usageRecords).values(rows).onConflictDoNothing())
  if (gone.length) {
    const ids = gone.map((i) => i.phoneNumberId!).filter(Boolean)
    if (ids.length) {
      stmts.push(
        db
          .update(phoneNumbers)
          .set({ status: 'released', releasedAt: at, releaseReason: 'purchase_not_confirmed', updatedAt: at })
          .where(and(inArray(phoneNumbers.id, ids), eq(phoneNumbers.status, 'pending'), stillOpen)),
      )
    }
    stmts.push(
      db
        .update(didInventory)
        .set({ status: 'available', updatedAt: at })
        .where(
          and(
            inArray(
              didInventory.phoneNumber,
              gone.map((i) => i.phoneNumber),
            ),
            eq(didInventory.status, 'sold'),
            stillOpen,
          ),
        ),
    )
  }
  stmts.push(
    db
      .update(holdOutcomes)
      .set({ outcome: charged > 0 ? 'capture' : 'void', amount: charged })
      .where(and(eq(holdOutcomes.holdId, order.holdId ?? ''), stillOpen)),
    db
      .update(orders)
      .set({ status, paymentStatus: succeeded.length ? 'paid' : 'refunded', charged, updatedAt: at, completedAt: succeeded.length ? at : null })
      .where(and(eq(orders.id, orderId), eq(orders.status, 'processing'), stillOpen)),
    insertWhere(
      db,
      orderEvents,
      {
        id: newId('oev', now),
        orderId,
        status,
        message:
          `The provider confirmed ${bought.length} of ${open.length} number(s) whose purchase had no answer` +
          (gone.length ? `; ${gone.length} had not been bought and were released` : '') +
          `; ${usd(charged)} charged in all`,
        createdAt: at,
      },
      stillOpen,
    ),
  )
  // The items last: their change is what the guard of every statement above reads.
  for (const i of bought)
    stmts.push(
      db
        .update(orderItems)
        .set({ status: 'success', error: null, updatedAt: at })
        .where(and(eq(orderItems.id, i.id), eq(orderItems.status, 'unconfirmed'))),
    )
  for (const i of gone) {
    stmts.push(
      db
        .update(orderItems)
        .set({ status: 'failed', phoneNumberId: null, error: 'UPSTREAM_ERROR: the provider did not answer, and it had not bought the number; nothing was charged for it', updatedAt: at })
        .where(and(eq(orderItems.id, i.id), eq(orderItems.status, 'unconfirmed'))),
    )
  }
  const results = await runBatch(db, stmts)
  const won = (results.slice(-open.length) as D1Result[]).some((r) => (r.meta?.changes ?? 0) > 0)
  if (!won) return { confirmed: 0, released: 0, waiting: 0 }

  if (order.holdId) await settle(deps, order.userId, order.holdId, charged)
  await Promise.all(
    gone.map((i) =>
      deps.numberLocks
        .of(i.phoneNumber)
        .release(order.userId)
        .catch((e: unknown) => log('warn', 'lock release failed; it stays until released by hand', { phoneNumber: i.phoneNumber, error: errorText(e) })),
    ),
  )
  return { confirmed: bought.length, released: gone.length, waiting: 0 }
}

/**
 * Takes exactly `charged` for the hold. When its expiry came first, the Wallet captured the
 * provisional amount: what it took beyond `charged` is credited back, once.
 */
async function settle(deps: Deps, userId: string, holdId: string, charged: number) {
  const { wallet } = deps
  try {
    const r = charged > 0 ? await wallet.capture(userId, { opId: `capture_${holdId}`, holdId, amount: charged }) : await wallet.void(userId, { opId: `void_${holdId}`, holdId })
    if (r.ok) return
    const hold = await wallet.stub(userId).getHoldById(holdId)
    const over = hold?.status === 'captured' ? hold.capturedAmount - charged : 0
    if (over > 0) {
      const credit = await wallet.credit(userId, {
        opId: `reconcile_${holdId}`,
        amount: over,
        reference: { type: 'hold', id: holdId },
        description: 'Numbers not bought: the price held for them comes back',
      })
      if (!credit.ok) log('error', 'credit-back refused', { holdId, over, reason: credit.reason })
    } else if (hold?.status !== 'captured' || over < 0) {
      log('error', 'hold not settled as confirmed', { holdId, charged, hold: hold ? { status: hold.status, captured: hold.capturedAmount } : null, reason: r.reason })
    }
  } catch (e) {
    // The outcome row now says exactly `charged`: the Wallet's alarm captures that at the hold's expiry.
    log('error', 'wallet unreachable while settling; the hold settles at its expiry', { holdId, error: errorText(e) })
  }
}

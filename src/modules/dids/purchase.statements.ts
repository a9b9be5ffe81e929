/**
 * The D1 side of the purchase flow (purchase.service.ts): the batches that load an order's lines,
 * the statements it writes (order items, timeline rows; the flow runs them, so it decides what is
 * written together), and the result batch with every effect of the upstream results, which
 * `writeResults` writes once (twice when D1's unique index refuses a number).
 */
import { and, eq, gt, inArray, ne } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { errorText, insertChunks, runBatch, type Stmt } from '../../db/batch'
import { didInventory, holdOutcomes, numberReservations, orderEvents, orderItems, orders, outbox, phoneNumbers, providers, usageRecords, type Order } from '../../db/schema'
import { newId } from '../../lib/ids'
import { logger } from '../../lib/logger'
import { fromMicros, usd } from '../../lib/money'
import { newEventId } from '../events/outbox'
import { didPurchaseRows } from '../usage/product-meters'
import { addMonth, failed, linesOf, price, type Line, type NumberRequest, type OrderRef } from './purchase-lines'

/** Inventory rows, their providers and the account's own reservations, in one batch. */
export async function readLines(db: Db, userId: string, requests: NumberRequest[], now: number) {
  const phones = requests.map((r) => r.phoneNumber)
  const [inv, providerRows, own] = await db.batch([
    db.select().from(didInventory).where(inArray(didInventory.phoneNumber, phones)),
    db
      .select()
      .from(providers)
      .where(inArray(providers.id, db.select({ id: didInventory.providerId }).from(didInventory).where(inArray(didInventory.phoneNumber, phones)))),
    db
      .select({ phoneNumber: numberReservations.phoneNumber })
      .from(numberReservations)
      .where(and(eq(numberReservations.userId, userId), inArray(numberReservations.phoneNumber, phones), eq(numberReservations.status, 'active'), gt(numberReservations.expiresAt, new Date(now)))),
  ])
  const lines = linesOf(
    requests.map((req) => ({ req, item: null })),
    inv,
    new Set(own.map((r) => r.phoneNumber)),
  )
  return { lines, providerRows }
}

/** An order's items still pending (a payment retry) as lines, with their inventory rows' providers; one batch. */
export async function readPendingLines(db: Db, userId: string, orderId: string, now: number) {
  const pendingItems = db
    .select({ phoneNumber: orderItems.phoneNumber })
    .from(orderItems)
    .where(and(eq(orderItems.orderId, orderId), eq(orderItems.status, 'pending')))
  const [items, inv, provs, own] = await db.batch([
    db
      .select()
      .from(orderItems)
      .where(and(eq(orderItems.orderId, orderId), eq(orderItems.status, 'pending')))
      .orderBy(orderItems.id),
    db.select().from(didInventory).where(inArray(didInventory.phoneNumber, pendingItems)),
    db
      .select()
      .from(providers)
      .where(inArray(providers.id, db.select({ id: didInventory.providerId }).from(didInventory).where(inArray(didInventory.phoneNumber, pendingItems)))),
    db
      .select({ phoneNumber: numberReservations.phoneNumber })
      .from(numberReservations)
      .where(
        and(eq(numberReservations.userId, userId), inArray(numberReservations.phoneNumber, pendingItems), eq(numberReservations.status, 'active'), gt(numberReservations.expiresAt, new Date(now))),
      ),
  ])
  const lines = linesOf(
    items.map((it) => ({ req: it.request as unknown as NumberRequest, item: it })),
    inv,
    new Set(own.map((r) => r.phoneNumber)),
  )
  return { lines, provs }
}

/**
 * Writes the result batch. When D1's unique index refuses it because a number was bought by
 * another order meanwhile (the same account racing itself), that number becomes FAILED and the
 * batch is written once more; any other failure is thrown.
 */
export async function writeResults(db: Db, userId: string, order: OrderRef, lines: Line[]) {
  const now = Date.now()
  let written: { charged: number; awaiting: number; status: Order['status'] } | null = null
  for (let attempt = 0; !written; attempt++) {
    const final = finalStatements(db, userId, order, lines, now)
    try {
      await runBatch(db, final.stmts)
      written = final
    } catch (e) {
      const bought = lines.filter((l) => l.result?.status !== 'FAILED' && l.reserved)
      const live =
        attempt === 0 && /UNIQUE/i.test(errorText(e)) && bought.length
          ? await db
              .select({ phoneNumber: phoneNumbers.phoneNumber })
              .from(phoneNumbers)
              .where(
                and(
                  inArray(
                    phoneNumbers.phoneNumber,
                    bought.map((l) => l.req.phoneNumber),
                  ),
                  ne(phoneNumbers.status, 'released'),
                ),
              )
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
  return written
}

/** Every effect of the upstream results, as one atomic batch. */
export function finalStatements(db: Db, userId: string, order: OrderRef, lines: Line[], now: number) {
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
  for (const chunk of insertChunks(phoneNumbers, numberRows)) stmts.push(db.insert(phoneNumbers).values(chunk))
  for (const l of bought) {
    stmts.push(
      db
        .update(orderItems)
        .set({ status: l.unconfirmed ? 'unconfirmed' : 'success', phoneNumberId: l.numberId!, error: null, updatedAt: at })
        .where(eq(orderItems.id, l.itemId)),
    )
  }
  stmts.push(...itemFailures(db, failedBuys, now))
  stmts.push(
    db
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
    (unconfirmed.length ? `; ${unconfirmed.length} awaiting confirmation from the provider (no answer in time); ${usd(charged + awaiting)} stays held until then` : `; ${usd(charged)} charged`) +
    (failedBuys.length ? `, ${usd(failedBuys.reduce((s, l) => s + price(l), 0))} released` : '')
  stmts.push(...timeline(db, order.id, now, [[status, note]]))
  if (bought.length) {
    stmts.push(
      db
        .update(didInventory)
        .set({ status: 'sold', updatedAt: at })
        .where(
          inArray(
            didInventory.phoneNumber,
            bought.map((l) => l.req.phoneNumber),
          ),
        ),
    )
    stmts.push(
      db
        .update(numberReservations)
        .set({ status: 'purchased', updatedAt: at })
        .where(
          and(
            eq(numberReservations.userId, userId),
            inArray(
              numberReservations.phoneNumber,
              bought.map((l) => l.req.phoneNumber),
            ),
            eq(numberReservations.status, 'active'),
          ),
        ),
    )
  }
  const gone = failedBuys.filter((l) => l.goneUpstream)
  if (gone.length) {
    // Only an available row: a concurrent order that did buy the number has marked it sold.
    stmts.push(
      db
        .update(didInventory)
        .set({ status: 'gone', updatedAt: at })
        .where(
          and(
            inArray(
              didInventory.phoneNumber,
              gone.map((l) => l.req.phoneNumber),
            ),
            eq(didInventory.status, 'available'),
          ),
        ),
    )
  }
  // While numbers await confirmation the outcome is provisional: at most everything they may
  // cost, so a hold that expires first is captured (never free); the lookup settles the exact amount.
  const outcome = charged + awaiting
  stmts.push(
    db
      .insert(holdOutcomes)
      .values({ holdId: order.holdId, userId, outcome: outcome > 0 ? 'capture' : 'void', amount: outcome, createdAt: at })
      .onConflictDoNothing(),
  )
  // One usage row per charged number, for what this batch captures for it.
  const meters = didPurchaseRows(
    confirmed.filter((l) => price(l) > 0).map((l) => ({ userId, numberId: l.numberId!, phoneNumber: l.req.phoneNumber, amount: price(l), orderId: order.id })),
    at,
  )
  for (const chunk of insertChunks(usageRecords, meters)) stmts.push(db.insert(usageRecords).values(chunk).onConflictDoNothing())
  const events = confirmed.map((l, i) => numberPurchasedEvent(userId, order.id, numberRows[bought.indexOf(l)]!, price(l), now + i))
  for (const chunk of insertChunks(outbox, events)) stmts.push(db.insert(outbox).values(chunk))
  return { stmts, charged, awaiting, status }
}

export function itemInserts(db: Db, orderId: string, userId: string, lines: Line[], now: number): Stmt[] {
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
  return insertChunks(orderItems, rows).map((chunk) => db.insert(orderItems).values(chunk))
}

export function itemFailures(db: Db, lines: Line[], now: number): Stmt[] {
  return lines.map((l) =>
    db
      .update(orderItems)
      .set({ status: 'failed', error: `${l.result?.error ?? 'FAILED'}: ${l.result?.message ?? ''}`, updatedAt: new Date(now) })
      .where(eq(orderItems.id, l.itemId)),
  )
}

/** Timeline rows; ids carry increasing times so that rows of one instant keep their order. */
export function timeline(db: Db, orderId: string, now: number, entries: [string, string][]): Stmt[] {
  if (!entries.length) return []
  const rows = entries.map(([status, message], i) => ({ id: newId('oev', now + i), orderId, status, message, createdAt: new Date(now) }))
  return [db.insert(orderEvents).values(rows)]
}

/** The NUMBER_PURCHASED outbox row of a bought number. */
export function numberPurchasedEvent(userId: string, orderId: string, n: Pick<typeof phoneNumbers.$inferSelect, 'id' | 'phoneNumber' | 'numberType' | 'status'>, cost: number, at: number) {
  return {
    id: newEventId(at),
    type: 'NUMBER_PURCHASED',
    userId,
    payload: { numberId: n.id, phoneNumber: n.phoneNumber, numberType: n.numberType, status: n.status, orderId, cost: fromMicros(cost), currency: 'USD' },
    createdAt: new Date(at),
    sentAt: null,
  }
}

/**
 * Usage rows written by product flows, as statements for the flow's own `db.batch`: a row
 * exists exactly when the change that caused it does.
 *
 * Invariants:
 * - Only money actually taken or given back is metered. A purchase row carries the price that
 *   was charged (`prepaid`: it was paid from the wallet); a refund writes the reversal row
 *   (quantity −1, cost −price) only when the flow's own state says the money comes back.
 * - Every row has a natural `transactionId` (unique per account) and is inserted with
 *   ON CONFLICT DO NOTHING, so a retried or concurrent flow meters once:
 *     activation:<id>            the purchase       activation:<id>:refund     its refund
 *     activation:<id>:recharge   a late SMS charged again after the refund
 *     did_purchase:<numberId>    a DID bought       did_purchase:<numberId>:refund  its refund
 * - Rows derived from other tables (refunds) are INSERT … SELECT, so the condition (billing is
 *   `refund_pending`, the item was `success`) is read inside the same atomic batch.
 */
import { and, eq, isNotNull, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { insertWhere } from '../../db/insert-where'
import { activations, orderItems, usageRecords, type Activation, type UsageType } from '../../db/schema'
import { newId } from '../../lib/ids'
import { usd } from '../../lib/money'
import { monthOf } from '../../lib/periods'

/** The unit each kind of usage is counted in. */
export const UNITS: Record<UsageType, string> = {
  call_minutes: 'minute',
  sms: 'message',
  api_calls: 'request',
  activation: 'activation',
  did_purchase: 'number',
  did_monthly: 'month',
  subscription_proration: 'subscription',
  sim_data_topup: 'MiB',
  sim_sms_topup: 'SMS',
  message: 'message',
}

/** A fresh `usg_…` id computed by SQLite, for rows inserted by INSERT … SELECT. */
const sqlId = () => sql<string>`'usg_' || lower(hex(randomblob(13)))`

// ---- activations (the activation API) -----------------------------------------------------

type ActivationLike = Pick<Activation, 'id' | 'userId' | 'price' | 'phone' | 'serviceCode' | 'countryCode'>

/**
 * One activation usage row: +1 (charged) or −1 (reversed) at its price, under its own transaction
 * id; with `guard`, only when the guard holds as the statement runs (insert-where.ts).
 */
function activationMeter(db: Db, a: ActivationLike, at: Date, row: { sign: 1 | -1; suffix: string; description: string }, guard?: SQL) {
  const values = activationUsage(a, at, row)
  return (guard ? insertWhere(db, usageRecords, values, guard) : db.insert(usageRecords).values(values)).onConflictDoNothing()
}

/** The values of one activation usage row (activationMeter). */
function activationUsage(a: ActivationLike, at: Date, row: { sign: 1 | -1; suffix: string; description: string }) {
  return {
    id: newId('usg', at.getTime()),
    userId: a.userId,
    resourceType: 'activation' as const,
    resourceId: a.id,
    quantity: row.sign,
    unit: UNITS.activation,
    unitPrice: a.price,
    totalCost: row.sign * a.price,
    currency: 'USD',
    prepaid: true,
    description: row.description,
    month: monthOf(at),
    occurredAt: at,
    transactionId: `activation:${a.id}${row.suffix}`,
    reportId: null,
    createdAt: at,
    updatedAt: at,
  }
}

const purchaseRow = (a: ActivationLike) => ({ sign: 1 as const, suffix: '', description: `Activation number ${a.phone} (${a.serviceCode}, ${a.countryCode.toUpperCase()})` })

/**
 * The purchase of an activation: quantity 1 at the price charged — the values of its row, which
 * the purchase inserts in the batch that records it, under that batch's guard (a prebuilt
 * statement: activation-purchase.ts).
 */
export function activationPurchaseUsage(a: ActivationLike, at: Date) {
  return activationUsage(a, at, purchaseRow(a))
}

export type ActivationUsageRow = ReturnType<typeof activationPurchaseUsage>

/** An SMS's price collected after a refund (or a purchase charge collected late). Only when the charge went through. */
export function activationRechargeMeter(db: Db, a: ActivationLike, at: Date) {
  return activationMeter(db, a, at, { sign: 1, suffix: ':recharge', description: `SMS after refund: number ${a.phone} charged again` })
}

/**
 * The reversal (quantity −1, cost −price) of every activation matched by `where` whose billing is
 * `refund_pending` (the refund is owed): put it in the batch right after the statement that moves
 * them to cancelled/expired.
 * `reason` goes into the description.
 */
export function activationRefundMeter(db: Db, where: SQL, at: Date, reason: string) {
  const ms = at.getTime()
  return db
    .insert(usageRecords)
    .select(
      db
        .select({
          id: sqlId().as('id'),
          userId: activations.userId,
          resourceType: sql<UsageType>`'activation'`.as('resourceType'),
          resourceId: activations.id,
          quantity: sql<number>`-1`.as('quantity'),
          unit: sql<string>`${UNITS.activation}`.as('unit'),
          unitPrice: activations.price,
          totalCost: sql<number>`-${activations.price}`.as('totalCost'),
          currency: sql<string>`'USD'`.as('currency'),
          prepaid: sql<boolean>`1`.as('prepaid'),
          description: sql<string>`${`Refund (${reason}): number `} || ${activations.phone}`.as('description'),
          month: sql<string>`${monthOf(at)}`.as('month'),
          occurredAt: sql<Date>`${ms}`.as('occurredAt'),
          transactionId: sql<string>`'activation:' || ${activations.id} || ':refund'`.as('transactionId'),
          reportId: sql<string | null>`null`.as('reportId'),
          createdAt: sql<Date>`${ms}`.as('createdAt'),
          updatedAt: sql<Date>`${ms}`.as('updatedAt'),
        })
        .from(activations)
        .where(and(where, eq(activations.billing, 'refund_pending'))),
    )
    .onConflictDoNothing()
}

/**
 * An activation whose price could not be taken at all (its hold was voided and the direct charge
 * failed: `unbilled`): the purchase row is reversed, since no money moved.
 */
export function activationUnbilledMeter(db: Db, a: ActivationLike, at: Date) {
  return activationMeter(db, a, at, { sign: -1, suffix: ':refund', description: `Not charged: number ${a.phone} could not be paid` })
}

// ---- DIDs (the DID API) -------------------------------------------------------------------

export interface DidCharge {
  userId: string
  numberId: string
  phoneNumber: string
  /** Micro-units charged for the number by its order: setup + first month. */
  amount: number
  orderId: string
}

/** One `did_purchase` row per charged number (prepaid, amount = what was captured for it). */
export function didPurchaseRows(charges: DidCharge[], at: Date): (typeof usageRecords.$inferInsert)[] {
  return charges.map((ch, i) => ({
    id: newId('usg', at.getTime() + i),
    userId: ch.userId,
    resourceType: 'did_purchase' as const,
    resourceId: ch.numberId,
    quantity: 1,
    unit: UNITS.did_purchase,
    unitPrice: ch.amount,
    totalCost: ch.amount,
    currency: 'USD',
    prepaid: true,
    description: `Phone number ${ch.phoneNumber} (order ${ch.orderId}): ${usd(ch.amount)} setup and first month`,
    month: monthOf(at),
    occurredAt: at,
    transactionId: `did_purchase:${ch.numberId}`,
    reportId: null,
    createdAt: at,
    updatedAt: at,
  }))
}

/**
 * The reversal of each `success` item of order `orderId` (its number's setup + first month come
 * back). Put it in the cancel batch BEFORE the statement that moves the items on.
 */
export function didRefundMeter(db: Db, orderId: string, at: Date) {
  const ms = at.getTime()
  const amount = sql<number>`(${orderItems.setupPrice} + ${orderItems.monthlyPrice})`
  return db
    .insert(usageRecords)
    .select(
      db
        .select({
          id: sqlId().as('id'),
          userId: orderItems.userId,
          resourceType: sql<UsageType>`'did_purchase'`.as('resourceType'),
          resourceId: orderItems.phoneNumberId,
          quantity: sql<number>`-1`.as('quantity'),
          unit: sql<string>`${UNITS.did_purchase}`.as('unit'),
          unitPrice: sql<number>`${amount}`.as('unitPrice'),
          totalCost: sql<number>`-${amount}`.as('totalCost'),
          currency: sql<string>`'USD'`.as('currency'),
          prepaid: sql<boolean>`1`.as('prepaid'),
          description: sql<string>`'Refund (order cancelled): phone number ' || ${orderItems.phoneNumber}`.as('description'),
          month: sql<string>`${monthOf(at)}`.as('month'),
          occurredAt: sql<Date>`${ms}`.as('occurredAt'),
          transactionId: sql<string>`'did_purchase:' || ${orderItems.phoneNumberId} || ':refund'`.as('transactionId'),
          reportId: sql<string | null>`null`.as('reportId'),
          createdAt: sql<Date>`${ms}`.as('createdAt'),
          updatedAt: sql<Date>`${ms}`.as('updatedAt'),
        })
        .from(orderItems)
        .where(and(eq(orderItems.orderId, orderId), eq(orderItems.status, 'success'), isNotNull(orderItems.phoneNumberId))),
    )
    .onConflictDoNothing()
}

// ---- SIM top-ups (the SIM API) ---------------------------------------------------------------

export interface SimTopUpCharge {
  /** The top-up's operation id (sim_topups.id). */
  id: string
  userId: string
  iccid: string
  quotaType: 'data' | 'sms'
  /** Bytes or messages added. */
  volume: number
  /** Micro-units charged. */
  amount: number
}

const MiB = 1_048_576

/**
 * One prepaid row per charged top-up: `sim_data_topup` counts started MiB, `sim_sms_topup`
 * messages; the cost is what the wallet paid. Transaction id `sim_topup:<id>`.
 */
export function simTopUpRows(charges: SimTopUpCharge[], at: Date): (typeof usageRecords.$inferInsert)[] {
  return charges.map((ch, i) => {
    const data = ch.quotaType === 'data'
    const quantity = data ? Math.ceil(ch.volume / MiB) : ch.volume
    return {
      id: newId('usg', at.getTime() + i),
      userId: ch.userId,
      resourceType: data ? ('sim_data_topup' as const) : ('sim_sms_topup' as const),
      resourceId: ch.iccid,
      quantity,
      unit: data ? UNITS.sim_data_topup : UNITS.sim_sms_topup,
      unitPrice: quantity > 0 ? Math.round(ch.amount / quantity) : 0,
      totalCost: ch.amount,
      currency: 'USD',
      prepaid: true,
      description: data ? `SIM ${ch.iccid}: ${quantity} MiB data top-up` : `SIM ${ch.iccid}: ${quantity} SMS top-up`,
      month: monthOf(at),
      occurredAt: at,
      transactionId: `sim_topup:${ch.id}`,
      reportId: null,
      createdAt: at,
      updatedAt: at,
    }
  })
}

// ---- messages (the messaging API) ---------------------------------------------------------

/**
 * One prepaid row per charged message (the connector accepted it): quantity 1 at the channel's
 * price. Transaction id `message:<id>`.
 */
export function messageUsageRow(m: { id: string; userId: string; connectorType: string; price: number }, at: Date): typeof usageRecords.$inferInsert {
  return {
    id: newId('usg', at.getTime()),
    userId: m.userId,
    resourceType: 'message',
    resourceId: m.id,
    quantity: 1,
    unit: UNITS.message,
    unitPrice: m.price,
    totalCost: m.price,
    currency: 'USD',
    prepaid: true,
    description: `Message ${m.id} (${m.connectorType})`,
    month: monthOf(at),
    occurredAt: at,
    transactionId: `message:${m.id}`,
    reportId: null,
    createdAt: at,
    updatedAt: at,
  }
}

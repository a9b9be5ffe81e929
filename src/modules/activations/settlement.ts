/**
 * An activation's money after its purchase: the refund of a cancelled or expired number, and the
 * charge of an SMS that arrived on a number whose price is not (or no longer) collected.
 *
 * Invariants:
 * - A refund is a durable state. Cancel and expiry move `billing` from `captured` to
 *   `refund_pending` in their own D1 batch; the credit (op `refund_<id>`) follows, and only then
 *   `refunded`. Whoever finishes it — the request, the expiry run, the sweeper however much later,
 *   a late SMS — issues the same op, so the refund happens exactly once.
 * - Never free and never lost: an SMS on an activation that is not `captured` is stored withheld
 *   (no code, no text, no `sms.received`) and shown only once its price is collected. The price is
 *   one charge per reason, each with its own op id, so no retry charges twice: `charge_<id>` when the
 *   purchase's own charge was never taken (`unbilled`), `late_<id>` after a refund (the refund is
 *   re-issued first: charging for a refund that never happened would charge twice).
 * - Revealing is one D1 batch guarded by `billing = 'captured'`: the SMS rows, their events and the
 *   meter row appear together, and never for an activation whose money was given back meanwhile.
 */
import { and, asc, eq, gt, inArray, ne, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { insertWhere } from '../../db/insert-where'
import { activations, outbox, smsMessages, type Activation } from '../../db/schema'
import { newEventId } from '../events/outbox'
import { activationRechargeMeter } from '../usage/product-meters'
import type { WalletService } from '../wallet/wallet.service'
import { logger } from '../../lib/logger'

export type Billing = Activation['billing']

/** How long after an SMS arrived the sweeper keeps trying to collect its price. */
export const LATE_CHARGE_WINDOW_MS = 72 * 3_600_000
/** Activations per sweeper run, for each of the two steps. */
const SWEEP_BATCH = 100

export interface SettlementDeps {
  db: Db
  wallet: Pick<WalletService, 'credit' | 'debit'>
}

type Owed = Pick<Activation, 'id' | 'userId' | 'price' | 'phone' | 'serviceCode' | 'countryCode' | 'billing'>

const { log } = logger.with({ module: 'activations' })

/** What the API shows: `recharge_due` is, to the customer, an unbilled number like any other. */
export function billingView(b: Billing): 'captured' | 'refund_pending' | 'refunded' | 'unbilled' {
  return b === 'recharge_due' ? 'unbilled' : b
}

/** SET value for cancel/expiry: captured money becomes owed back; any other state stays as it is. */
export const refundIfCaptured = sql<Billing>`CASE WHEN ${activations.billing} = 'captured' THEN 'refund_pending' ELSE ${activations.billing} END`

/**
 * The credit of an activation's price (op `refund_<id>`). `replayed` when it had been made
 * before; `failed` when the wallet refused or could not be reached (nothing moved, or the op id
 * makes the next try a replay).
 */
export async function refund(wallet: SettlementDeps['wallet'], a: Pick<Activation, 'id' | 'userId' | 'price' | 'phone'>): Promise<'credited' | 'replayed' | 'failed'> {
  try {
    const r = await wallet.credit(a.userId, {
      opId: `refund_${a.id}`,
      amount: a.price,
      reference: { type: 'activation', id: a.id },
      description: `Refund: number ${a.phone}`,
    })
    if (!r.ok) {
      log('error', 'refund refused', { activationId: a.id, reason: r.reason })
      return 'failed'
    }
    return r.replayed ? 'replayed' : 'credited'
  } catch (e) {
    log('warn', 'refund failed; the sweeper finishes it', { activationId: a.id, error: (e as Error).message })
    return 'failed'
  }
}

/** Credits the refunds of `owed` (all `refund_pending`) and marks those that went through `refunded`. */
export async function finishRefunds(deps: SettlementDeps, owed: Owed[], now: number): Promise<{ credited: number; done: string[] }> {
  let credited = 0
  const done: string[] = []
  for (const a of owed) {
    const r = await refund(deps.wallet, a)
    if (r === 'failed') continue
    if (r === 'credited') credited++
    done.push(a.id)
  }
  if (done.length) {
    await deps.db
      .update(activations)
      .set({ billing: 'refunded', updatedAt: new Date(now) })
      .where(and(inArray(activations.id, done), eq(activations.billing, 'refund_pending')))
  }
  return { credited, done }
}

/**
 * Sweeper step: every `refund_pending` activation, however old, gets its credit again — the
 * oldest first; one that still fails moves to the back (its updated_at), so none holds up the rest.
 */
export async function sweepPendingRefunds(deps: SettlementDeps, now: number) {
  const { db } = deps
  const owed = await db
    .select()
    .from(activations)
    .where(eq(activations.billing, 'refund_pending')) // activations_refund_pending_idx
    .orderBy(asc(activations.updatedAt))
    .limit(SWEEP_BATCH)
    .all()
  if (!owed.length) return { refunded: 0, pending: 0 }
  const { credited, done } = await finishRefunds(deps, owed, now)
  const left = owed.filter((a) => !done.includes(a.id)).map((a) => a.id)
  if (left.length) {
    await db
      .update(activations)
      .set({ updatedAt: new Date(now) })
      .where(and(inArray(activations.id, left), eq(activations.billing, 'refund_pending')))
  }
  return { refunded: credited, pending: left.length }
}

/**
 * Collects the price an SMS on `activationId` owes, and shows its withheld SMS once it is paid.
 * Returns the billing state after the attempt. Safe to run concurrently and repeatedly.
 */
export async function collect(deps: SettlementDeps, activationId: string, now = Date.now()): Promise<Billing> {
  // Another writer (a cancel finishing its refund, a concurrent collect) may move the state between
  // our read and our write; the ops are idempotent, so reading again and retrying is safe.
  for (let attempt = 0; ; attempt++) {
    const r = await collectOnce(deps, activationId, now)
    if (r.written || attempt === 2) return r.billing
  }
}

async function collectOnce(deps: SettlementDeps, activationId: string, now: number): Promise<{ billing: Billing; written: boolean }> {
  const { db } = deps
  const a = await db.select().from(activations).where(eq(activations.id, activationId)).get()
  if (!a) return { billing: 'captured', written: true }
  const billing = a.billing === 'captured' ? 'captured' : await charge(deps, a)
  const withheld =
    billing === 'captured'
      ? await db
          .select()
          .from(smsMessages)
          .where(and(eq(smsMessages.activationId, a.id), sql`+${smsMessages.userId} = ${a.userId}`, eq(smsMessages.withheld, true)))
          .orderBy(asc(smsMessages.receivedAt), asc(smsMessages.id))
          .all()
      : []
  if (billing === a.billing && !withheld.length) return { billing, written: true }
  const at = new Date(now)
  const paid = sql`(select ${activations.billing} from ${activations} where ${activations.id} = ${a.id}) = 'captured'`
  const [changed] = await db.batch([
    db
      .update(activations)
      .set({ billing, updatedAt: at })
      .where(and(eq(activations.id, a.id), eq(activations.billing, a.billing)))
      .returning({ id: activations.id }),
    ...(billing === 'captured' && a.billing !== 'captured' ? [activationRechargeMeter(db, a, at)] : []),
    // Each SMS's event iff this batch is the one that shows it.
    ...withheld.map((s) =>
      insertWhere(
        db,
        outbox,
        { id: newEventId(now), type: 'sms.received', userId: a.userId, payload: smsEvent(a, s), createdAt: at },
        and(paid, sql`exists (select 1 from ${smsMessages} where ${smsMessages.id} = ${s.id} and ${smsMessages.withheld} = 1)`)!,
      ),
    ),
    db
      .update(smsMessages)
      .set({ withheld: false })
      .where(and(eq(smsMessages.activationId, a.id), eq(smsMessages.withheld, true), paid)),
  ])
  return { billing, written: changed.length > 0 }
}

/**
 * One attempt at the money an activation owes: the refund first when one is owed or was made,
 * then the charge. The state it ends in: `captured` (paid), `recharge_due` / `unbilled` (the wallet
 * refused), or the state it had when the wallet could not be reached (the same ops are retried).
 */
async function charge(deps: SettlementDeps, a: Activation): Promise<Billing> {
  let after: Billing = a.billing
  if (a.billing === 'refund_pending' || a.billing === 'refunded') {
    if ((await refund(deps.wallet, a)) === 'failed') return a.billing
    after = 'refunded'
  }
  const opId = a.billing === 'unbilled' ? `charge_${a.id}` : `late_${a.id}`
  try {
    const r = await deps.wallet.debit(a.userId, {
      opId,
      amount: a.price,
      reference: { type: 'activation', id: a.id },
      description: a.billing === 'unbilled' ? `Number ${a.phone}` : `SMS after refund: number ${a.phone}`,
    })
    return r.ok ? 'captured' : after === 'refunded' ? 'recharge_due' : after
  } catch (e) {
    log('warn', 'SMS charge failed; the sweeper tries again', { activationId: a.id, error: (e as Error).message })
    return after
  }
}

/**
 * Sweeper step: activations with an SMS withheld in the last LATE_CHARGE_WINDOW_MS get their charge
 * tried again (the account may have money now); least recently tried first.
 */
export async function sweepWithheldSms(deps: SettlementDeps, now: number) {
  const { db } = deps
  const due = await db
    .selectDistinct({ id: activations.id, updatedAt: activations.updatedAt })
    .from(smsMessages)
    .innerJoin(activations, eq(activations.id, smsMessages.activationId))
    .where(and(eq(smsMessages.withheld, true), gt(smsMessages.createdAt, new Date(now - LATE_CHARGE_WINDOW_MS)), ne(activations.billing, 'captured')))
    .orderBy(asc(activations.updatedAt))
    .limit(SWEEP_BATCH)
    .all()
  let collected = 0
  const waiting: string[] = []
  for (const { id } of due) {
    if ((await collect(deps, id, now)) === 'captured') collected++
    else waiting.push(id)
  }
  // Tried: to the back of the line.
  if (waiting.length)
    await db
      .update(activations)
      .set({ updatedAt: new Date(now) })
      .where(and(inArray(activations.id, waiting), ne(activations.billing, 'captured')))
  return { collected, waiting: waiting.length }
}

/** The `sms.received` payload of an activation's SMS. */
export function smsEvent(a: Pick<Activation, 'id' | 'phone'>, s: { code: string | null; text: string; sender: string | null; receivedAt: Date }) {
  return { numberId: a.id, phone: a.phone, code: s.code, text: s.text, sender: s.sender, receivedAt: s.receivedAt.toISOString() }
}

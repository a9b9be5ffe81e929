/**
 * SIM quota top-ups, paid from the wallet: one engine for a single top-up (POST …/{iccid}/topup),
 * a chunk of a bulk job (bulk-topup.job.ts) and an auto top-up (auto-top-up.ts).
 *
 * A run takes items that each carry their operation id (`sim_topups.id`) and goes:
 *   record every item `pending` (insert-or-ignore by id) → hold the price of the pending ones
 *   (what the wallet can pay, in order, when it cannot pay all) → the upstream tops up the held
 *   ones (one call, a reference per item) → one D1 batch: each item `succeeded` (quota grown, usage
 *   row, event) or `failed` (its reason), and the hold's outcome → capture what succeeded.
 *
 * Invariants:
 * - Money: a SIM is charged exactly when its top-up succeeded, once. The operation id fixes the
 *   wallet operations (`<base>:hold`, `<hold>:capture`) and the upstream reference, so a retried
 *   request, a redelivered job message or an overlapping auto top-up replays instead of charging or
 *   topping up again. An item already `succeeded`/`failed` is never run again.
 * - Only the run that moves an item from `pending` grows its quota and sets its hold; a hold
 *   captures the sum of the items that succeeded under it (summed in D1 after the batch), so two
 *   runs of the same items at once grow and charge once. The hold's outcome row (`hold_outcomes`,
 *   `capture` with that sum) is written in the batch that records the successes: if the Worker dies
 *   before the capture, the wallet captures exactly that at the hold's expiry; if it dies before
 *   the batch, the hold is voided.
 * - The ledger shows one capture per run (the sum of its successes) with the run's reference; each
 *   success is also a prepaid usage row (`sim_topup:<id>`), so it appears on the monthly invoice.
 */
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import { insertChunks, runBatch, type Stmt } from '../../db/batch'
import { holdOutcomes, simQuotas, simTopups, usageRecords, type QuotaType, type Sim, type SimTopup } from '../../db/schema'
import { AppError } from '../../lib/errors'
import { logger } from '../../lib/logger'
import { usd } from '../../lib/money'
import type { SimProvider, SimTopUpOutcome } from '../../providers/sims/types'
import { SIM_TOPUP_RATES } from '../subscriptions/plans'
import { simTopUpRows } from '../usage/product-meters'
import type { WalletService } from '../wallet/wallet.service'
import { simEventStatements } from './sim-events'

const { log } = logger.with({ module: 'sims' })

/** A run's hold outlives its upstream call; at expiry the wallet settles it from the outcome row. */
export const TOPUP_HOLD_TTL_MS = 5 * 60_000

const MiB = 1_048_576

/** The price of a top-up in micro-units: data per started MiB, SMS per message (plans.ts). */
export function topUpPrice(type: QuotaType, volume: number): number {
  return type === 'data' ? Math.ceil(volume / MiB) * SIM_TOPUP_RATES.dataPerMiB : volume * SIM_TOPUP_RATES.sms
}

export interface TopUpItem {
  /** The operation id: `sim_topups.id`. */
  id: string
  /** The account's SIM, or null when the item named none (then `error` says why). */
  sim: Sim | null
  /** The ICCID as stored (19 digits), or as the client sent it when it is not one. */
  iccid: string
  quotaType: QuotaType
  volume: number
  source: SimTopup['source']
  jobId?: string
  jobIndex?: number
  /** Known before any money moves (invalid ICCID, not the account's SIM): recorded as failed. */
  error?: { code: string; message: string }
}

export type WalletPort = Pick<WalletService, 'hold' | 'capture' | 'debit' | 'stub'>

export interface TopUpDeps {
  db: Db
  wallet: WalletPort
  adapterOf: (sim: Sim) => Promise<{ adapter: SimProvider }>
  now?: () => number
}

export class SimTopUps {
  private readonly now: () => number

  constructor(private readonly deps: TopUpDeps) {
    this.now = deps.now ?? Date.now
  }

  /**
   * Runs the items under one hold whose operation ids start with `opBase`; answers every item's
   * row as it ends (succeeded or failed; pending only when the final batch could not be written).
   */
  async run(userId: string, items: TopUpItem[], opBase: string): Promise<SimTopup[]> {
    const { db } = this.deps
    if (!items.length) return []
    const at = new Date(this.now())
    await runBatch(
      db,
      insertChunks(
        simTopups,
        items.map((it) => rowOf(userId, it, at)),
      ).map((rows) => db.insert(simTopups).values(rows).onConflictDoNothing()),
    )
    let rows = await this.rows(items.map((it) => it.id))
    const pending = items.filter((it) => it.sim && rows.get(it.id)?.status === 'pending')

    if (pending.length) {
      await this.topUp(userId, pending, rows, opBase)
      rows = await this.rows(items.map((it) => it.id))
    } else {
      // Everything ended in an earlier run: make sure its capture happened (a replay moves nothing).
      await this.capture(userId, [...rows.values()])
    }
    return items.map((it) => rows.get(it.id)!).filter(Boolean)
  }

  private async topUp(userId: string, pending: TopUpItem[], rows: Map<string, SimTopup>, opBase: string): Promise<void> {
    const { db, wallet } = this.deps
    const amountOf = (it: TopUpItem) => rows.get(it.id)!.amount
    const total = pending.reduce((s, it) => s + amountOf(it), 0)
    const reference = { type: 'sim_topup', id: opBase }
    const description = pending.length === 1 ? `SIM ${pending[0]!.iccid}: ${pending[0]!.quotaType} top-up` : `SIM top-ups (${pending.length} SIMs)`

    // Hold what can be paid: all, else the longest prefix the wallet covers.
    let held = pending
    let hold = await wallet.hold(userId, { opId: `${opBase}:hold`, amount: total, ttlMs: TOPUP_HOLD_TTL_MS, reference, description })
    let holdId = `${opBase}:hold`
    if (!hold.ok && hold.reason === 'INSUFFICIENT_BALANCE') {
      let sum = 0
      held = []
      for (const it of pending) {
        if (sum + amountOf(it) > (hold.available ?? 0)) break
        sum += amountOf(it)
        held.push(it)
      }
      if (held.length) {
        holdId = `${opBase}:hold-part`
        hold = await wallet.hold(userId, { opId: holdId, amount: sum, ttlMs: TOPUP_HOLD_TTL_MS, reference, description })
        if (!hold.ok) held = []
      }
    } else if (!hold.ok) {
      throw new AppError(500, 'INTERNAL_ERROR', 'The payment could not be reserved', { reason: hold.reason })
    }
    if (hold.ok && hold.replayed) {
      // A rerun: the earlier run's hold must still be active to be captured.
      const current = await wallet.stub(userId).getHoldById(holdId)
      if (current?.status !== 'active') {
        holdId = `${opBase}:hold-${this.now()}`
        const fresh = await wallet.hold(userId, { opId: holdId, amount: held.reduce((s, it) => s + amountOf(it), 0), ttlMs: TOPUP_HOLD_TTL_MS, reference, description })
        if (!fresh.ok) held = []
      }
    }
    const heldIds = new Set(held.map((it) => it.id))
    const unpaid = pending.filter((it) => !heldIds.has(it.id))

    const outcomes = held.length ? await this.callUpstream(held) : new Map<string, SimTopUpOutcome>()
    const at = new Date(this.now())
    const succeeded = held.filter((it) => outcomes.get(it.id)?.ok)
    const stmts: Stmt[] = []
    for (const it of succeeded) stmts.push(...this.successStatements(it, holdId, at))
    for (const it of held) {
      const o = outcomes.get(it.id)
      if (o && !o.ok) stmts.push(failStatement(db, it.id, o.code, o.message, at))
    }
    for (const it of unpaid) {
      stmts.push(failStatement(db, it.id, 'INSUFFICIENT_BALANCE', `Not enough funds for this top-up (${usd(amountOf(it))})`, at))
    }
    if (succeeded.length) {
      const usage = simTopUpRows(
        succeeded.map((it) => ({ id: it.id, userId, iccid: it.iccid, quotaType: it.quotaType, volume: it.volume, amount: amountOf(it) })),
        at,
      )
      for (const part of insertChunks(usageRecords, usage)) stmts.push(db.insert(usageRecords).values(part).onConflictDoNothing())
      // The hold's outcome is what this hold's rows ended with, summed inside the batch: a concurrent
      // run of the same items whose batch went first leaves this hold nothing to capture.
      stmts.push(
        db
          .insert(holdOutcomes)
          .select(
            db
              .select({
                holdId: sql<string>`${holdId}`.as('hold_id'),
                userId: sql<string>`${userId}`.as('user_id'),
                outcome: sql<'capture'>`'capture'`.as('outcome'),
                amount: sql<number>`coalesce(sum(${simTopups.amount}), 0)`.as('amount'),
                createdAt: sql<Date>`${at.getTime()}`.as('created_at'),
              })
              .from(simTopups)
              .where(and(eq(simTopups.holdId, holdId), eq(simTopups.status, 'succeeded')))
              .having(sql`count(*) > 0`),
          )
          .onConflictDoNothing(),
      )
    }
    await runBatch(db, stmts)
    if (held.length) await this.settle(userId, holdId, await this.heldAmount(holdId))
  }

  /** What the rows of `holdId` that succeeded cost: what its capture takes. */
  private async heldAmount(holdId: string): Promise<number> {
    const r = await this.deps.db
      .select({ amount: sql<number>`coalesce(sum(${simTopups.amount}), 0)` })
      .from(simTopups)
      .where(and(eq(simTopups.holdId, holdId), eq(simTopups.status, 'succeeded')))
      .get()
    return Number(r?.amount ?? 0)
  }

  /** The upstream tops up the held items (grouped by provider); a failed call fails its items. */
  private async callUpstream(items: TopUpItem[]): Promise<Map<string, SimTopUpOutcome>> {
    const out = new Map<string, SimTopUpOutcome>()
    const byProvider = new Map<string, TopUpItem[]>()
    for (const it of items) {
      const key = it.sim!.providerId
      byProvider.set(key, [...(byProvider.get(key) ?? []), it])
    }
    for (const group of byProvider.values()) {
      try {
        const { adapter } = await this.deps.adapterOf(group[0]!.sim!)
        const answers = await adapter.topUp(group.map((it) => ({ iccid: it.sim!.iccid, quotaType: it.quotaType, volume: it.volume, reference: it.id })))
        for (const a of answers) out.set(a.reference, a)
        for (const it of group) if (!out.has(it.id)) out.set(it.id, { reference: it.id, ok: false, code: 'UPSTREAM_ERROR', message: 'The provider did not answer for this SIM' })
      } catch (e) {
        const message = e instanceof AppError ? e.message : 'The provider failed'
        log('warn', 'sims: top-up call failed', { items: group.length, error: (e as Error).message })
        for (const it of group) out.set(it.id, { reference: it.id, ok: false, code: 'UPSTREAM_ERROR', message })
      }
    }
    return out
  }

  /** The quota grows by the volume (our own count; the next reading brings the upstream's), the row records the result. */
  private successStatements(it: TopUpItem, holdId: string, at: Date): Stmt[] {
    const { db } = this.deps
    const sim = it.sim!
    const q = and(eq(simQuotas.simId, sim.id), eq(simQuotas.quotaType, it.quotaType))
    const newVolume = sql`${simQuotas.volume} + ${it.volume}`
    const mark = sql`((${simQuotas.volume} + ${it.volume}) * ${simQuotas.thresholdPercentage} / 100)`
    // Only the run that moves the row from pending grows the quota (a concurrent run of the same item does nothing).
    const stillPending = sql`exists (select 1 from ${simTopups} where ${simTopups.id} = ${it.id} and ${simTopups.status} = 'pending')`
    return [
      db
        .update(simQuotas)
        .set({
          volume: newVolume,
          lastVolumeAdded: it.volume,
          lastStatusChangeDate: sql`case when ${simQuotas.usedVolume} >= ${simQuotas.volume} then ${at.getTime()} else ${simQuotas.lastStatusChangeDate} end`,
          status: sql`case when ${simQuotas.usedVolume} < ${newVolume} then 'Active' else ${simQuotas.status} end`,
          depleted: sql`${simQuotas.usedVolume} >= ${newVolume}`,
          thresholdReached: sql`${simQuotas.usedVolume} >= ${mark}`,
          autoArmed: sql`case when ${simQuotas.usedVolume} < ${mark} then 1 else ${simQuotas.autoArmed} end`,
          // Readings begun before this top-up are older than it: they no longer overwrite the quota.
          observedAt: at,
          updatedAt: at,
        })
        .where(and(q, stillPending)),
      db
        .update(simTopups)
        .set({
          status: 'succeeded',
          holdId,
          newTotal: sql`(select ${simQuotas.volume} from ${simQuotas} where ${q})`,
          newRemaining: sql`(select max(0, ${simQuotas.volume} - ${simQuotas.usedVolume}) from ${simQuotas} where ${q})`,
          updatedAt: at,
        })
        .where(and(eq(simTopups.id, it.id), eq(simTopups.status, 'pending'))),
      ...simEventStatements(
        db,
        sim,
        {
          kind: 'quota_topped_up',
          description: `${it.quotaType === 'data' ? 'Data' : 'SMS'} quota topped up by ${it.volume}`,
          data: { quota_type: it.quotaType, volume_added: it.volume, transaction_id: it.id, source: it.source },
          dedupeKey: `topup:${it.id}`,
        },
        at,
      ),
    ]
  }

  /** Takes what succeeded from the hold (0 releases it); a hold no longer active is charged directly. */
  private async settle(userId: string, holdId: string, amount: number): Promise<void> {
    const { wallet } = this.deps
    try {
      const r = await wallet.capture(userId, { opId: `${holdId}:capture`, holdId, amount })
      if (r.ok || amount === 0) return
      const hold = await wallet.stub(userId).getHoldById(holdId)
      if (hold?.status === 'captured') return
      log('error', 'sims: top-up hold not capturable; charging directly', { holdId, reason: r.reason, hold: hold?.status ?? null })
      const d = await wallet.debit(userId, { opId: `${holdId}:charge`, amount, reference: { type: 'sim_topup', id: holdId }, description: 'SIM top-ups' })
      if (!d.ok) log('error', 'sims: top-up direct charge refused', { holdId, reason: d.reason })
    } catch (e) {
      // The outcome row is written: the wallet captures at the hold's expiry.
      log('error', 'sims: top-up capture failed; the wallet captures at hold expiry', { holdId, error: (e as Error).message })
    }
  }

  /** A finished run's captures, one per hold its rows succeeded under (a replay when made). */
  private async capture(userId: string, rows: SimTopup[]): Promise<void> {
    const holds = new Set(rows.filter((r) => r.status === 'succeeded' && r.holdId).map((r) => r.holdId!))
    for (const holdId of holds) await this.settle(userId, holdId, await this.heldAmount(holdId))
  }

  private async rows(ids: string[]): Promise<Map<string, SimTopup>> {
    const out = new Map<string, SimTopup>()
    for (const part of chunk(ids, IDS_PER_STATEMENT)) {
      for (const r of await this.deps.db.select().from(simTopups).where(inArray(simTopups.id, part)).all()) out.set(r.id, r)
    }
    return out
  }
}

function rowOf(userId: string, it: TopUpItem, at: Date): typeof simTopups.$inferInsert {
  return {
    id: it.id,
    userId,
    simId: it.sim?.id ?? null,
    iccid: it.iccid,
    quotaType: it.quotaType,
    volume: it.volume,
    amount: it.error ? 0 : topUpPrice(it.quotaType, it.volume),
    source: it.source,
    jobId: it.jobId ?? null,
    jobIndex: it.jobIndex ?? null,
    status: it.error ? 'failed' : 'pending',
    errorCode: it.error?.code ?? null,
    errorMessage: it.error?.message ?? null,
    createdAt: at,
    updatedAt: at,
  }
}

function failStatement(db: Db, id: string, code: string, message: string, at: Date): Stmt {
  return db
    .update(simTopups)
    .set({ status: 'failed', errorCode: code, errorMessage: message.slice(0, 500), updatedAt: at })
    .where(and(eq(simTopups.id, id), eq(simTopups.status, 'pending')))
}

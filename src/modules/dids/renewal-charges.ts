/**
 * The debits of DID renewals (renewals.job.ts): each recorded in renewal_charges before it is
 * tried, then made in the Wallet; and the sweeper step that gives back the open charges no run
 * closed.
 */
import { and, asc, desc, eq, lte, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { renewalCharges, type PhoneNumber } from '../../db/schema'
import type { Services } from '../../services'
import { errorText, runBatch } from '../../db/batch'
import { settlePendingCredit } from '../wallet/pending-credits'
import { logger } from '../../lib/logger'
import { day, renewalOpId, returnOpOf } from './renewal-periods'
import { numbersByIds, renewableExists, returnStatements, type ChargeOp, type ChargeRecord } from './renewals.statements'

/** An open renewal charge is the writer's to close for this long before the sweeper looks at it. */
export const RENEWAL_CHARGE_GRACE_MS = 60_000
/** Open renewal charges the sweeper returns per run. */
export const CHARGES_PER_RUN = 50

/**
 * Debits the period from the wallet: `{ op }` when paid (or replayed; `op` null for a free
 * number), null when funds are short. The debit is recorded (renewal_charges, `open`) before it
 * is tried: the open record of the period is reused (a retry replays its debit), otherwise the
 * next one is opened — after a returned debit, under a new operation id.
 */
export async function charge(services: Services, n: PhoneNumber, periodStart: number, periodEnd: number): Promise<{ op: ChargeOp | null } | null> {
  if (n.monthlyPrice <= 0) return { op: null }
  const op = await openCharge(services.db, n, periodStart, periodEnd)
  const r = await services.wallet.debit(n.userId, {
    opId: op.opId,
    amount: n.monthlyPrice,
    reference: { type: 'phone_number', id: n.id },
    description: `Monthly fee ${n.phoneNumber} (${day(periodStart)} – ${day(periodEnd)})`,
  })
  if (r.ok) return { op }
  if (r.reason === 'INSUFFICIENT_BALANCE') return null
  // OPERATION_CANCELLED: this record was returned meanwhile; the retry opens the next one.
  throw new Error(`wallet refused the renewal debit: ${r.reason}`)
}

/** The period's debit to try: its open record, or a new one after the last (closed) one. */
async function openCharge(db: Db, n: PhoneNumber, periodStart: number, periodEnd: number): Promise<ChargeOp> {
  const last = await db
    .select({ opId: renewalCharges.opId, seq: renewalCharges.seq, status: renewalCharges.status })
    .from(renewalCharges)
    .where(and(eq(renewalCharges.phoneNumberId, n.id), eq(renewalCharges.periodStart, new Date(periodStart))))
    .orderBy(desc(renewalCharges.seq))
    .limit(1)
    .get()
  if (last?.status === 'open') return { opId: last.opId, seq: last.seq }
  const seq = (last?.seq ?? 0) + 1
  const opId = renewalOpId(n.id, periodStart, seq)
  // An overlapping run may open the same record: the same operation id, one row.
  await db
    .insert(renewalCharges)
    .values({ opId, userId: n.userId, phoneNumberId: n.id, periodStart: new Date(periodStart), periodEnd: new Date(periodEnd), seq, amount: n.monthlyPrice, status: 'open', createdAt: new Date() })
    .onConflictDoNothing()
    .run()
  return { opId, seq }
}

/**
 * Sweeper step: open renewal charges that no run closed (the run failed after its debit, or
 * before it, and the number stopped being renewable before a retry) whose number is no longer
 * renewable for the period are returned — the debit given back if it was made, cancelled if not.
 * Open charges of numbers still renewable are left to the next run, which reuses them.
 */
export async function returnAbandonedCharges(services: Services, now: number): Promise<{ returned: number; nothing: number; failed: number }> {
  const db = services.db
  const rows = await db
    .select()
    .from(renewalCharges)
    .where(
      and(
        eq(renewalCharges.status, 'open'),
        lte(renewalCharges.createdAt, new Date(now - RENEWAL_CHARGE_GRACE_MS)),
        sql`not ${renewableExists(renewalCharges.phoneNumberId, renewalCharges.periodStart, renewalCharges.periodEnd)}`,
      ),
    )
    .orderBy(asc(renewalCharges.createdAt))
    .limit(CHARGES_PER_RUN)
    .all()
  const out = { returned: 0, nothing: 0, failed: 0 }
  if (!rows.length) return out
  const phones = new Map((await numbersByIds(db, [...new Set(rows.map((r) => r.phoneNumberId))])).map((n) => [n.id, n.phoneNumber]))
  for (const c of rows) {
    try {
      const record: ChargeRecord = {
        opId: c.opId,
        userId: c.userId,
        numberId: c.phoneNumberId,
        phoneNumber: phones.get(c.phoneNumberId) ?? c.phoneNumberId,
        amount: c.amount,
        periodStart: c.periodStart.getTime(),
        periodEnd: c.periodEnd.getTime(),
      }
      await runBatch(db, returnStatements(db, record, new Date(now)))
      const r = await settlePendingCredit(services, returnOpOf(c.opId))
      if (r.status === 'failed') out.failed++
      else if (r.status === 'credited' || r.status === 'replayed') out.returned++
      else if (r.status === 'nothing') out.nothing++
    } catch (e) {
      out.failed++
      logger.error('returning a renewal charge failed', { job: 'sweeper', step: 'renewal-charges', opId: c.opId, error: errorText(e) })
    }
  }
  return out
}

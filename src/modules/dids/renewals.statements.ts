/**
 * The D1 side of DID renewals (renewals.job.ts, whose top comment has the rules they keep): the
 * "renewable for the period" condition in code and in SQL, the reads of a page, and the guarded
 * batches — the period paid (successStatements), the attempt refused (failureStatements) and a
 * charge given back (returnStatements).
 */
import { and, eq, gte, inArray, isNull, or, sql, type SQL } from 'drizzle-orm'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import type { Db } from '../../db/client'
import { insertWhere } from '../../db/insert-where'
import { didRenewals, outbox, pendingCredits, phoneNumbers, renewalCharges, usageRecords, type PhoneNumber } from '../../db/schema'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import { monthOf } from '../../lib/periods'
import type { Stmt } from '../../db/batch'
import { UNITS } from '../usage/product-meters'
import { pendingCreditValues } from '../wallet/pending-credits'
import { day, periodEndFor, returnOpOf } from './renewal-periods'

// The timeline of an unpaid renewal (renewals.job.ts): grace, then suspension, then release.
export const RENEWAL_GRACE_MS = 3 * 86_400_000
export const SUSPENSION_BEFORE_RELEASE_MS = 7 * 86_400_000
export const RENEWAL_RELEASE_REASON = 'renewal_unpaid'

export type DidRenewal = typeof didRenewals.$inferSelect

/** Event ids derive from the number and the period: a rerun writes no second event. */
const eventId = (kind: 'ren' | 'rnf' | 'sus', numberId: string, periodStart: number) => `evt_${kind}_${numberId}_${periodStart}`

/** A debit of a renewal period, as recorded in renewal_charges before it is tried. */
export interface ChargeOp {
  opId: string
  seq: number
}

export const RENEWABLE = ['active', 'suspended'] as const

/** Renewable for the period: live, still due at `periodStart`, no release scheduled before `periodEnd`. */
export function renewableNow(n: Pick<PhoneNumber, 'status' | 'nextRenewalAt' | 'releaseAt'>, periodStart: number, periodEnd: number): boolean {
  return (RENEWABLE as readonly string[]).includes(n.status) && n.nextRenewalAt?.getTime() === periodStart && !(n.releaseAt && n.releaseAt.getTime() < periodEnd)
}

/**
 * The same condition in SQL, on the number's row: the success batch's compare-and-set. Values, or
 * renewal_charges' columns (the sweeper's correlated test).
 */
function renewableWhere(numberId: string | typeof renewalCharges.phoneNumberId, periodStart: number | typeof renewalCharges.periodStart, periodEnd: number | typeof renewalCharges.periodEnd): SQL {
  return and(
    eq(phoneNumbers.id, numberId),
    eq(phoneNumbers.nextRenewalAt, typeof periodStart === 'number' ? new Date(periodStart) : periodStart),
    inArray(phoneNumbers.status, [...RENEWABLE]),
    or(isNull(phoneNumbers.releaseAt), gte(phoneNumbers.releaseAt, typeof periodEnd === 'number' ? new Date(periodEnd) : periodEnd)),
  )!
}

/** `exists` form of renewableWhere, for statements on other tables (never NULL, unlike a bare comparison). */
export function renewableExists(...args: Parameters<typeof renewableWhere>): SQL {
  return sql`exists (select 1 from ${phoneNumbers} where ${renewableWhere(...args)})`
}

/** The renewal charge `opId` is in `status`. */
function chargeIs(opId: string, status: 'open' | 'kept' | 'returned'): SQL {
  return sql`exists (select 1 from ${renewalCharges} where ${and(eq(renewalCharges.opId, opId), eq(renewalCharges.status, status))})`
}

/** Rows by id: one IN (…) query per 90 ids, in one batch. */
export async function numbersByIds(db: Db, ids: string[]): Promise<PhoneNumber[]> {
  if (!ids.length) return []
  const queries = chunk(ids, IDS_PER_STATEMENT).map((part) => db.select().from(phoneNumbers).where(inArray(phoneNumbers.id, part)))
  return ((await db.batch(queries as [(typeof queries)[0], ...typeof queries])) as PhoneNumber[][]).flat()
}

/** The failed renewal rows of the page's numbers: one IN (…) query per 90 ids, in one batch. */
export async function failedRenewals(db: Db, ids: string[]): Promise<Map<string, DidRenewal>> {
  const out = new Map<string, DidRenewal>()
  if (!ids.length) return out
  const queries = chunk(ids, IDS_PER_STATEMENT).map((part) =>
    db
      .select()
      .from(didRenewals)
      .where(and(inArray(didRenewals.phoneNumberId, part), eq(didRenewals.status, 'failed'))),
  )
  const results = (await db.batch(queries as [(typeof queries)[0], ...typeof queries])) as DidRenewal[][]
  for (const r of results.flat()) out.set(`${r.phoneNumberId}:${r.periodStart.getTime()}`, r)
  return out
}

/** Rows a statement of a batch changed. */
export const changes = (r: unknown) => (r as D1Result | undefined)?.meta.changes ?? 0

export interface ChargeRecord {
  opId: string
  userId: string
  numberId: string
  phoneNumber: string
  amount: number
  periodStart: number
  periodEnd: number
}

/**
 * Returns the charge `c` if it is still open and its number no longer renewable for the period:
 * the record `returned` and the pending credit that gives its debit back (`returnDebit`: only
 * if it was made), in this order, in the caller's batch. Nothing when it was kept or returned.
 */
export function returnStatements(db: Db, c: ChargeRecord, at: Date): Stmt[] {
  return [
    db
      .update(renewalCharges)
      .set({ status: 'returned', resolvedAt: at })
      .where(and(eq(renewalCharges.opId, c.opId), eq(renewalCharges.status, 'open'), sql`not ${renewableExists(c.numberId, c.periodStart, c.periodEnd)}`)),
    insertWhere(
      db,
      pendingCredits,
      // Wall-clock times: the sweeper's schedule, whatever the run's logical time.
      pendingCreditValues({
        opId: returnOpOf(c.opId),
        debitOpId: c.opId,
        userId: c.userId,
        amount: c.amount,
        reference: { type: 'phone_number', id: c.numberId },
        description: `Monthly fee returned ${c.phoneNumber} (${day(c.periodStart)} – ${day(c.periodEnd)}): the number is no longer renewed`,
      }),
      chargeIs(c.opId, 'returned'),
    ).onConflictDoNothing(),
  ]
}

/**
 * The period paid: the did_renewals row charged (a failed one moved to charged), the prepaid usage
 * row, NUMBER_RENEWED, the charge record kept, then the number's compare-and-set. Every statement
 * before it applies only while the number is renewable for the period and (for a priced number)
 * its charge record is open — the compare-and-set then requires the record kept by this batch —
 * so either all of them apply or none does; the caller reads the last statement's changes. First
 * of all, guarded by the opposite condition, the return of the debit: exactly one of the two
 * outcomes is recorded for a debit.
 */
export function successStatements(db: Db, n: PhoneNumber, prior: DidRenewal | undefined, op: ChargeOp | null, periodStart: number, periodEnd: number, at: number): Stmt[] {
  const now = new Date(at)
  const start = new Date(periodStart)
  const end = new Date(periodEnd)
  const renewable = renewableWhere(n.id, periodStart, periodEnd)
  const live = renewableExists(n.id, periodStart, periodEnd)
  const guard = op ? sql`${live} and ${chargeIs(op.opId, 'open')}` : live
  const record: ChargeRecord | null = op ? { opId: op.opId, userId: n.userId, numberId: n.id, phoneNumber: n.phoneNumber, amount: n.monthlyPrice, periodStart, periodEnd } : null
  return [
    // The debit is owed back when nothing below applies and no other run kept it: written here,
    // with the same view of the rows as the statements below, so it cannot be lost.
    ...(record ? returnStatements(db, record, now) : []),
    // A failed attempt of the period paid now.
    db
      .update(didRenewals)
      .set({ status: 'charged', amount: n.monthlyPrice, periodEnd: end, attempts: sql`${didRenewals.attempts} + 1`, lastAttemptAt: now, chargedAt: now })
      .where(and(eq(didRenewals.phoneNumberId, n.id), eq(didRenewals.periodStart, start), eq(didRenewals.status, 'failed'), guard)),
    // Paid at the first attempt (a row that exists — the update above — is left alone).
    insertWhere(
      db,
      didRenewals,
      {
        id: newId('ren', at),
        userId: n.userId,
        phoneNumberId: n.id,
        periodStart: start,
        periodEnd: end,
        amount: n.monthlyPrice,
        status: 'charged',
        attempts: 1,
        lastAttemptAt: now,
        chargedAt: now,
        createdAt: now,
      },
      guard,
    ).onConflictDoNothing(),
    insertWhere(
      db,
      usageRecords,
      {
        id: newId('usg', at),
        userId: n.userId,
        resourceType: 'did_monthly',
        resourceId: n.id,
        quantity: 1,
        unit: UNITS.did_monthly,
        unitPrice: n.monthlyPrice,
        totalCost: n.monthlyPrice,
        currency: n.currency,
        prepaid: true,
        description: `Monthly fee ${n.phoneNumber} (${day(periodStart)} – ${day(periodEnd)})`,
        month: monthOf(periodStart),
        occurredAt: now,
        transactionId: `renewal:${n.id}:${periodStart}`,
        createdAt: now,
        updatedAt: now,
      },
      guard,
    ).onConflictDoNothing(),
    insertWhere(
      db,
      outbox,
      {
        id: eventId('ren', n.id, periodStart),
        type: 'NUMBER_RENEWED',
        userId: n.userId,
        payload: {
          numberId: n.id,
          phoneNumber: n.phoneNumber,
          numberType: n.numberType,
          amount: fromMicros(n.monthlyPrice),
          currency: n.currency,
          periodStart: start.toISOString(),
          periodEnd: end.toISOString(),
          // Paid after a failed attempt: the number was suspended and is active again.
          reactivated: n.status === 'suspended',
          attempts: (prior?.attempts ?? 0) + 1,
        },
        createdAt: now,
        sentAt: null,
      },
      guard,
    ).onConflictDoNothing(),
    // The debit kept for the period (while the number is renewable: the update below then applies too).
    ...(op
      ? [
          db
            .update(renewalCharges)
            .set({ status: 'kept', resolvedAt: now })
            .where(and(eq(renewalCharges.opId, op.opId), eq(renewalCharges.status, 'open'), live)),
        ]
      : []),
    // Last: the caller reads its changes (0 = the number is no longer renewable for the period,
    // or its debit was not kept here).
    db
      .update(phoneNumbers)
      .set({ status: 'active', nextRenewalAt: end, renewalGraceUntil: null, suspendedAt: null, updatedAt: now })
      .where(op ? and(renewable, chargeIs(op.opId, 'kept')) : renewable),
  ]
}

/**
 * The attempt refused: the did_renewals row failed (first attempt) or its attempt counted, the
 * grace, the suspension when it is over, the release decision when the suspension is. Every
 * statement applies only while the number is still due for the period (a run that paid it
 * meanwhile wins: no false NUMBER_RENEWAL_FAILED or NUMBER_SUSPENDED). `suspendStmt` is the index
 * of the suspension's update, whose changes say whether this run suspended the number.
 */
export function failureStatements(db: Db, n: PhoneNumber, prior: DidRenewal | undefined, attempted: boolean, periodStart: number, at: number) {
  const now = new Date(at)
  const start = new Date(periodStart)
  const stmts: Stmt[] = []
  const graceUntil = n.renewalGraceUntil?.getTime() ?? periodStart + RENEWAL_GRACE_MS
  const base = { numberId: n.id, phoneNumber: n.phoneNumber, amount: fromMicros(n.monthlyPrice), currency: n.currency, periodStart: start.toISOString() }
  const guard = and(eq(phoneNumbers.id, n.id), eq(phoneNumbers.nextRenewalAt, start))
  const due = and(guard, inArray(phoneNumbers.status, [...RENEWABLE]))
  const stillDue = sql`exists (select 1 from ${phoneNumbers} where ${due})`

  if (!prior) {
    stmts.push(
      insertWhere(
        db,
        didRenewals,
        {
          id: newId('ren', at),
          userId: n.userId,
          phoneNumberId: n.id,
          periodStart: start,
          periodEnd: periodEndFor(n.purchasedAt.getTime(), periodStart),
          amount: n.monthlyPrice,
          status: 'failed',
          attempts: 1,
          lastAttemptAt: now,
          chargedAt: null,
          createdAt: now,
        },
        stillDue,
      ).onConflictDoNothing(),
      db
        .update(phoneNumbers)
        .set({ renewalGraceUntil: new Date(graceUntil), updatedAt: now })
        .where(due),
      insertWhere(
        db,
        outbox,
        {
          id: eventId('rnf', n.id, periodStart),
          type: 'NUMBER_RENEWAL_FAILED',
          userId: n.userId,
          payload: { ...base, graceUntil: new Date(graceUntil).toISOString(), reason: 'INSUFFICIENT_BALANCE' },
          createdAt: now,
          sentAt: null,
        },
        stillDue,
      ).onConflictDoNothing(),
    )
  } else if (attempted) {
    stmts.push(
      db
        .update(didRenewals)
        .set({ attempts: sql`${didRenewals.attempts} + 1`, lastAttemptAt: now })
        .where(and(eq(didRenewals.id, prior.id), eq(didRenewals.status, 'failed'))),
    )
  }

  let suspendStmt: number | null = null
  let releases = false
  if (n.status === 'active' && at >= graceUntil) {
    suspendStmt = stmts.length
    stmts.push(
      db
        .update(phoneNumbers)
        .set({ status: 'suspended', suspendedAt: now, renewalGraceUntil: new Date(graceUntil), updatedAt: now })
        .where(and(guard, eq(phoneNumbers.status, 'active'))),
      // Only when the update above suspended it (a run that paid meanwhile moved next_renewal_at).
      insertWhere(
        db,
        outbox,
        {
          id: eventId('sus', n.id, periodStart),
          type: 'NUMBER_SUSPENDED',
          userId: n.userId,
          payload: {
            ...base,
            suspendedAt: now.toISOString(),
            releaseAfter: new Date(at + SUSPENSION_BEFORE_RELEASE_MS).toISOString(),
            reason: RENEWAL_RELEASE_REASON,
          },
          createdAt: now,
          sentAt: null,
        },
        sql`exists (select 1 from ${phoneNumbers} where ${and(guard, eq(phoneNumbers.status, 'suspended'), eq(phoneNumbers.suspendedAt, now))})`,
      ).onConflictDoNothing(),
    )
  } else if (n.status === 'suspended' && at >= (n.suspendedAt?.getTime() ?? at) + SUSPENSION_BEFORE_RELEASE_MS) {
    // Decided on this read; releaseUnpaid claims the number before releasing it.
    releases = true
  }
  return { stmts, suspendStmt, releases }
}

/**
 * DID monthly renewals, run by the daily billing cron (`runDidRenewals(services, now)`).
 *
 * A number pays its month in advance on each anniversary of its purchase. Anniversaries keep
 * the purchase's day of month and time of day, clamped to the month's last day and computed
 * from `purchased_at` + n months (bought Jan 31 → Feb 28/29 → Mar 31 → Apr 30 …), never from the
 * previous, clamped, anniversary. The period being paid is [next_renewal_at, next anniversary).
 *
 * Timeline of an unpaid renewal (periodStart = the anniversary):
 *
 *   periodStart            the wallet cannot pay: did_renewals row `failed`, the number stays
 *                          `active`, renewal_grace_until = periodStart + 3 days,
 *                          NUMBER_RENEWAL_FAILED (amount, graceUntil, reason INSUFFICIENT_BALANCE)
 *   periodStart + 3 days   still unpaid: status `suspended`, suspended_at = the run's time,
 *                          NUMBER_SUSPENDED (the grace is counted from the anniversary: a run
 *                          that first sees the number after it has passed suspends it at once)
 *   suspended_at + 7 days  still unpaid: released through the ordinary release path
 *                          (DidsService.releaseNow, reason `renewal_unpaid`): upstream release,
 *                          NumberLock freed, number back on sale, NUMBER_RELEASED
 *
 * The charge is retried on every run, at most once per number and UTC day (did_renewals
 * .last_attempt_at); a retry that succeeds charges the same period (same operation id), clears
 * the grace and makes a suspended number `active` again.
 *
 * Not charged: `pending` and `released` numbers (not selected), and a number whose scheduled
 * release (release_at) comes before the end of the period — the sweeper releases it; if the
 * release is cancelled, the next run charges the period.
 *
 * "Renewable for the period" = status `active` or `suspended`, next_renewal_at = periodStart and
 * no release scheduled before the period end. The page is read once, then the numbers are charged
 * one by one, so a number may stop being renewable in between (released, release scheduled…):
 *   - each number's row is read again just before its debit; one no longer renewable is skipped;
 *   - the success batch is a compare-and-set on that same condition: the did_renewals row
 *     (charged), the prepaid usage row and NUMBER_RENEWED are written only while it holds
 *     (guarded inserts / update placed before the phone_numbers update, in the same batch);
 *   - when the phone_numbers update changed nothing and the period is not recorded as charged
 *     (by an overlapping run, whose debit is this same operation), the debit is credited back
 *     (operation id `renew_<numberId>_<periodStart ms>_returned`, counted in `returned`).
 *
 * Idempotent: the debit's operation id is `renew_<numberId>_<periodStart ms>` (a rerun or a
 * retry after a crash replays it, never debits twice), the credit back has its own operation id
 * (never credited twice); the success batch is guarded by the condition above, did_renewals is
 * unique per (number, periodStart), the usage row per (account, transaction id) and every event
 * id derives from the number and the period.
 * Each number is handled at most once per run: a number several months behind (the cron did not
 * run) pays one period per run.
 */
import { and, asc, eq, gt, gte, inArray, isNull, lte, or, sql, type SQL } from 'drizzle-orm'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import type { Db } from '../../db/client'
import { insertWhere } from '../../db/insert-where'
import { didRenewals, outbox, phoneNumbers, usageRecords, type PhoneNumber } from '../../db/schema'
import { AppError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import type { Services } from '../../services'
import { errorText, runBatch, type Stmt } from './batch'
import { didsOf } from './deps'
import { UNITS } from '../usage/product-meters'

export const RENEWAL_PAGE = 200
export const RENEWAL_GRACE_MS = 3 * 86_400_000
export const SUSPENSION_BEFORE_RELEASE_MS = 7 * 86_400_000
export const RENEWAL_RELEASE_REASON = 'renewal_unpaid'

export interface RenewalCounts {
  /** Periods charged (a replayed debit of a crashed run counts too: the period got paid now). */
  charged: number
  /** Charge attempts the wallet refused. */
  failed: number
  /** Numbers suspended by this run. */
  suspended: number
  /** Numbers released by this run. */
  released: number
  /**
   * Debits credited back: the number stopped being renewable between its debit and the batch.
   * Present only when some were (the billing run's result keeps its shape otherwise).
   */
  returned?: number
}

type DidRenewal = typeof didRenewals.$inferSelect

/** Purchase time + `months`, on the purchase's day of month (clamped to the month's last day). */
export function anniversary(purchasedAt: number, months: number): Date {
  const d = new Date(purchasedAt)
  const y = d.getUTCFullYear()
  const m = d.getUTCMonth() + months
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate()
  return new Date(Date.UTC(y, m, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()))
}

/** The first anniversary (at least one month after purchase) strictly after `periodStart`. */
export function periodEndFor(purchasedAt: number, periodStart: number): Date {
  const p = new Date(purchasedAt)
  const s = new Date(periodStart)
  let n = Math.max(1, (s.getUTCFullYear() - p.getUTCFullYear()) * 12 + s.getUTCMonth() - p.getUTCMonth())
  let end = anniversary(purchasedAt, n)
  while (end.getTime() <= periodStart) end = anniversary(purchasedAt, ++n)
  return end
}

const utcDay = (t: number) => Math.floor(t / 86_400_000)
const monthOf = (t: number) => new Date(t).toISOString().slice(0, 7)
const day = (t: number) => new Date(t).toISOString().slice(0, 10)

/** Event ids derive from the number and the period: a rerun writes no second event. */
const eventId = (kind: 'ren' | 'rnf' | 'sus', numberId: string, periodStart: number) => `evt_${kind}_${numberId}_${periodStart}`

export const renewalOpId = (numberId: string, periodStart: number) => `renew_${numberId}_${periodStart}`
export const renewalReturnOpId = (numberId: string, periodStart: number) => `${renewalOpId(numberId, periodStart)}_returned`

const RENEWABLE = ['active', 'suspended'] as const

/** Renewable for the period: live, still due at `periodStart`, no release scheduled before `periodEnd`. */
function renewableNow(n: Pick<PhoneNumber, 'status' | 'nextRenewalAt' | 'releaseAt'>, periodStart: number, periodEnd: number): boolean {
  return (
    (RENEWABLE as readonly string[]).includes(n.status) &&
    n.nextRenewalAt?.getTime() === periodStart &&
    !(n.releaseAt && n.releaseAt.getTime() < periodEnd)
  )
}

/** The same condition in SQL, on the number's row: the success batch's compare-and-set. */
function renewableWhere(numberId: string, periodStart: number, periodEnd: number): SQL {
  return and(
    eq(phoneNumbers.id, numberId),
    eq(phoneNumbers.nextRenewalAt, new Date(periodStart)),
    inArray(phoneNumbers.status, [...RENEWABLE]),
    or(isNull(phoneNumbers.releaseAt), gte(phoneNumbers.releaseAt, new Date(periodEnd))),
  )!
}

type DueCursor = { t: Date; id: string }

/**
 * One page of due numbers of one status, after `cursor` in (next_renewal_at, id) order: a range
 * of phone_numbers_renewal_idx (status, next_renewal_at). Exported for the query-plan test.
 */
export function dueNumbersQuery(db: Db, status: 'active' | 'suspended', now: Date, cursor: DueCursor | null) {
  const pn = phoneNumbers
  return db
    .select()
    .from(pn)
    .where(
      and(
        eq(pn.status, status),
        lte(pn.nextRenewalAt, now),
        cursor ? gte(pn.nextRenewalAt, cursor.t) : undefined,
        cursor ? or(gt(pn.nextRenewalAt, cursor.t), and(eq(pn.nextRenewalAt, cursor.t), gt(pn.id, cursor.id))) : undefined,
      ),
    )
    .orderBy(asc(pn.nextRenewalAt), asc(pn.id))
    .limit(RENEWAL_PAGE)
}

export async function runDidRenewals(services: Services, now: Date): Promise<RenewalCounts> {
  const db = services.db
  const at = now.getTime()
  const counts: RenewalCounts = { charged: 0, failed: 0, suspended: 0, released: 0 }
  const seen = new Set<string>()

  // One pass per status, so that each page is a range of phone_numbers_renewal_idx
  // (status, next_renewal_at) read in index order; a keyset cursor moves through it.
  for (const status of ['active', 'suspended'] as const) {
    let cursor: DueCursor | null = null
    for (;;) {
      const page: PhoneNumber[] = await dueNumbersQuery(db, status, now, cursor).all()
      if (!page.length) break
      const last = page[page.length - 1]!
      cursor = { t: last.nextRenewalAt!, id: last.id }
      // A number renewed or suspended earlier in this run may come round again: once per run.
      const rows = page.filter((n) => !seen.has(n.id))
      for (const n of rows) seen.add(n.id)
      await renewPage(services, rows, at, counts)
      if (page.length < RENEWAL_PAGE) break
    }
  }
  return counts
}

/** The failed renewal rows of the page's numbers: one IN (…) query per 90 ids, in one batch. */
async function failedRenewals(db: Db, ids: string[]): Promise<Map<string, DidRenewal>> {
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

async function renewPage(services: Services, page: PhoneNumber[], at: number, counts: RenewalCounts) {
  const db = services.db
  const work = page
    .map((n) => {
      const periodStart = n.nextRenewalAt!.getTime()
      return { n, periodStart, periodEnd: periodEndFor(n.purchasedAt.getTime(), periodStart).getTime() }
    })
    // A release scheduled before the period ends: the sweeper releases it, nothing is charged.
    .filter((w) => !(w.n.releaseAt && w.n.releaseAt.getTime() < w.periodEnd))
  if (!work.length) return
  const failedRows = await failedRenewals(db, work.map((w) => w.n.id))
  const toRelease: PhoneNumber[] = []

  for (const { n: read, periodStart, periodEnd } of work) {
    const prior = failedRows.get(`${read.id}:${periodStart}`)
    try {
      // The page may be old by now: the number as it is just before its debit.
      const n = await db.select().from(phoneNumbers).where(eq(phoneNumbers.id, read.id)).get()
      if (!n || !renewableNow(n, periodStart, periodEnd)) continue
      const triedToday = prior !== undefined && utcDay(prior.lastAttemptAt.getTime()) === utcDay(at)
      let paid = false
      if (!triedToday) {
        paid = await charge(services, n, periodStart, periodEnd)
        if (!paid) counts.failed++
      }
      if (paid) {
        // The guarded statements first: the last one, the number's compare-and-set, renews it.
        const results = await runBatch(db, successStatements(db, n, prior, periodStart, periodEnd, at))
        if (((results.at(-1) as D1Result | undefined)?.meta.changes ?? 0) > 0) counts.charged++
        else if (await returnCharge(services, n, periodStart, periodEnd)) counts.returned = (counts.returned ?? 0) + 1
        continue
      }
      const { stmts, suspends, releases } = failureStatements(db, n, prior, !triedToday, periodStart, at)
      await runBatch(db, stmts)
      if (suspends) counts.suspended++
      if (releases) toRelease.push(n)
    } catch (e) {
      console.error(JSON.stringify({ level: 'error', job: 'billing', step: 'did-renewals', numberId: read.id, periodStart: new Date(periodStart).toISOString(), error: errorText(e) }))
    }
  }

  if (toRelease.length) {
    const { released, failed } = await didsOf(services).releaseNow(toRelease, at, RENEWAL_RELEASE_REASON)
    counts.released += released.length
    for (const f of failed) {
      console.error(JSON.stringify({ level: 'error', job: 'billing', step: 'did-renewals-release', numberId: f.row.id, error: errorText(f.error) }))
    }
  }
}

/** Debits the period from the wallet: true when paid (or replayed), false when funds are short. */
async function charge(services: Services, n: PhoneNumber, periodStart: number, periodEnd: number): Promise<boolean> {
  if (n.monthlyPrice <= 0) return true
  try {
    const r = await services.wallet.debit(n.userId, {
      opId: renewalOpId(n.id, periodStart),
      amount: n.monthlyPrice,
      reference: { type: 'phone_number', id: n.id },
      description: `Monthly fee ${n.phoneNumber} (${day(periodStart)} – ${day(periodEnd)})`,
    })
    if (!r.ok) throw new Error(`wallet refused the renewal debit: ${r.reason}`)
    return true
  } catch (e) {
    if (e instanceof AppError && e.code === 'INSUFFICIENT_BALANCE') return false
    throw e
  }
}

/**
 * The debit was made but the batch renewed nothing: the number stopped being renewable in between
 * (or an overlapping run renewed it first). Unless the period is recorded as charged — then the
 * debit, shared by operation id, paid that charge — the money goes back. True when credited now.
 */
async function returnCharge(services: Services, n: PhoneNumber, periodStart: number, periodEnd: number): Promise<boolean> {
  if (n.monthlyPrice <= 0) return false
  const done = await services.db
    .select({ status: didRenewals.status })
    .from(didRenewals)
    .where(and(eq(didRenewals.phoneNumberId, n.id), eq(didRenewals.periodStart, new Date(periodStart))))
    .get()
  if (done?.status === 'charged') return false
  const r = await services.wallet.credit(n.userId, {
    opId: renewalReturnOpId(n.id, periodStart),
    amount: n.monthlyPrice,
    reference: { type: 'phone_number', id: n.id },
    description: `Monthly fee returned ${n.phoneNumber} (${day(periodStart)} – ${day(periodEnd)}): the number is no longer renewed`,
  })
  if (!r.ok) throw new Error(`wallet refused the renewal return: ${r.reason}`)
  return !r.replayed
}

/**
 * The period paid: the did_renewals row charged (a failed one moved to charged), the prepaid usage
 * row, NUMBER_RENEWED, then the number's compare-and-set. Every statement before it applies only
 * while the number is renewable for the period (the compare-and-set's own condition), so either
 * all of them apply or none does; the caller reads the last statement's changes.
 */
function successStatements(db: Db, n: PhoneNumber, prior: DidRenewal | undefined, periodStart: number, periodEnd: number, at: number): Stmt[] {
  const now = new Date(at)
  const start = new Date(periodStart)
  const end = new Date(periodEnd)
  const renewable = renewableWhere(n.id, periodStart, periodEnd)
  const guard = sql`exists (select 1 from ${phoneNumbers} where ${renewable})`
  return [
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
    // Last: the caller reads its changes (0 = the number is no longer renewable for the period).
    db
      .update(phoneNumbers)
      .set({ status: 'active', nextRenewalAt: end, renewalGraceUntil: null, suspendedAt: null, updatedAt: now })
      .where(renewable),
  ]
}

function failureStatements(db: Db, n: PhoneNumber, prior: DidRenewal | undefined, attempted: boolean, periodStart: number, at: number) {
  const now = new Date(at)
  const start = new Date(periodStart)
  const stmts: Stmt[] = []
  const graceUntil = n.renewalGraceUntil?.getTime() ?? periodStart + RENEWAL_GRACE_MS
  const base = { numberId: n.id, phoneNumber: n.phoneNumber, amount: fromMicros(n.monthlyPrice), currency: n.currency, periodStart: start.toISOString() }
  const guard = and(eq(phoneNumbers.id, n.id), eq(phoneNumbers.nextRenewalAt, start))

  if (!prior) {
    stmts.push(
      db
        .insert(didRenewals)
        .values({
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
        })
        .onConflictDoNothing(),
      db.update(phoneNumbers).set({ renewalGraceUntil: new Date(graceUntil), updatedAt: now }).where(and(guard, inArray(phoneNumbers.status, ['active', 'suspended']))),
      db
        .insert(outbox)
        .values({
          id: eventId('rnf', n.id, periodStart),
          type: 'NUMBER_RENEWAL_FAILED',
          userId: n.userId,
          payload: { ...base, graceUntil: new Date(graceUntil).toISOString(), reason: 'INSUFFICIENT_BALANCE' },
          createdAt: now,
          sentAt: null,
        })
        .onConflictDoNothing(),
    )
  } else if (attempted) {
    stmts.push(
      db
        .update(didRenewals)
        .set({ attempts: sql`${didRenewals.attempts} + 1`, lastAttemptAt: now })
        .where(and(eq(didRenewals.id, prior.id), eq(didRenewals.status, 'failed'))),
    )
  }

  let suspends = false
  let releases = false
  if (n.status === 'active' && at >= graceUntil) {
    suspends = true
    stmts.push(
      db
        .update(phoneNumbers)
        .set({ status: 'suspended', suspendedAt: now, renewalGraceUntil: new Date(graceUntil), updatedAt: now })
        .where(and(guard, eq(phoneNumbers.status, 'active'))),
      db
        .insert(outbox)
        .values({
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
        })
        .onConflictDoNothing(),
    )
  } else if (n.status === 'suspended' && at >= (n.suspendedAt?.getTime() ?? at) + SUSPENSION_BEFORE_RELEASE_MS) {
    releases = true
  }
  return { stmts, suspends, releases }
}

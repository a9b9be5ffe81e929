/**
 * DID monthly renewals. The daily billing cron does not charge anything itself: it reads the due
 * numbers page by page (`enqueueDidRenewals`) and sends one `jobs` message per page,
 * `{ type: 'billing.did-renewals', at, numbers: [{ id, periodStart }] }` (at = the run's time);
 * the `jobs` consumer renews the page (`runDidRenewalsJob`). A day when thousands of numbers share
 * an anniversary is then thousands of Wallet calls spread over queue messages, each retried on its
 * own, instead of one cron invocation. The invoice job renews its account's numbers whose period
 * starts in the invoiced month first (`renewAccountPeriods`), so the month's invoice lists them
 * even when their page is still in the queue.
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
 * The release is claimed first, by a compare-and-set on the number (still `suspended`, still due
 * for the period, its scheduled release unchanged → next_renewal_at NULL, release_at = now +
 * RELEASE_CLAIM_MS, reason `renewal_unpaid`): a run that paid the period meanwhile (a top-up
 * between two runs' charge attempts) has moved next_renewal_at, so the claim fails and the
 * number is kept; a run that pays after the claim fails its own compare-and-set and gives its
 * debit back (below). An upstream release that fails does not fail the run (nor the month's
 * invoice job, which renews first): the claim is undone — the number is suspended and due again,
 * its scheduled release as it was — and the next run tries again. A run that stops between the
 * claim and the release leaves the claim's release_at: the sweeper releases the number then.
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
 *   - when the phone_numbers update changed nothing and the debit was not kept by an overlapping
 *     run (whose debit is this same operation), the debit is given back (operation id
 *     `<debit op>_returned`, counted in `returned`). The credit owed is written by the success
 *     batch itself (a pending_credits row, guarded by the opposite condition), then made; a
 *     credit that fails stays pending and the sweeper makes it later, once
 *     (wallet/pending-credits.ts; counted in `returnPending`).
 *
 * Every debit is recorded before it is tried (renewal_charges, `open`), so none can be lost
 * between the Wallet and D1 — a lost reply, a batch that fails, a Worker that stops, then the
 * number released before the retry: exactly one outcome closes the record, in a D1 batch —
 * `kept` by the success batch (which applies only while the record is open) or `returned`
 * (written with its pending credit). The success batch returns it when the number is no longer
 * renewable; the sweeper (`returnAbandonedCharges`) returns open records whose number is no
 * longer renewable for their period and that no run closed. The return is a Wallet `returnDebit`:
 * it credits what the debit took only if the debit was made, and cancels a debit not made yet,
 * so a late one cannot land after it. A period charged again after a return (its release moved
 * after the period end…) takes the next record and a new operation id, never the returned one.
 *
 * Idempotent: the debit's operation id is `renew_<numberId>_<periodStart ms>` (then `…_<seq>`
 * for a charge after a return): a rerun or a retry after a crash replays the open one, never
 * debits twice; the credit back has its own operation id and the Wallet gives a debit back at
 * most once; the success batch is guarded by the condition above, did_renewals is unique per
 * (number, periodStart), the usage row per (account, transaction id) and every event id derives
 * from the number and the period; the failure's events are written only while the number is
 * still due for the period (a run that paid it meanwhile sends no false failure).
 * Each number is handled at most once per run: a number several months behind (the cron did not
 * run) pays one period per run. A message names each number with the period it was due for: a
 * redelivered message, or the page of a second run of the same day, finds the numbers it renewed
 * no longer due for that period and skips them. A number whose handling threw is retried with
 * the message (the page's other numbers are then skipped as done); the failed attempt of an
 * unpaid renewal is made at most once per UTC day of the run.
 */
import { and, asc, desc, eq, gt, gte, inArray, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm'
import { z } from 'zod'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import type { Db } from '../../db/client'
import { insertWhere } from '../../db/insert-where'
import { didRenewals, outbox, pendingCredits, phoneNumbers, renewalCharges, usageRecords, type PhoneNumber } from '../../db/schema'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import { monthOf } from '../../lib/periods'
import type { Services } from '../../services'
import { errorText, runBatch, type Stmt } from '../../db/batch'
import type { DidsService } from './dids.service'
import { UNITS } from '../usage/product-meters'
import { pendingCreditValues, settlePendingCredit } from '../wallet/pending-credits'
import { logger } from '../../lib/logger'

export const RENEWAL_PAGE = 200
export const RENEWAL_GRACE_MS = 3 * 86_400_000
export const SUSPENSION_BEFORE_RELEASE_MS = 7 * 86_400_000
export const RENEWAL_RELEASE_REASON = 'renewal_unpaid'
/**
 * A claimed release is scheduled this far ahead (wall clock): the run releases the number at once,
 * and the sweeper only when the run stopped before it did.
 */
export const RELEASE_CLAIM_MS = 15 * 60_000
/** An open renewal charge is the writer's to close for this long before the sweeper looks at it. */
export const RENEWAL_CHARGE_GRACE_MS = 60_000
/** Open renewal charges the sweeper returns per run. */
export const CHARGES_PER_RUN = 50

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
   * Present only when some were (the counts keep their shape otherwise).
   */
  returned?: number
  /** Debits to give back whose credit failed now: pending, the sweeper makes them. Present only when some were. */
  returnPending?: number
  /**
   * Releases of unpaid numbers that failed (upstream, or the run stopped): the number stays
   * suspended and the next run tries again. Present only when some did.
   */
  releaseFailed?: number
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
const day = (t: number) => new Date(t).toISOString().slice(0, 10)

/** Event ids derive from the number and the period: a rerun writes no second event. */
const eventId = (kind: 'ren' | 'rnf' | 'sus', numberId: string, periodStart: number) => `evt_${kind}_${numberId}_${periodStart}`

/** The debit of the period's `seq`-th charge (a charge after a return is a new debit). */
export const renewalOpId = (numberId: string, periodStart: number, seq = 1) => (seq === 1 ? `renew_${numberId}_${periodStart}` : `renew_${numberId}_${periodStart}_${seq}`)
/** The credit that gives the debit `debitOpId` back. */
export const returnOpOf = (debitOpId: string) => `${debitOpId}_returned`
export const renewalReturnOpId = (numberId: string, periodStart: number, seq = 1) => returnOpOf(renewalOpId(numberId, periodStart, seq))

/** A debit of a renewal period, as recorded in renewal_charges before it is tried. */
interface ChargeOp {
  opId: string
  seq: number
}

const RENEWABLE = ['active', 'suspended'] as const

/** Renewable for the period: live, still due at `periodStart`, no release scheduled before `periodEnd`. */
function renewableNow(n: Pick<PhoneNumber, 'status' | 'nextRenewalAt' | 'releaseAt'>, periodStart: number, periodEnd: number): boolean {
  return (
    (RENEWABLE as readonly string[]).includes(n.status) &&
    n.nextRenewalAt?.getTime() === periodStart &&
    !(n.releaseAt && n.releaseAt.getTime() < periodEnd)
  )
}

/**
 * The same condition in SQL, on the number's row: the success batch's compare-and-set. Values, or
 * renewal_charges' columns (the sweeper's correlated test).
 */
function renewableWhere(
  numberId: string | typeof renewalCharges.phoneNumberId,
  periodStart: number | typeof renewalCharges.periodStart,
  periodEnd: number | typeof renewalCharges.periodEnd,
): SQL {
  return and(
    eq(phoneNumbers.id, numberId),
    eq(phoneNumbers.nextRenewalAt, typeof periodStart === 'number' ? new Date(periodStart) : periodStart),
    inArray(phoneNumbers.status, [...RENEWABLE]),
    or(isNull(phoneNumbers.releaseAt), gte(phoneNumbers.releaseAt, typeof periodEnd === 'number' ? new Date(periodEnd) : periodEnd)),
  )!
}

/** `exists` form of renewableWhere, for statements on other tables (never NULL, unlike a bare comparison). */
function renewableExists(...args: Parameters<typeof renewableWhere>): SQL {
  return sql`exists (select 1 from ${phoneNumbers} where ${renewableWhere(...args)})`
}

/** The renewal charge `opId` is in `status`. */
function chargeIs(opId: string, status: 'open' | 'kept' | 'returned'): SQL {
  return sql`exists (select 1 from ${renewalCharges} where ${and(eq(renewalCharges.opId, opId), eq(renewalCharges.status, status))})`
}

type DueCursor = { t: Date; id: string }

/**
 * One page of due numbers of one status, after `cursor` in (next_renewal_at, id) order: a range
 * of phone_numbers_renewal_idx (status, next_renewal_at). Exported for the query-plan test.
 */
export function dueNumbersQuery(db: Db, status: 'active' | 'suspended', now: Date, cursor: DueCursor | null) {
  const pn = phoneNumbers
  return db
    .select({ id: pn.id, nextRenewalAt: pn.nextRenewalAt })
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

/** `jobs` message: one page of due numbers, each with the period (its next_renewal_at) it is due for. */
export const RenewalJob = z.object({
  type: z.literal('billing.did-renewals'),
  /** The billing run's time (ms): the renewal timeline (grace, suspension, release) is counted from it. */
  at: z.number().int().positive(),
  numbers: z
    .array(z.object({ id: z.string().min(1).max(64), periodStart: z.number().int() }))
    .min(1)
    .max(RENEWAL_PAGE),
})
export type RenewalJob = z.infer<typeof RenewalJob>

/** A queue batch holds at most 100 messages. */
const SEND_BATCH = 100

/**
 * The cron's part: every number due at `now` (active, then suspended), read in pages of
 * RENEWAL_PAGE in index order, one `billing.did-renewals` message per page. Reads only; the
 * jobs renew. Returns what was sent.
 */
export async function enqueueDidRenewals(services: Services, now: Date): Promise<{ pages: number; numbers: number }> {
  const seen = new Set<string>()
  const pages: RenewalJob[] = []
  let sent = 0
  let numbers = 0
  const flush = async (all: boolean) => {
    while (pages.length >= (all ? 1 : SEND_BATCH)) {
      const part = pages.splice(0, SEND_BATCH)
      await services.env.JOBS.sendBatch(part.map((body) => ({ body })))
      sent += part.length
    }
  }
  // One pass per status, so that each page is a range of phone_numbers_renewal_idx
  // (status, next_renewal_at) read in index order; a keyset cursor moves through it.
  for (const status of ['active', 'suspended'] as const) {
    let cursor: DueCursor | null = null
    for (;;) {
      const page: { id: string; nextRenewalAt: Date | null }[] = await dueNumbersQuery(services.db, status, now, cursor).all()
      if (!page.length) break
      const last = page[page.length - 1]!
      cursor = { t: last.nextRenewalAt!, id: last.id }
      // A page may be renewed while the cron still reads (its number then comes round again): once per run.
      const due = page.filter((n) => !seen.has(n.id))
      for (const n of due) seen.add(n.id)
      if (due.length) {
        pages.push({ type: 'billing.did-renewals', at: now.getTime(), numbers: due.map((n) => ({ id: n.id, periodStart: n.nextRenewalAt!.getTime() })) })
        numbers += due.length
        await flush(false)
      }
      if (page.length < RENEWAL_PAGE) break
    }
  }
  await flush(true)
  return { pages: sent, numbers }
}

/** Rows by id: one IN (…) query per 90 ids, in one batch. */
async function numbersByIds(db: Db, ids: string[]): Promise<PhoneNumber[]> {
  if (!ids.length) return []
  const queries = chunk(ids, IDS_PER_STATEMENT).map((part) => db.select().from(phoneNumbers).where(inArray(phoneNumbers.id, part)))
  return ((await db.batch(queries as [(typeof queries)[0], ...typeof queries])) as PhoneNumber[][]).flat()
}

/**
 * Renews one page: the numbers still due for the period the message names (the others were
 * renewed, released or changed since: skipped). Throws after the whole page when a number's
 * handling threw, so that the message is retried (what was done is skipped then). A release that
 * fails is not such a failure: the number stays due and the next run tries again.
 */
export async function renewDuePage(services: Services, job: RenewalJob): Promise<RenewalCounts> {
  const counts: RenewalCounts = { charged: 0, failed: 0, suspended: 0, released: 0 }
  const wanted = new Map(job.numbers.map((n) => [n.id, n.periodStart]))
  const rows = (await numbersByIds(services.db, [...wanted.keys()]))
    .filter((n) => (RENEWABLE as readonly string[]).includes(n.status) && n.nextRenewalAt?.getTime() === wanted.get(n.id))
    // The page's order: due first, as the cron read them.
    .sort((a, b) => a.nextRenewalAt!.getTime() - b.nextRenewalAt!.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const errors: string[] = []
  await renewPage(services, rows, job.at, counts, errors)
  if (errors.length) throw new Error(`${errors.length} of ${job.numbers.length} renewals failed (first: ${errors[0]})`)
  return counts
}

/** The `billing.did-renewals` job (queue `jobs`): renews its page; throws to be retried. */
export async function runDidRenewalsJob(body: unknown, services: Services): Promise<void> {
  const parsed = RenewalJob.safeParse(body)
  if (!parsed.success) {
    logger.error('billing.did-renewals: malformed job dropped', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) })
    return
  }
  const counts = await renewDuePage(services, parsed.data)
  logger.info('billing.did-renewals: page renewed', { at: new Date(parsed.data.at).toISOString(), numbers: parsed.data.numbers.length, ...counts })
}

/**
 * The account's numbers due at `at` whose period starts in [start, end), renewed now (each once):
 * the invoice job for that month runs this first, so a renewal still in the queue is on the invoice.
 * Throws only when a number's charge could not be handled (retry); a release that fails upstream
 * (a provider gone for good…) is logged and left to the next run, so it never holds the invoice up.
 */
export async function renewAccountPeriods(services: Services, userId: string, start: Date, end: Date, at: number): Promise<RenewalCounts> {
  const counts: RenewalCounts = { charged: 0, failed: 0, suspended: 0, released: 0 }
  const upTo = new Date(Math.min(end.getTime(), at + 1))
  const errors: string[] = []
  let after = ''
  for (;;) {
    const rows = await services.db
      .select()
      .from(phoneNumbers)
      .where(
        and(
          eq(phoneNumbers.userId, userId),
          inArray(phoneNumbers.status, [...RENEWABLE]),
          gte(phoneNumbers.nextRenewalAt, start),
          lt(phoneNumbers.nextRenewalAt, upTo),
          gt(phoneNumbers.id, after),
        ),
      )
      .orderBy(asc(phoneNumbers.id))
      .limit(RENEWAL_PAGE)
      .all()
    if (!rows.length) break
    after = rows[rows.length - 1]!.id
    await renewPage(services, rows, at, counts, errors)
    if (rows.length < RENEWAL_PAGE) break
  }
  if (errors.length) throw new Error(`${errors.length} renewals of the account failed (first: ${errors[0]})`)
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

async function renewPage(services: Services, page: PhoneNumber[], at: number, counts: RenewalCounts, errors: string[]) {
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
  const toRelease: { n: PhoneNumber; periodStart: number }[] = []

  for (const { n: read, periodStart, periodEnd } of work) {
    const prior = failedRows.get(`${read.id}:${periodStart}`)
    try {
      // The page may be old by now: the number as it is just before its debit.
      const n = await db.select().from(phoneNumbers).where(eq(phoneNumbers.id, read.id)).get()
      if (!n || !renewableNow(n, periodStart, periodEnd)) continue
      // Tried on the run's day (or later: a message of an earlier run delivered late) → not again.
      const triedToday = prior !== undefined && utcDay(prior.lastAttemptAt.getTime()) >= utcDay(at)
      let paid: { op: ChargeOp | null } | null = null
      if (!triedToday) {
        paid = await charge(services, n, periodStart, periodEnd)
        if (!paid) counts.failed++
      }
      if (paid) {
        // The guarded statements first: the last one, the number's compare-and-set, renews it.
        const results = await runBatch(db, successStatements(db, n, prior, paid.op, periodStart, periodEnd, at))
        if (changes(results.at(-1)) > 0) counts.charged++
        else if (paid.op) await returnCharge(services, paid.op, counts)
        continue
      }
      const { stmts, suspendStmt, releases } = failureStatements(db, n, prior, !triedToday, periodStart, at)
      const results = await runBatch(db, stmts)
      if (suspendStmt !== null && changes(results[suspendStmt]) > 0) counts.suspended++
      if (releases) toRelease.push({ n, periodStart })
    } catch (e) {
      errors.push(`${read.id}: ${errorText(e)}`)
      logger.error('renewal failed; the page is retried', { job: 'billing', step: 'did-renewals', numberId: read.id, periodStart: new Date(periodStart).toISOString(), error: errorText(e) })
    }
  }

  if (toRelease.length) await releaseUnpaid(services, toRelease, at, counts)
}

const changes = (r: unknown) => (r as D1Result | undefined)?.meta.changes ?? 0

/**
 * Releases numbers unpaid past their suspension. Each is claimed first (module comment): only a
 * number still suspended and due for the period is released, so a run that paid it meanwhile
 * keeps it. A release that fails upstream is undone (the next run tries again); none fails the
 * run — it is logged and counted in `releaseFailed`.
 */
async function releaseUnpaid(services: Services, items: { n: PhoneNumber; periodStart: number }[], at: number, counts: RenewalCounts): Promise<void> {
  const db = services.db
  const now = new Date(at)
  // Wall clock: the sweeper's schedule, should this run stop before the release.
  const claimedUntil = new Date(Date.now() + RELEASE_CLAIM_MS)
  const failed = (n: number, message: string, fields: Record<string, unknown>) => {
    counts.releaseFailed = (counts.releaseFailed ?? 0) + n
    logger.error(message, { job: 'billing', step: 'did-renewals-release', ...fields })
  }

  let claimed: { n: PhoneNumber; periodStart: number }[]
  try {
    const results = await runBatch(
      db,
      items.map(({ n, periodStart }) =>
        db
          .update(phoneNumbers)
          .set({ nextRenewalAt: null, releaseAt: claimedUntil, releaseReason: RENEWAL_RELEASE_REASON, updatedAt: now })
          .where(
            and(
              eq(phoneNumbers.id, n.id),
              eq(phoneNumbers.status, 'suspended'),
              eq(phoneNumbers.nextRenewalAt, new Date(periodStart)),
              n.releaseAt ? eq(phoneNumbers.releaseAt, n.releaseAt) : isNull(phoneNumbers.releaseAt),
            ),
          ),
      ),
    )
    claimed = items.filter((_, i) => changes(results[i]) > 0)
  } catch (e) {
    // Nothing claimed: the numbers are still due, the next run tries again.
    return failed(items.length, 'release not claimed; the next run tries again', { numberIds: items.map((i) => i.n.id), error: errorText(e) })
  }
  if (!claimed.length) return

  let result: Awaited<ReturnType<DidsService['releaseNow']>>
  try {
    result = await services.dids.releaseNow(
      claimed.map((c) => c.n),
      at,
      RENEWAL_RELEASE_REASON,
    )
  } catch (e) {
    // Stopped midway (some may be released upstream already): the claims stand, and the sweeper
    // releases the numbers at claimedUntil through the same path.
    return failed(claimed.length, 'release interrupted; the sweeper finishes it', { numberIds: claimed.map((c) => c.n.id), releaseAt: claimedUntil.toISOString(), error: errorText(e) })
  }
  counts.released += result.released.length
  if (!result.failed.length) return

  // Refused upstream: the claim is undone (due for the period again, the scheduled release as it was).
  const periodOf = new Map(claimed.map((c) => [c.n.id, c.periodStart]))
  for (const f of result.failed) failed(1, 'release failed upstream; the next run tries again', { numberId: f.row.id, error: errorText(f.error) })
  try {
    await runBatch(
      db,
      result.failed.map(({ row }) =>
        db
          .update(phoneNumbers)
          .set({ nextRenewalAt: new Date(periodOf.get(row.id)!), releaseAt: row.releaseAt, releaseReason: row.releaseReason, updatedAt: now })
          .where(and(eq(phoneNumbers.id, row.id), eq(phoneNumbers.status, 'suspended'), isNull(phoneNumbers.nextRenewalAt), eq(phoneNumbers.releaseAt, claimedUntil))),
      ),
    )
  } catch (e) {
    logger.error('claim not undone; the sweeper releases the numbers', { job: 'billing', step: 'did-renewals-release', numberIds: result.failed.map((f) => f.row.id), error: errorText(e) })
  }
}

/**
 * Debits the period from the wallet: `{ op }` when paid (or replayed; `op` null for a free
 * number), null when funds are short. The debit is recorded (renewal_charges, `open`) before it
 * is tried: the open record of the period is reused (a retry replays its debit), otherwise the
 * next one is opened — after a returned debit, under a new operation id.
 */
async function charge(services: Services, n: PhoneNumber, periodStart: number, periodEnd: number): Promise<{ op: ChargeOp | null } | null> {
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
 * The debit was made but the batch renewed nothing: the number stopped being renewable in between
 * (or an overlapping run renewed it first, keeping this same debit). The batch wrote the credit
 * owed unless the debit was kept; it is made now, or by the sweeper when this try fails.
 */
async function returnCharge(services: Services, op: ChargeOp, counts: RenewalCounts): Promise<void> {
  const r = await settlePendingCredit(services, returnOpOf(op.opId))
  if (r.status === 'credited') counts.returned = (counts.returned ?? 0) + 1
  else if (r.status === 'failed') counts.returnPending = (counts.returnPending ?? 0) + 1
}

interface ChargeRecord {
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
function returnStatements(db: Db, c: ChargeRecord, at: Date): Stmt[] {
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

/**
 * The period paid: the did_renewals row charged (a failed one moved to charged), the prepaid usage
 * row, NUMBER_RENEWED, the charge record kept, then the number's compare-and-set. Every statement
 * before it applies only while the number is renewable for the period and (for a priced number)
 * its charge record is open — the compare-and-set then requires the record kept by this batch —
 * so either all of them apply or none does; the caller reads the last statement's changes. First
 * of all, guarded by the opposite condition, the return of the debit: exactly one of the two
 * outcomes is recorded for a debit.
 */
function successStatements(db: Db, n: PhoneNumber, prior: DidRenewal | undefined, op: ChargeOp | null, periodStart: number, periodEnd: number, at: number): Stmt[] {
  const now = new Date(at)
  const start = new Date(periodStart)
  const end = new Date(periodEnd)
  const renewable = renewableWhere(n.id, periodStart, periodEnd)
  const live = renewableExists(n.id, periodStart, periodEnd)
  const guard = op ? sql`${live} and ${chargeIs(op.opId, 'open')}` : live
  const record: ChargeRecord | null = op
    ? { opId: op.opId, userId: n.userId, numberId: n.id, phoneNumber: n.phoneNumber, amount: n.monthlyPrice, periodStart, periodEnd }
    : null
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
function failureStatements(db: Db, n: PhoneNumber, prior: DidRenewal | undefined, attempted: boolean, periodStart: number, at: number) {
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
      db.update(phoneNumbers).set({ renewalGraceUntil: new Date(graceUntil), updatedAt: now }).where(due),
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

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
import { and, asc, eq, gt, gte, inArray, lt, lte, or } from 'drizzle-orm'
import { z } from 'zod'
import type { Db } from '../../db/client'
import { phoneNumbers, type PhoneNumber } from '../../db/schema'
import type { Services } from '../../services'
import { errorText, runBatch } from '../../db/batch'
import { settlePendingCredit } from '../wallet/pending-credits'
import { logger } from '../../lib/logger'
import { periodEndFor, returnOpOf, utcDay } from './renewal-periods'
import { changes, failedRenewals, failureStatements, numbersByIds, RENEWABLE, renewableNow, successStatements, type ChargeOp } from './renewals.statements'
import { charge } from './renewal-charges'
import { releaseUnpaid } from './renewal-release'

export const RENEWAL_PAGE = 200

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
        and(eq(phoneNumbers.userId, userId), inArray(phoneNumbers.status, [...RENEWABLE]), gte(phoneNumbers.nextRenewalAt, start), lt(phoneNumbers.nextRenewalAt, upTo), gt(phoneNumbers.id, after)),
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
  const failedRows = await failedRenewals(
    db,
    work.map((w) => w.n.id),
  )
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

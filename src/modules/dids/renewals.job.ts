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
 *     (operation id `renew_<numberId>_<periodStart ms>_returned`, counted in `returned`). The
 *     credit owed is written by the success batch itself (a pending_credits row, guarded by the
 *     opposite condition: not renewable and not charged), then made; a credit that fails stays
 *     pending and the sweeper makes it later, once (wallet/pending-credits.ts; counted in
 *     `returnPending`).
 *
 * Idempotent: the debit's operation id is `renew_<numberId>_<periodStart ms>` (a rerun or a
 * retry after a crash replays it, never debits twice), the credit back has its own operation id
 * (never credited twice); the success batch is guarded by the condition above, did_renewals is
 * unique per (number, periodStart), the usage row per (account, transaction id) and every event
 * id derives from the number and the period.
 * Each number is handled at most once per run: a number several months behind (the cron did not
 * run) pays one period per run. A message names each number with the period it was due for: a
 * redelivered message, or the page of a second run of the same day, finds the numbers it renewed
 * no longer due for that period and skips them. A number whose handling threw is retried with
 * the message (the page's other numbers are then skipped as done); the failed attempt of an
 * unpaid renewal is made at most once per UTC day of the run.
 */
import { and, asc, eq, gt, gte, inArray, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm'
import { z } from 'zod'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import type { Db } from '../../db/client'
import { insertWhere } from '../../db/insert-where'
import { didRenewals, outbox, pendingCredits, phoneNumbers, usageRecords, type PhoneNumber } from '../../db/schema'
import { AppError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import type { Services } from '../../services'
import { errorText, runBatch, type Stmt } from './batch'
import { didsOf } from './deps'
import { UNITS } from '../usage/product-meters'
import { pendingCreditValues, settlePendingCredit } from '../wallet/pending-credits'

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
   * Present only when some were (the counts keep their shape otherwise).
   */
  returned?: number
  /** Debits to give back whose credit failed now: pending, the sweeper makes them. Present only when some were. */
  returnPending?: number
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
 * handling threw, so that the message is retried (what was done is skipped then).
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
    console.error(JSON.stringify({ level: 'error', message: 'billing.did-renewals: malformed job dropped', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }))
    return
  }
  const counts = await renewDuePage(services, parsed.data)
  console.log(JSON.stringify({ level: 'info', message: 'billing.did-renewals: page renewed', at: new Date(parsed.data.at).toISOString(), numbers: parsed.data.numbers.length, ...counts }))
}

/**
 * The account's numbers due at `at` whose period starts in [start, end), renewed now (each once):
 * the invoice job for that month runs this first, so a renewal still in the queue is on the invoice.
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
  const toRelease: PhoneNumber[] = []

  for (const { n: read, periodStart, periodEnd } of work) {
    const prior = failedRows.get(`${read.id}:${periodStart}`)
    try {
      // The page may be old by now: the number as it is just before its debit.
      const n = await db.select().from(phoneNumbers).where(eq(phoneNumbers.id, read.id)).get()
      if (!n || !renewableNow(n, periodStart, periodEnd)) continue
      // Tried on the run's day (or later: a message of an earlier run delivered late) → not again.
      const triedToday = prior !== undefined && utcDay(prior.lastAttemptAt.getTime()) >= utcDay(at)
      let paid = false
      if (!triedToday) {
        paid = await charge(services, n, periodStart, periodEnd)
        if (!paid) counts.failed++
      }
      if (paid) {
        // The guarded statements first: the last one, the number's compare-and-set, renews it.
        const results = await runBatch(db, successStatements(db, n, prior, periodStart, periodEnd, at))
        if (((results.at(-1) as D1Result | undefined)?.meta.changes ?? 0) > 0) counts.charged++
        else await returnCharge(services, n, periodStart, counts)
        continue
      }
      const { stmts, suspends, releases } = failureStatements(db, n, prior, !triedToday, periodStart, at)
      await runBatch(db, stmts)
      if (suspends) counts.suspended++
      if (releases) toRelease.push(n)
    } catch (e) {
      errors.push(`${read.id}: ${errorText(e)}`)
      console.error(JSON.stringify({ level: 'error', job: 'billing', step: 'did-renewals', numberId: read.id, periodStart: new Date(periodStart).toISOString(), error: errorText(e) }))
    }
  }

  if (toRelease.length) {
    const { released, failed } = await didsOf(services).releaseNow(toRelease, at, RENEWAL_RELEASE_REASON)
    counts.released += released.length
    for (const f of failed) {
      errors.push(`${f.row.id}: release: ${errorText(f.error)}`)
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
 * (or an overlapping run renewed it first). The batch wrote the credit owed unless the period is
 * recorded as charged (then the debit, shared by operation id, paid that charge); it is made now,
 * or by the sweeper when this try fails.
 */
async function returnCharge(services: Services, n: PhoneNumber, periodStart: number, counts: RenewalCounts): Promise<void> {
  if (n.monthlyPrice <= 0) return
  const r = await settlePendingCredit(services, renewalReturnOpId(n.id, periodStart))
  if (r.status === 'credited') counts.returned = (counts.returned ?? 0) + 1
  else if (r.status === 'failed') counts.returnPending = (counts.returnPending ?? 0) + 1
}

/**
 * The period paid: the did_renewals row charged (a failed one moved to charged), the prepaid usage
 * row, NUMBER_RENEWED, then the number's compare-and-set. Every statement before it applies only
 * while the number is renewable for the period (the compare-and-set's own condition), so either
 * all of them apply or none does; the caller reads the last statement's changes. First of all,
 * guarded by the opposite condition (and the period not charged by another run), the credit of
 * the debit owed back: exactly one of the two outcomes is recorded.
 */
function successStatements(db: Db, n: PhoneNumber, prior: DidRenewal | undefined, periodStart: number, periodEnd: number, at: number): Stmt[] {
  const now = new Date(at)
  const start = new Date(periodStart)
  const end = new Date(periodEnd)
  const renewable = renewableWhere(n.id, periodStart, periodEnd)
  const guard = sql`exists (select 1 from ${phoneNumbers} where ${renewable})`
  const charged = sql`exists (select 1 from ${didRenewals} where ${and(eq(didRenewals.phoneNumberId, n.id), eq(didRenewals.periodStart, start), eq(didRenewals.status, 'charged'))})`
  // The debit is owed back when nothing below applies and no other run charged the period:
  // written here, with the same view of the rows as the statements below, so it cannot be lost.
  const owed: Stmt[] =
    n.monthlyPrice > 0
      ? [
          insertWhere(
            db,
            pendingCredits,
            // Wall-clock times: the sweeper's schedule, whatever the run's logical time.
            pendingCreditValues({
              opId: renewalReturnOpId(n.id, periodStart),
              userId: n.userId,
              amount: n.monthlyPrice,
              reference: { type: 'phone_number', id: n.id },
              description: `Monthly fee returned ${n.phoneNumber} (${day(periodStart)} – ${day(periodEnd)}): the number is no longer renewed`,
            }),
            sql`not ${guard} and not ${charged}`,
          ).onConflictDoNothing(),
        ]
      : []
  return [
    ...owed,
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

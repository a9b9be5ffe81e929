import { createExecutionContext, env } from 'cloudflare:test'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createDb } from '../../../src/db/client'
import { phoneNumbers, usageRecords } from '../../../src/db/schema'
import { newId } from '../../../src/lib/ids'
import { dueNumbersQuery, enqueueDidRenewals, RENEWAL_PAGE, RenewalJob, renewDuePage, type RenewalCounts } from '../../../src/modules/dids/renewals.job'
import { anniversary, periodEndFor, renewalOpId, renewalReturnOpId } from '../../../src/modules/dids/renewal-periods'
import { runInvoiceJob } from '../../../src/modules/billing/billing.job'
import { DidsService } from '../../../src/modules/dids/dids.service'
import { runSweeper } from '../../../src/modules/maintenance/sweeper.job'
import { addMonth } from '../../../src/modules/dids/purchase-lines'
import { creditBackoffMs } from '../../../src/modules/wallet/pending-credits'
import type { Env } from '../../../src/env'
import { createServices, type Services } from '../../../src/services'
import { call, registerUser } from '../../helpers/api'
import { fund, sandboxProvider, walletAudit, type TestProvider } from '../../helpers/catalog'
import { buy, fundedUser, inventoryStatus, lockState, micros, numberRows, outboxEvents, purchase, seedDids } from '../../helpers/dids'
import { fakeQueue } from '../../helpers/webhooks'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const iso = (t: number) => new Date(t).toISOString()

let p: TestProvider

beforeAll(async () => {
  p = await sandboxProvider()
})

// D1 is shared by the whole file and a run renews every account's due numbers: each test's
// numbers leave the renewal schedule afterwards, so the counts of the next test are its own.
afterEach(async () => {
  await env.DB.prepare(`UPDATE phone_numbers SET next_renewal_at = NULL`).run()
})

const services = () => createServices(env, createExecutionContext())

/**
 * One billing run's renewals as production makes them: the cron's pages (`enqueueDidRenewals`,
 * sent to a captured queue), then each page's job (`renewDuePage`) on `s`; the counts summed.
 */
async function runDidRenewals(s: Services, at: Date): Promise<RenewalCounts> {
  const jobs = fakeQueue()
  await enqueueDidRenewals(createServices({ ...env, JOBS: jobs } as Env, createExecutionContext()), at)
  const total: RenewalCounts = { charged: 0, failed: 0, suspended: 0, released: 0 }
  for (const body of jobs.sent) {
    const c = await renewDuePage(s, RenewalJob.parse(body))
    total.charged += c.charged
    total.failed += c.failed
    total.suspended += c.suspended
    total.released += c.released
    if (c.returned) total.returned = (total.returned ?? 0) + c.returned
    if (c.returnPending) total.returnPending = (total.returnPending ?? 0) + c.returnPending
    if (c.releaseFailed) total.releaseFailed = (total.releaseFailed ?? 0) + c.releaseFailed
  }
  return total
}
const run = (at: number) => runDidRenewals(services(), new Date(at))

/**
 * A number bought through the real purchase path (setup $1 + first month `monthly`), then moved
 * to a fixed purchase time so that the dates of the test are deterministic: purchased at
 * `purchasedAt`, first renewal on its first anniversary.
 */
async function owned(opts: { usd: number; monthly?: number; purchasedAt: number; provider?: TestProvider }) {
  const monthly = opts.monthly ?? 2
  const [phone] = await seedDids(opts.provider ?? p, [{ setup: 1, monthly }])
  const u = await fundedUser(opts.usd)
  const id = (await buy(u, [phone!]))[phone!]!
  const first = anniversary(opts.purchasedAt, 1).getTime()
  await env.DB.prepare(`UPDATE phone_numbers SET purchased_at = ?, next_renewal_at = ? WHERE id = ?`).bind(opts.purchasedAt, first, id).run()
  return { u, phone: phone!, id, first, monthly }
}

interface RenewalRow {
  id: string
  user_id: string
  phone_number_id: string
  period_start: number
  period_end: number
  amount: number
  status: string
  attempts: number
  last_attempt_at: number
  charged_at: number | null
}

async function renewals(numberId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM did_renewals WHERE phone_number_id = ? ORDER BY period_start`).bind(numberId).all<RenewalRow>()
  return results
}

async function usageRows(numberId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM usage_records WHERE resource_id = ? AND resource_type = 'did_monthly' ORDER BY month`).bind(numberId).all<Record<string, unknown>>()
  return results
}

async function numberRow(id: string) {
  return env.DB.prepare(`SELECT * FROM phone_numbers WHERE id = ?`).bind(id).first<{
    status: string
    next_renewal_at: number | null
    renewal_grace_until: number | null
    suspended_at: number | null
    released_at: number | null
    release_reason: string | null
  }>()
}

async function expectWalletSound(userId: string, balanceUsd: number) {
  const w = await walletAudit(userId)
  expect(w, JSON.stringify(w)).toMatchObject({ balance: micros(balanceUsd), ledgerSum: micros(balanceUsd), reserved: 0, activeHolds: 0, negativeAvailable: false })
}

describe('anniversaries', () => {
  it('keep the purchase day of month, clamped to the month end, without drifting', () => {
    const jan31 = Date.parse('2025-01-31T10:00:00.000Z')
    expect([1, 2, 3, 4, 12, 13].map((n) => iso(anniversary(jan31, n).getTime()))).toEqual([
      '2025-02-28T10:00:00.000Z',
      '2025-03-31T10:00:00.000Z',
      '2025-04-30T10:00:00.000Z',
      '2025-05-31T10:00:00.000Z',
      '2026-01-31T10:00:00.000Z',
      '2026-02-28T10:00:00.000Z',
    ])
    const leap = Date.parse('2024-01-31T00:00:00.000Z')
    expect(iso(anniversary(leap, 1).getTime())).toBe('2024-02-29T00:00:00.000Z')
    // The first anniversary is the purchase path's own first renewal date.
    expect(anniversary(jan31, 1).getTime()).toBe(addMonth(jan31).getTime())
    // The period after the Feb 28 anniversary ends on Mar 31, not Mar 28.
    expect(iso(periodEndFor(jan31, Date.parse('2025-02-28T10:00:00.000Z')).getTime())).toBe('2025-03-31T10:00:00.000Z')
    expect(iso(periodEndFor(jan31, Date.parse('2025-12-31T10:00:00.000Z')).getTime())).toBe('2026-01-31T10:00:00.000Z')
  })
})

describe('the due-numbers page query', () => {
  it('reads a range of phone_numbers_renewal_idx, with and without a cursor', async () => {
    const db = createDb(env.DB)
    const now = new Date('2030-01-01T00:00:00.000Z')
    for (const cursor of [null, { t: new Date('2029-12-01T00:00:00.000Z'), id: 'pn_x' }]) {
      const { sql, params } = dueNumbersQuery(db, 'suspended', now, cursor).toSQL()
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>()
      const lines = results.map((r) => r.detail)
      expect(
        lines.some((l) => /SEARCH phone_numbers USING INDEX phone_numbers_renewal_idx \(status=\? AND next_renewal_at[<>=?]/.test(l)),
        lines.join('\n'),
      ).toBe(true)
    }
  })
})

describe('runDidRenewals — funded', () => {
  it('charges once on the anniversary: ledger, did_renewals, usage row, next anniversary, event', async () => {
    const P = Date.parse('2030-03-15T09:30:00.000Z')
    const { u, phone, id, first } = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    await expectWalletSound(u.id, 7)

    // Not due yet: nothing happens.
    expect(await run(first - 1)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect(await renewals(id)).toEqual([])

    const at = first + 2 * HOUR
    expect(await run(at)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    await expectWalletSound(u.id, 5)
    const { entries } = await services().wallet.history(u.id, 1, 50)
    const debits = entries.filter((e) => e.opId === renewalOpId(id, first))
    expect(debits, JSON.stringify(entries)).toEqual([
      expect.objectContaining({ type: 'debit', amount: -micros(2), referenceType: 'phone_number', referenceId: id, description: expect.stringContaining(phone) }),
    ])

    const second = anniversary(P, 2).getTime()
    expect(await renewals(id)).toEqual([
      expect.objectContaining({ user_id: u.id, period_start: first, period_end: second, amount: micros(2), status: 'charged', attempts: 1, last_attempt_at: at, charged_at: at }),
    ])
    expect(await usageRows(id)).toEqual([
      expect.objectContaining({
        user_id: u.id,
        resource_type: 'did_monthly',
        resource_id: id,
        quantity: 1,
        unit: 'month',
        unit_price: micros(2),
        total_cost: micros(2),
        prepaid: 1,
        month: '2030-04',
        occurred_at: at,
        transaction_id: `renewal:${id}:${first}`,
        description: expect.stringContaining(phone),
      }),
    ])
    expect(await numberRow(id)).toMatchObject({ status: 'active', next_renewal_at: second, renewal_grace_until: null, suspended_at: null })
    const events = await outboxEvents('NUMBER_RENEWED', u.id)
    expect(
      events.map((e) => e.payload),
      JSON.stringify(events),
    ).toEqual([expect.objectContaining({ numberId: id, phoneNumber: phone, amount: 2, currency: 'USD', periodStart: iso(first), periodEnd: iso(second) })])
    // The API shows the new renewal date.
    const res = await call(`/api/v1/numbers/${id}`, { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.nextRenewalAt, res.text).toBe(iso(second))

    // The same run again (an overlapping or repeated trigger): nothing moves.
    expect(await run(at)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    await expectWalletSound(u.id, 5)
    expect((await renewals(id)).length).toBe(1)
    expect((await usageRows(id)).length).toBe(1)
    expect((await outboxEvents('NUMBER_RENEWED', u.id)).length).toBe(1)

    // The next month is charged on the next anniversary, into its own month.
    expect(await run(second + HOUR)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    await expectWalletSound(u.id, 3)
    expect((await usageRows(id)).map((r) => r.month)).toEqual(['2030-04', '2030-05'])
    expect((await numberRow(id))?.next_renewal_at).toBe(anniversary(P, 3).getTime())
  })

  it('a run that crashed after the debit replays it: the period is paid once', async () => {
    const P = Date.parse('2030-06-10T12:00:00.000Z')
    const { u, phone, id, first } = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    // The crashed run: the wallet debited, the D1 batch never ran.
    const r = await services().wallet.debit(u.id, { opId: renewalOpId(id, first), amount: micros(2), reference: { type: 'phone_number', id }, description: `Monthly fee ${phone}` })
    expect(r.ok).toBe(true)
    await expectWalletSound(u.id, 5)

    expect(await run(first + HOUR)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    await expectWalletSound(u.id, 5)
    expect(await renewals(id)).toEqual([expect.objectContaining({ status: 'charged', period_start: first })])
    expect((await usageRows(id)).length).toBe(1)
    expect((await numberRow(id))?.next_renewal_at).toBe(anniversary(P, 2).getTime())
  })

  it('renews every due number of every account, page after page, each once', async () => {
    const users = [await registerUser(), await registerUser()]
    for (const u of users) await fund(u.id, 10)
    const due = Date.parse('2030-09-01T00:00:00.000Z')
    const total = RENEWAL_PAGE + 5
    const at = new Date(due - 31 * DAY)
    // Rows as a purchase writes them, all due at the same instant (ties across page boundaries).
    const rows = Array.from({ length: total }, (_, i) => ({
      id: newId('pn'),
      userId: users[i % 2]!.id,
      providerId: p.id,
      phoneNumber: `+1999${String(1_000_000 + i).padStart(7, '0')}`,
      countryCode: 'us',
      numberType: 'LOCAL' as const,
      capabilities: ['SMS'],
      status: 'active' as const,
      monthlyPrice: micros(0.01),
      purchasedAt: at,
      nextRenewalAt: new Date(due),
      createdAt: at,
      updatedAt: at,
    }))
    const db = createDb(env.DB)
    // 15 bound parameters a row: 6 rows stay under D1's 100 per statement.
    for (let i = 0; i < rows.length; i += 6) await db.insert(phoneNumbers).values(rows.slice(i, i + 6))

    expect(await run(due + HOUR)).toEqual({ charged: total, failed: 0, suspended: 0, released: 0 })
    const { results } = await env.DB.prepare(`SELECT COUNT(*) AS n, COUNT(DISTINCT phone_number_id) AS d FROM did_renewals WHERE status = 'charged' AND period_start = ?`)
      .bind(due)
      .all<{ n: number; d: number }>()
    expect(results[0]).toEqual({ n: total, d: total })
    await expectWalletSound(users[0]!.id, 10 - 0.01 * Math.ceil(total / 2))
    await expectWalletSound(users[1]!.id, 10 - 0.01 * Math.floor(total / 2))
    // Again: nothing is due any more.
    expect(await run(due + 2 * HOUR)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
  })
})

describe('runDidRenewals — unpaid', () => {
  it('fails with a grace, suspends after 3 days, and a later payment re-activates', async () => {
    const P = Date.parse('2030-01-20T08:00:00.000Z')
    // $3 pays the purchase (setup 1 + month 2); nothing is left for the renewal.
    const { u, phone, id, first } = await owned({ usd: 3, monthly: 2, purchasedAt: P })
    await expectWalletSound(u.id, 0)
    const grace = first + 3 * DAY

    // Day 0: refused; still active, with a grace.
    const t0 = first + HOUR
    expect(await run(t0)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 0 })
    expect(await numberRow(id)).toMatchObject({ status: 'active', next_renewal_at: first, renewal_grace_until: grace, suspended_at: null })
    expect(await renewals(id)).toEqual([expect.objectContaining({ status: 'failed', amount: micros(2), attempts: 1, last_attempt_at: t0, charged_at: null, period_end: anniversary(P, 2).getTime() })])
    const failedEvents = await outboxEvents('NUMBER_RENEWAL_FAILED', u.id)
    expect(
      failedEvents.map((e) => e.payload),
      JSON.stringify(failedEvents),
    ).toEqual([expect.objectContaining({ numberId: id, phoneNumber: phone, amount: 2, currency: 'USD', graceUntil: iso(grace), reason: 'INSUFFICIENT_BALANCE' })])
    expect(await usageRows(id)).toEqual([])
    await expectWalletSound(u.id, 0)

    // The same UTC day again: no second attempt.
    expect(await run(t0 + 2 * HOUR)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect((await renewals(id))[0]?.attempts).toBe(1)

    // Next day: one more attempt, still in the grace, no second failure event.
    expect(await run(t0 + DAY)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 0 })
    expect(await renewals(id)).toEqual([expect.objectContaining({ status: 'failed', attempts: 2, last_attempt_at: t0 + DAY })])
    expect((await numberRow(id))?.status).toBe('active')
    expect((await outboxEvents('NUMBER_RENEWAL_FAILED', u.id)).length).toBe(1)

    // After the grace: suspended.
    const t3 = grace + HOUR
    expect(await run(t3)).toEqual({ charged: 0, failed: 1, suspended: 1, released: 0 })
    expect(await numberRow(id)).toMatchObject({ status: 'suspended', suspended_at: t3, next_renewal_at: first })
    const suspended = await outboxEvents('NUMBER_SUSPENDED', u.id)
    expect(
      suspended.map((e) => e.payload),
      JSON.stringify(suspended),
    ).toEqual([expect.objectContaining({ numberId: id, phoneNumber: phone, amount: 2, currency: 'USD', suspendedAt: iso(t3), releaseAfter: iso(t3 + 7 * DAY) })])
    const shown = await call(`/api/v1/numbers/${id}`, { token: u.accessToken })
    expect(shown.status, shown.text).toBe(200)
    expect(shown.body.data.status, shown.text).toBe('suspended')
    // A rerun that day changes nothing.
    expect(await run(t3 + HOUR)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect((await outboxEvents('NUMBER_SUSPENDED', u.id)).length).toBe(1)

    // Topped up; the next day's run pays the same period and re-activates.
    const credit = await services().wallet.credit(u.id, { opId: newId('op'), amount: micros(5), description: 'top-up' })
    expect(credit.ok).toBe(true)
    const t4 = t3 + DAY
    expect(await run(t4)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    const second = anniversary(P, 2).getTime()
    expect(await numberRow(id)).toMatchObject({ status: 'active', suspended_at: null, renewal_grace_until: null, next_renewal_at: second })
    expect(await renewals(id)).toEqual([expect.objectContaining({ status: 'charged', period_start: first, period_end: second, attempts: 4, charged_at: t4 })])
    expect(await usageRows(id)).toEqual([expect.objectContaining({ month: '2030-02', total_cost: micros(2), transaction_id: `renewal:${id}:${first}` })])
    const renewed = await outboxEvents('NUMBER_RENEWED', u.id)
    expect(
      renewed.map((e) => e.payload),
      JSON.stringify(renewed),
    ).toEqual([expect.objectContaining({ numberId: id, amount: 2, periodStart: iso(first), periodEnd: iso(second), reactivated: true })])
    await expectWalletSound(u.id, 3)
    expect((await call(`/api/v1/numbers/${id}`, { token: u.accessToken })).body.data.status).toBe('active')
  })

  it('unpaid for 3 + 7 days: released, NUMBER_RELEASED, the lock freed and the number on sale again', async () => {
    const P = Date.parse('2030-02-05T16:00:00.000Z')
    const { u, phone, id, first } = await owned({ usd: 3, monthly: 2, purchasedAt: P })
    expect(await lockState(phone)).toEqual({ holder: u.id, expiresAt: null })

    expect(await run(first + HOUR)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 0 })
    const suspendedAt = first + 3 * DAY + HOUR
    expect(await run(suspendedAt)).toEqual({ charged: 0, failed: 1, suspended: 1, released: 0 })

    // Six days later: still only suspended.
    expect(await run(suspendedAt + 6 * DAY)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 0 })
    expect((await numberRow(id))?.status).toBe('suspended')
    expect(await lockState(phone)).toEqual({ holder: u.id, expiresAt: null })

    // Seven days after the suspension: released through the release path.
    const tr = suspendedAt + 7 * DAY + HOUR
    expect(await run(tr)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 1 })
    expect(await numberRow(id)).toMatchObject({ status: 'released', released_at: tr, release_reason: 'renewal_unpaid', next_renewal_at: null })
    const released = await outboxEvents('NUMBER_RELEASED', u.id)
    expect(
      released.map((e) => e.payload),
      JSON.stringify(released),
    ).toEqual([expect.objectContaining({ numberId: id, phoneNumber: phone, reason: 'renewal_unpaid' })])
    expect(await lockState(phone)).toBeNull()
    expect(await inventoryStatus(phone)).toBe('available')
    await expectWalletSound(u.id, 0)
    expect(await renewals(id)).toEqual([expect.objectContaining({ status: 'failed', attempts: 4 })])

    // Not renewed again; nothing happens on later runs.
    expect(await run(tr + DAY)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect((await outboxEvents('NUMBER_RELEASED', u.id)).length).toBe(1)

    // Someone else can buy it now.
    const other = await fundedUser(10)
    const again = await purchase(other, [phone])
    expect(again.status, again.text).toBe(201)
    expect(again.body.data.results[0].status, again.text).toBe('SUCCESS')
    expect((await numberRows(phone)).map((r) => `${r.user_id === other.id ? 'other' : 'first'}:${r.status}`)).toEqual(['first:released', 'other:active'])
  })
})

describe('runDidRenewals — calendar and releases', () => {
  it('bought on Jan 31: renewed Feb 28, then Mar 31, then Apr 30', async () => {
    const P = Date.parse('2031-01-31T10:00:00.000Z')
    const { u, id, first } = await owned({ usd: 20, monthly: 2, purchasedAt: P })
    expect(iso(first)).toBe('2031-02-28T10:00:00.000Z')

    expect(await run(Date.parse('2031-02-28T12:00:00.000Z'))).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    expect(iso((await numberRow(id))!.next_renewal_at!)).toBe('2031-03-31T10:00:00.000Z')
    // Mar 28 is no anniversary.
    expect(await run(Date.parse('2031-03-28T12:00:00.000Z'))).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect(await run(Date.parse('2031-03-31T12:00:00.000Z'))).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    expect(iso((await numberRow(id))!.next_renewal_at!)).toBe('2031-04-30T10:00:00.000Z')

    expect((await renewals(id)).map((r) => [iso(r.period_start), iso(r.period_end), r.status])).toEqual([
      ['2031-02-28T10:00:00.000Z', '2031-03-31T10:00:00.000Z', 'charged'],
      ['2031-03-31T10:00:00.000Z', '2031-04-30T10:00:00.000Z', 'charged'],
    ])
    expect((await usageRows(id)).map((r) => r.month)).toEqual(['2031-02', '2031-03'])
    await expectWalletSound(u.id, 20 - 3 - 4)
  })

  it('a number months behind (the cron did not run) pays one period per run, oldest first', async () => {
    const P = Date.parse('2030-04-30T06:00:00.000Z')
    const { u, id, first } = await owned({ usd: 20, monthly: 2, purchasedAt: P })
    const late = anniversary(P, 3).getTime() + HOUR
    expect(await run(late)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    expect((await numberRow(id))?.next_renewal_at).toBe(anniversary(P, 2).getTime())
    expect(await run(late + DAY)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    expect(await run(late + 2 * DAY)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    expect(await run(late + 3 * DAY)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect((await renewals(id)).map((r) => r.period_start)).toEqual([first, anniversary(P, 2).getTime(), anniversary(P, 3).getTime()])
    expect((await numberRow(id))?.next_renewal_at).toBe(anniversary(P, 4).getTime())
    await expectWalletSound(u.id, 20 - 3 - 6)
  })

  it('a release scheduled before the end of the period: not charged; after it: charged; released: never', async () => {
    const P = Date.parse('2030-11-12T07:00:00.000Z')
    const early = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const within = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const later = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const gone = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const periodEnd = anniversary(P, 2).getTime()
    const schedule = async (o: { u: { accessToken: string }; id: string }, at: number) => {
      const res = await call(`/api/v1/numbers/${o.id}`, { method: 'DELETE', token: o.u.accessToken, body: { releaseDate: iso(at), reason: 'moving out' } })
      expect(res.status, res.text).toBe(200)
      expect(res.body.data.scheduledReleaseAt, res.text).toBe(iso(at))
    }
    await schedule(early, early.first - DAY)
    await schedule(within, within.first + 10 * DAY)
    await schedule(later, periodEnd + DAY)
    const del = await call(`/api/v1/numbers/${gone.id}`, { method: 'DELETE', token: gone.u.accessToken })
    expect(del.status, del.text).toBe(200)

    expect(await run(early.first + HOUR)).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    for (const o of [early, within, gone]) {
      expect(await renewals(o.id)).toEqual([])
      await expectWalletSound(o.u.id, 7)
      expect((await outboxEvents('NUMBER_RENEWED', o.u.id)).length).toBe(0)
    }
    expect((await numberRow(early.id))?.status).toBe('active')
    expect(await numberRow(within.id)).toMatchObject({ status: 'active', next_renewal_at: within.first })
    expect(await renewals(later.id)).toEqual([expect.objectContaining({ status: 'charged', period_start: later.first })])
    await expectWalletSound(later.u.id, 5)
  })
})

describe('runDidRenewals — the number changes while the run charges', () => {
  const MINUTE = 60_000

  /** The user's ledger entries of a period's renewal: its debit and its return, if any. */
  async function renewalEntries(userId: string, numberId: string, periodStart: number) {
    const { entries } = await services().wallet.history(userId, 1, 100)
    const ops = [renewalOpId(numberId, periodStart), renewalReturnOpId(numberId, periodStart)]
    return entries.filter((e) => ops.includes(e.opId)).map((e) => ({ type: e.type, amount: e.amount, opId: e.opId }))
  }

  /** Services whose wallet runs `after(opId)` right after each real debit (before the job's batch). */
  function servicesWithDebitHook(after: (opId: string) => Promise<void>) {
    const s = services()
    const debit = s.wallet.debit.bind(s.wallet)
    s.wallet.debit = async (userId, op) => {
      const r = await debit(userId, op)
      // A refusal for want of money is no debit.
      if (r.ok || r.reason !== 'INSUFFICIENT_BALANCE') await after(op.opId)
      return r
    }
    return s
  }

  it('released (or its release scheduled) after the page was read: the debit is returned, nothing is recorded; a rerun changes nothing', async () => {
    const P = Date.parse('2031-06-03T11:00:00.000Z')
    // Due one after the other, in this order, in the same page.
    const gone = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const leaving = await owned({ usd: 10, monthly: 2, purchasedAt: P + MINUTE })
    const skipped = await owned({ usd: 10, monthly: 2, purchasedAt: P + 2 * MINUTE })
    const all = [gone, leaving, skipped]
    for (const o of all) await expectWalletSound(o.u.id, 7)
    const entriesBefore = await Promise.all(all.map(async (o) => (await walletAudit(o.u.id)).entries))

    const releaseNow = async (o: typeof gone) => {
      const res = await call(`/api/v1/numbers/${o.id}`, { method: 'DELETE', token: o.u.accessToken })
      expect(res.status, res.text).toBe(200)
    }
    const s = servicesWithDebitHook(async (opId) => {
      // Released through the release path right after its debit; `skipped` too, before its own.
      if (opId === renewalOpId(gone.id, gone.first)) {
        await releaseNow(gone)
        await releaseNow(skipped)
      }
      // A release scheduled before the end of the period right after its debit.
      if (opId === renewalOpId(leaving.id, leaving.first)) {
        const res = await call(`/api/v1/numbers/${leaving.id}`, { method: 'DELETE', token: leaving.u.accessToken, body: { releaseDate: iso(leaving.first + 10 * DAY), reason: 'moving out' } })
        expect(res.status, res.text).toBe(200)
      }
    })

    const at = skipped.first + HOUR
    expect(await runDidRenewals(s, new Date(at))).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0, returned: 2 })

    const check = async () => {
      for (const o of all) {
        await expectWalletSound(o.u.id, 7)
        expect(await renewals(o.id)).toEqual([])
        expect(await usageRows(o.id)).toEqual([])
        expect((await outboxEvents('NUMBER_RENEWED', o.u.id)).length).toBe(0)
      }
      // Debited and credited back, once each.
      for (const o of [gone, leaving]) {
        expect(await renewalEntries(o.u.id, o.id, o.first)).toEqual([
          { type: 'credit', amount: micros(2), opId: renewalReturnOpId(o.id, o.first) },
          { type: 'debit', amount: -micros(2), opId: renewalOpId(o.id, o.first) },
        ])
      }
      // Seen released before its debit: never debited.
      expect(await renewalEntries(skipped.u.id, skipped.id, skipped.first)).toEqual([])
      expect(await Promise.all(all.map(async (o) => (await walletAudit(o.u.id)).entries))).toEqual([entriesBefore[0]! + 2, entriesBefore[1]! + 2, entriesBefore[2]!])
      expect(await numberRow(gone.id)).toMatchObject({ status: 'released', next_renewal_at: null })
      expect(await numberRow(skipped.id)).toMatchObject({ status: 'released', next_renewal_at: null })
      expect(await numberRow(leaving.id)).toMatchObject({ status: 'active', next_renewal_at: leaving.first })
    }
    await check()

    // Rerun, plain and with the same hook: nothing moves, nothing is credited twice.
    expect(await run(at)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect(await runDidRenewals(s, new Date(at + HOUR))).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    await check()
  })

  it('a credit-back that fails is kept pending and made later by the sweeper, exactly once', async () => {
    const P = Date.parse('2031-08-04T10:00:00.000Z')
    const o = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    await expectWalletSound(o.u.id, 7)
    // Released right after its debit: the debit is owed back …
    const s = servicesWithDebitHook(async (opId) => {
      if (opId !== renewalOpId(o.id, o.first)) return
      const res = await call(`/api/v1/numbers/${o.id}`, { method: 'DELETE', token: o.u.accessToken })
      expect(res.status, res.text).toBe(200)
    })
    // … and the Wallet cannot be reached to give it back.
    const giveBack = s.wallet.returnDebit.bind(s.wallet)
    s.wallet.returnDebit = async (userId, op) => {
      if (op.opId === renewalReturnOpId(o.id, o.first)) throw new Error('Wallet unreachable')
      return giveBack(userId, op)
    }
    const pending = () => env.DB.prepare(`SELECT * FROM pending_credits WHERE op_id = ?`).bind(renewalReturnOpId(o.id, o.first)).first<Record<string, any>>()

    const at = o.first + HOUR
    expect(await runDidRenewals(s, new Date(at))).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0, returnPending: 1 })
    // Debited, not yet given back; the debt is recorded.
    await expectWalletSound(o.u.id, 5)
    expect(await pending()).toMatchObject({ user_id: o.u.id, amount: micros(2), status: 'pending', attempts: 1, last_error: 'Wallet unreachable', reference_type: 'phone_number', reference_id: o.id })
    expect(await renewals(o.id)).toEqual([])

    // A rerun finds the number released: nothing moves, the debt stays.
    expect(await run(at + HOUR)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    await expectWalletSound(o.u.id, 5)

    // The sweeper: not before the backoff; then the credit is made, once.
    await runSweeper(services(), Date.now())
    await expectWalletSound(o.u.id, 5)
    await runSweeper(services(), Date.now() + creditBackoffMs(1) + 1000)
    await expectWalletSound(o.u.id, 7)
    expect(await pending()).toMatchObject({ status: 'done', done_at: expect.any(Number) })
    await runSweeper(services(), Date.now() + 2 * HOUR)
    expect(await run(at + 2 * HOUR)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    await expectWalletSound(o.u.id, 7)
    expect(await renewalEntries(o.u.id, o.id, o.first)).toEqual([
      { type: 'credit', amount: micros(2), opId: renewalReturnOpId(o.id, o.first) },
      { type: 'debit', amount: -micros(2), opId: renewalOpId(o.id, o.first) },
    ])
  })

  it('renewed by an overlapping run between the debit and the batch: charged once, nothing returned', async () => {
    const P = Date.parse('2031-07-09T05:00:00.000Z')
    const { u, id, first } = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const at = first + HOUR
    let inner: Awaited<ReturnType<typeof run>> | undefined
    const s = servicesWithDebitHook(async (opId) => {
      // The other run replays the same debit and renews the number first.
      if (opId === renewalOpId(id, first)) inner = await run(at)
    })
    expect(await runDidRenewals(s, new Date(at))).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    expect(inner).toEqual({ charged: 1, failed: 0, suspended: 0, released: 0 })
    await expectWalletSound(u.id, 5)
    expect(await renewalEntries(u.id, id, first)).toEqual([{ type: 'debit', amount: -micros(2), opId: renewalOpId(id, first) }])
    expect(await renewals(id)).toEqual([expect.objectContaining({ status: 'charged', period_start: first, attempts: 1 })])
    expect((await usageRows(id)).length).toBe(1)
    expect((await outboxEvents('NUMBER_RENEWED', u.id)).length).toBe(1)
    expect((await numberRow(id))?.next_renewal_at).toBe(anniversary(P, 2).getTime())
  })

  /** Services whose wallet runs `onRefused(opId)` after each debit the wallet refused (before the job's failure batch). */
  function servicesWithRefusalHook(onRefused: (opId: string) => Promise<void>) {
    const s = services()
    const debit = s.wallet.debit.bind(s.wallet)
    s.wallet.debit = async (userId, op) => {
      const r = await debit(userId, op)
      if (!r.ok && r.reason === 'INSUFFICIENT_BALANCE') await onRefused(op.opId)
      return r
    }
    return s
  }

  /** Every renewal entry of the number in the user's ledger, oldest first. */
  async function numberEntries(userId: string, numberId: string) {
    const { entries } = await services().wallet.history(userId, 1, 100)
    return entries
      .filter((e) => e.opId.startsWith(`renew_${numberId}_`))
      .reverse()
      .map((e) => ({ type: e.type, amount: e.amount, opId: e.opId }))
  }

  /** The page message naming one number for its first period, as the cron sends it. */
  const pageOf = (o: { id: string; first: number }, at: number) => RenewalJob.parse({ type: 'billing.did-renewals', at, numbers: [{ id: o.id, periodStart: o.first }] })

  const releaseViaApi = async (o: { id: string; u: { accessToken: string } }) => {
    const res = await call(`/api/v1/numbers/${o.id}`, { method: 'DELETE', token: o.u.accessToken })
    expect(res.status, res.text).toBe(200)
  }

  const nothing = { charged: 0, failed: 0, suspended: 0, released: 0 }

  it('the page fails after its debit and the number is released before the retry: the fee is given back by the sweeper, once', async () => {
    const P = Date.parse('2031-09-02T10:00:00.000Z')
    const o = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const at = o.first + HOUR
    // The wallet debits, but its answer is lost: the page fails after the debit, before its batch.
    const s = servicesWithDebitHook(async (opId) => {
      if (opId === renewalOpId(o.id, o.first)) throw new Error('wallet reply lost')
    })
    await expect(renewDuePage(s, pageOf(o, at))).rejects.toThrow(/1 of 1 renewals failed/)
    await expectWalletSound(o.u.id, 5)

    // Released before the message comes back; the retry finds it no longer renewable.
    await releaseViaApi(o)
    expect(await renewDuePage(services(), pageOf(o, at))).toEqual(nothing)
    expect(await renewals(o.id)).toEqual([])

    // The sweeper gives the fee back once the writer's grace is over, and only once.
    await runSweeper(services(), Date.now() + 2 * MINUTE)
    await expectWalletSound(o.u.id, 7)
    await runSweeper(services(), Date.now() + 2 * HOUR)
    expect(await run(at + DAY)).toEqual(nothing)
    await expectWalletSound(o.u.id, 7)
    expect(await numberEntries(o.u.id, o.id)).toEqual([
      { type: 'debit', amount: -micros(2), opId: renewalOpId(o.id, o.first) },
      { type: 'credit', amount: micros(2), opId: renewalReturnOpId(o.id, o.first) },
    ])
    expect(await renewals(o.id)).toEqual([])
    expect(await usageRows(o.id)).toEqual([])
  })

  it('the page stops before its debit and the number is released: nothing is credited, and that debit can no longer be made', async () => {
    const P = Date.parse('2031-09-20T10:00:00.000Z')
    const o = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const at = o.first + HOUR
    const s = services()
    s.wallet.debit = async () => {
      throw new Error('Worker stopped before the debit')
    }
    await expect(renewDuePage(s, pageOf(o, at))).rejects.toThrow(/Worker stopped/)
    await releaseViaApi(o)

    await runSweeper(services(), Date.now() + 2 * MINUTE)
    await expectWalletSound(o.u.id, 7)
    expect(await numberEntries(o.u.id, o.id)).toEqual([])
    // The debit arriving late (a call delayed in flight) takes nothing.
    const late = await services().wallet.debit(o.u.id, { opId: renewalOpId(o.id, o.first), amount: micros(2) })
    expect(late).toMatchObject({ ok: false, reason: 'OPERATION_CANCELLED' })
    await expectWalletSound(o.u.id, 7)
    expect(await numberEntries(o.u.id, o.id)).toEqual([])
  })

  it('a fee given back, then the number renewable again: the next charge is a new debit, not a replay of the returned one', async () => {
    const P = Date.parse('2031-10-06T10:00:00.000Z')
    const o = await owned({ usd: 10, monthly: 2, purchasedAt: P })
    const periodEnd = anniversary(P, 2).getTime()
    const schedule = async (when: number) => {
      const res = await call(`/api/v1/numbers/${o.id}`, { method: 'DELETE', token: o.u.accessToken, body: { releaseDate: iso(when), reason: 'moving out' } })
      expect(res.status, res.text).toBe(200)
    }
    // A release scheduled inside the period right after the debit: the fee is given back.
    const s = servicesWithDebitHook(async (opId) => {
      if (opId === renewalOpId(o.id, o.first)) await schedule(o.first + 10 * DAY)
    })
    const at = o.first + HOUR
    expect(await runDidRenewals(s, new Date(at))).toEqual({ ...nothing, returned: 1 })
    await expectWalletSound(o.u.id, 7)

    // The release moved after the period: renewable again, and the period is really paid.
    await schedule(periodEnd + DAY)
    expect(await run(at + HOUR)).toEqual({ ...nothing, charged: 1 })
    await expectWalletSound(o.u.id, 5)
    expect(await numberEntries(o.u.id, o.id)).toEqual([
      { type: 'debit', amount: -micros(2), opId: renewalOpId(o.id, o.first) },
      { type: 'credit', amount: micros(2), opId: renewalReturnOpId(o.id, o.first) },
      { type: 'debit', amount: -micros(2), opId: renewalOpId(o.id, o.first, 2) },
    ])
    expect(await renewals(o.id)).toEqual([expect.objectContaining({ status: 'charged', period_start: o.first })])
    expect((await usageRows(o.id)).length).toBe(1)
    expect((await numberRow(o.id))?.next_renewal_at).toBe(periodEnd)
    expect(await run(at + 2 * HOUR)).toEqual(nothing)
    await runSweeper(services(), Date.now() + 2 * HOUR)
    await expectWalletSound(o.u.id, 5)
  })

  it('on its release day, a suspended number paid by an overlapping run after a top-up is not released', async () => {
    const P = Date.parse('2031-11-07T16:00:00.000Z')
    const o = await owned({ usd: 3, monthly: 2, purchasedAt: P })
    expect(await run(o.first + HOUR)).toEqual({ ...nothing, failed: 1 })
    const suspendedAt = o.first + 3 * DAY + HOUR
    expect(await run(suspendedAt)).toEqual({ ...nothing, failed: 1, suspended: 1 })
    const releaseDay = suspendedAt + 7 * DAY + HOUR

    // Run A is refused; a top-up lands; run B charges and reactivates the number; then A goes on.
    let other: RenewalCounts | undefined
    const a = servicesWithRefusalHook(async (opId) => {
      if (other || !opId.startsWith(`renew_${o.id}_`)) return
      const c = await services().wallet.credit(o.u.id, { opId: newId('op'), amount: micros(5), description: 'top-up' })
      expect(c.ok).toBe(true)
      other = await run(releaseDay)
    })
    expect(await runDidRenewals(a, new Date(releaseDay))).toEqual({ ...nothing, failed: 1 })
    expect(other).toEqual({ ...nothing, charged: 1 })

    const second = anniversary(P, 2).getTime()
    expect(await numberRow(o.id)).toMatchObject({ status: 'active', next_renewal_at: second, released_at: null, suspended_at: null })
    expect(await outboxEvents('NUMBER_RELEASED', o.u.id)).toEqual([])
    expect(await lockState(o.phone)).toEqual({ holder: o.u.id, expiresAt: null })
    expect(await renewals(o.id)).toEqual([expect.objectContaining({ status: 'charged', period_start: o.first })])
    await expectWalletSound(o.u.id, 3)
  })

  it('a refusal overtaken by an overlapping run that paid writes no NUMBER_RENEWAL_FAILED and no NUMBER_SUSPENDED', async () => {
    const P = Date.parse('2031-12-08T08:00:00.000Z')
    const overtake = (o: { id: string; u: { id: string } }, at: number, box: { other?: RenewalCounts }) =>
      servicesWithRefusalHook(async (opId) => {
        if (box.other || !opId.startsWith(`renew_${o.id}_`)) return
        const c = await services().wallet.credit(o.u.id, { opId: newId('op'), amount: micros(5), description: 'top-up' })
        expect(c.ok).toBe(true)
        box.other = await run(at)
      })

    // On the anniversary: A is refused, B pays, then A writes its failure.
    const o = await owned({ usd: 3, monthly: 2, purchasedAt: P })
    const box: { other?: RenewalCounts } = {}
    expect(await runDidRenewals(overtake(o, o.first + HOUR, box), new Date(o.first + HOUR))).toEqual({ ...nothing, failed: 1 })
    expect(box.other).toEqual({ ...nothing, charged: 1 })
    expect(await outboxEvents('NUMBER_RENEWAL_FAILED', o.u.id)).toEqual([])
    expect(await numberRow(o.id)).toMatchObject({ status: 'active', next_renewal_at: anniversary(P, 2).getTime(), renewal_grace_until: null })
    expect(await renewals(o.id)).toEqual([expect.objectContaining({ status: 'charged', period_start: o.first, attempts: 1 })])
    await expectWalletSound(o.u.id, 3)

    // At the end of the grace: A is refused and would suspend, B pays first.
    const q = await owned({ usd: 3, monthly: 2, purchasedAt: P + MINUTE })
    expect(await run(q.first + HOUR)).toEqual({ ...nothing, failed: 1 })
    const graceOver = q.first + 3 * DAY + HOUR
    const box2: { other?: RenewalCounts } = {}
    expect(await runDidRenewals(overtake(q, graceOver, box2), new Date(graceOver))).toEqual({ ...nothing, failed: 1 })
    expect(box2.other).toEqual({ ...nothing, charged: 1 })
    expect(await outboxEvents('NUMBER_SUSPENDED', q.u.id)).toEqual([])
    expect(await numberRow(q.id)).toMatchObject({ status: 'active', next_renewal_at: anniversary(P + MINUTE, 2).getTime(), suspended_at: null })
    await expectWalletSound(q.u.id, 3)
  })
})

describe('runDidRenewals — an unpaid number whose release fails upstream', () => {
  const MINUTE = 60_000
  const setAdapter = (providerId: string, adapter: string) => env.DB.prepare(`UPDATE providers SET adapter = ? WHERE id = ?`).bind(adapter, providerId).run()

  /** An unpaid number on a provider of its own, suspended; with the day its release is due. */
  async function suspendedNumber(P: number) {
    const q = await sandboxProvider()
    const o = await owned({ usd: 3, monthly: 2, purchasedAt: P, provider: q })
    expect(await run(o.first + HOUR)).toMatchObject({ failed: 1 })
    const suspendedAt = o.first + 3 * DAY + HOUR
    expect(await run(suspendedAt)).toMatchObject({ suspended: 1 })
    return { ...o, provider: q, releaseDay: suspendedAt + 7 * DAY + HOUR }
  }

  it('does not fail the run: the number stays suspended and due, and a later run releases it', async () => {
    const o = await suspendedNumber(Date.parse('2032-01-11T09:00:00.000Z'))
    // The upstream cannot release it now (an adapter that sells no DIDs).
    await setAdapter(o.provider.id, 'herosms')
    expect(await run(o.releaseDay)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 0, releaseFailed: 1 })
    expect(await numberRow(o.id)).toMatchObject({ status: 'suspended', next_renewal_at: o.first, released_at: null })
    expect((await numberRows(o.phone))[0]).toMatchObject({ release_at: null, release_reason: null })
    expect(await outboxEvents('NUMBER_RELEASED', o.u.id)).toEqual([])
    expect(await lockState(o.phone)).toEqual({ holder: o.u.id, expiresAt: null })

    // The provider answers again: the next day's run releases it.
    await setAdapter(o.provider.id, 'sandbox')
    expect(await run(o.releaseDay + DAY)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 1 })
    expect(await numberRow(o.id)).toMatchObject({ status: 'released', release_reason: 'renewal_unpaid', next_renewal_at: null })
    expect(await lockState(o.phone)).toBeNull()
    await expectWalletSound(o.u.id, 0)
  })

  it('a run that stops between claiming the number and releasing it: the sweeper releases it', async () => {
    const o = await suspendedNumber(Date.parse('2032-02-13T09:00:00.000Z'))
    const spy = vi.spyOn(DidsService.prototype, 'releaseNow').mockRejectedValueOnce(new Error('Worker stopped'))
    try {
      expect(await run(o.releaseDay)).toEqual({ charged: 0, failed: 1, suspended: 0, released: 0, releaseFailed: 1 })
    } finally {
      spy.mockRestore()
    }
    // Claimed: no longer due, its release scheduled …
    const row = (await numberRows(o.phone))[0]!
    expect(row).toMatchObject({ status: 'suspended', next_renewal_at: null, release_reason: 'renewal_unpaid' })
    expect(row.release_at).toBeGreaterThan(Date.now())
    expect(await run(o.releaseDay + DAY)).toEqual({ charged: 0, failed: 0, suspended: 0, released: 0 })
    // … and made by the sweeper when it comes.
    await runSweeper(services(), row.release_at! + MINUTE)
    expect(await numberRow(o.id)).toMatchObject({ status: 'released', release_reason: 'renewal_unpaid', next_renewal_at: null })
    expect(await lockState(o.phone)).toBeNull()
  })

  it("does not stop the month's invoice job: the invoice is generated", async () => {
    // Period from Mar 25, suspended Mar 28, its release due on Apr 4: the invoice job of March renews it first.
    const o = await suspendedNumber(Date.parse('2032-02-25T09:00:00.000Z'))
    expect(iso(o.first)).toBe('2032-03-25T09:00:00.000Z')
    const now = new Date()
    await createDb(env.DB)
      .insert(usageRecords)
      .values({
        id: newId('usg'),
        userId: o.u.id,
        resourceType: 'sms',
        quantity: 10,
        unit: 'message',
        unitPrice: micros(0.01),
        totalCost: micros(0.1),
        month: '2032-03',
        occurredAt: new Date(Date.parse('2032-03-10T00:00:00.000Z')),
        transactionId: newId('txn'),
        updatedAt: now,
      })
    await setAdapter(o.provider.id, 'herosms')
    await runInvoiceJob({ type: 'billing.invoice', userId: o.u.id, month: '2032-03', at: o.releaseDay }, services())
    const inv = await env.DB.prepare(`SELECT * FROM invoices WHERE user_id = ? AND month = '2032-03'`).bind(o.u.id).first<Record<string, unknown>>()
    expect(inv, 'March invoice').toMatchObject({ user_id: o.u.id, month: '2032-03' })
    expect(await numberRow(o.id)).toMatchObject({ status: 'suspended', next_renewal_at: o.first })
  })
})

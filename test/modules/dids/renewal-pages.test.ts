/**
 * DID renewals go through the `jobs` queue: the billing cron only reads the due numbers and sends
 * one `billing.did-renewals` page per RENEWAL_PAGE numbers; the jobs consumer charges them. Every
 * number is renewed exactly once for its period, however often the cron runs and however often a
 * page is delivered; the month's invoice job renews its account's numbers still waiting in the queue.
 */
import { createExecutionContext, createMessageBatch, createScheduledController, env, getQueueResult, waitOnExecutionContext } from 'cloudflare:test'
import { afterEach, describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { phoneNumbers } from '../../../src/db/schema'
import type { Env } from '../../../src/env'
import worker from '../../../src/index'
import { newId } from '../../../src/lib/ids'
import { toMicros } from '../../../src/lib/money'
import { RENEWAL_PAGE } from '../../../src/modules/dids/renewals.job'
import { renewalOpId } from '../../../src/modules/dids/renewal-periods'
import { fund, walletAudit } from '../../helpers/catalog'
import { fakeQueue } from '../../helpers/webhooks'

const D = (y: number, m: number, d: number, h = 0) => Date.UTC(y, m - 1, d, h)
const BILLING = '0 3 * * *'

async function insertUser() {
  const id = newId('usr')
  await env.DB.prepare(`INSERT INTO users (id, email, password_hash, updated_at) VALUES (?, ?, 'x', ?)`).bind(id, `${id}@example.com`, Date.now()).run()
  return id
}

let providerId: string | undefined
async function provider() {
  if (providerId) return providerId
  providerId = newId('prv')
  await env.DB.prepare(
    `INSERT INTO providers (id, code, name, adapter, kinds, status, healthy, priority, config, margin_bps, margin_fixed, created_at, updated_at)
     VALUES (?, ?, 'Sandbox', 'sandbox', '["did"]', 'active', 1, 100, '{}', 0, 0, ?, ?)`,
  )
    .bind(providerId, `sbx-${providerId.slice(-8)}`, Date.now(), Date.now())
    .run()
  return providerId
}

let seq = 0
/** `count` numbers of `owners` (round robin), bought a month before `due`, all due at `due`. */
async function dueNumbers(owners: string[], count: number, due: number, monthlyUsd: number) {
  const pid = await provider()
  const bought = new Date(due - 31 * 86_400_000)
  const rows = Array.from({ length: count }, (_, i) => ({
    id: newId('pn'),
    userId: owners[i % owners.length]!,
    providerId: pid,
    phoneNumber: `+1888${String(1_000_000 + ++seq).padStart(7, '0')}`,
    countryCode: 'us',
    numberType: 'LOCAL' as const,
    capabilities: ['SMS'],
    status: 'active' as const,
    monthlyPrice: toMicros(monthlyUsd),
    purchasedAt: bought,
    nextRenewalAt: new Date(due),
    createdAt: bought,
    updatedAt: bought,
  }))
  // 15 bound parameters a row: 6 rows stay under D1's 100 per statement.
  for (let i = 0; i < rows.length; i += 6)
    await createDb(env.DB)
      .insert(phoneNumbers)
      .values(rows.slice(i, i + 6))
  return rows
}

/** The production entry points with the `jobs` and `events` queues captured. */
function harness() {
  const jobs = fakeQueue()
  const events = fakeQueue()
  const testEnv = { ...env, JOBS: jobs, EVENTS: events } as Env
  return {
    jobs,
    /** The billing cron, as Cloudflare triggers it. */
    async cron(scheduledTime: number) {
      const before = jobs.sent.length
      const ctx = createExecutionContext()
      await worker.scheduled(createScheduledController({ cron: BILLING, scheduledTime }), testEnv, ctx)
      await waitOnExecutionContext(ctx)
      return jobs.sent.slice(before) as any[]
    },
    /** One delivery of `messages` to the jobs consumer; everything must be acked. */
    async deliver(messages: { id: string; body: unknown; attempts?: number }[]) {
      const batch = createMessageBatch(
        'jobs',
        messages.map((m) => ({ id: m.id, timestamp: new Date(), attempts: m.attempts ?? 1, body: m.body })),
      )
      const ctx = createExecutionContext()
      await worker.queue(batch, testEnv, ctx)
      const q = await getQueueResult(batch, ctx)
      expect(q.retryMessages, JSON.stringify(q)).toEqual([])
      expect(q.explicitAcks.length, JSON.stringify(q)).toBe(messages.length)
    },
  }
}

const count = async (q: string, ...params: unknown[]) =>
  (await env.DB.prepare(q)
    .bind(...params)
    .first<{ n: number }>())!.n

// D1 is shared by the file and a run renews every account's due numbers: each test's numbers
// leave the renewal schedule afterwards.
afterEach(async () => {
  await env.DB.prepare(`UPDATE phone_numbers SET next_renewal_at = NULL`).run()
})

describe('DID renewals through jobs pages', () => {
  it('250 numbers sharing an anniversary: the cron sends pages and charges nothing; each number is renewed once though the cron runs twice and a page is redelivered', {
    timeout: 90_000,
  }, async () => {
    const h = harness()
    const owners = [await insertUser(), await insertUser(), await insertUser()]
    for (const u of owners) await fund(u, 10)
    const due = D(2032, 3, 15)
    const total = 250
    const rows = await dueNumbers(owners, total, due, 0.01)
    const at = D(2032, 3, 15, 3)

    // Two runs of the same day's cron (a re-trigger): pages only, no money moved, nothing recorded.
    const first = await h.cron(at)
    const second = await h.cron(at)
    for (const sent of [first, second]) {
      expect(sent.map((b) => [b.type, b.at, b.numbers.length])).toEqual([
        ['billing.did-renewals', at, RENEWAL_PAGE],
        ['billing.did-renewals', at, total - RENEWAL_PAGE],
      ])
      expect(sent.flatMap((b) => b.numbers.map((n: any) => n.id)).sort()).toEqual(rows.map((r) => r.id).sort())
      for (const b of sent) for (const n of b.numbers) expect(n.periodStart).toBe(due)
    }
    expect(await count(`SELECT COUNT(*) AS n FROM did_renewals`)).toBe(0)
    for (const u of owners) expect((await walletAudit(u)).balance).toBe(toMicros(10))

    // The consumer gets both runs' pages, and the first page once more (a redelivery).
    const messages = [...first, ...second].map((body, i) => ({ id: `page-${i}`, body }))
    await h.deliver(messages.slice(0, 2))
    await h.deliver(messages.slice(2))
    await h.deliver([{ ...messages[0]!, attempts: 2 }])

    expect(await count(`SELECT COUNT(*) AS n FROM did_renewals WHERE status = 'charged' AND period_start = ?`, due)).toBe(total)
    expect(await count(`SELECT COUNT(DISTINCT phone_number_id) AS n FROM did_renewals`)).toBe(total)
    expect(await count(`SELECT COUNT(*) AS n FROM usage_records WHERE resource_type = 'did_monthly'`)).toBe(total)
    expect(await count(`SELECT COUNT(*) AS n FROM outbox WHERE type = 'NUMBER_RENEWED'`)).toBe(total)
    expect(await count(`SELECT COUNT(*) AS n FROM phone_numbers WHERE next_renewal_at = ?`, due)).toBe(0)
    for (const [i, u] of owners.entries()) {
      const mine = rows.filter((_, k) => k % owners.length === i).length
      const w = await walletAudit(u)
      // One funding credit and one debit per number: charged exactly once each.
      expect(w, JSON.stringify(w)).toMatchObject({ balance: toMicros(10 - 0.01 * mine), ledgerSum: toMicros(10 - 0.01 * mine), entries: 1 + mine, negativeAvailable: false })
    }

    // A later run of that day has nothing left to send.
    expect(await h.cron(at + 3_600_000)).toEqual([])
  })

  it("on the 1st, the month's invoice job renews its account's numbers still in the queue: on the invoice, charged once", async () => {
    const h = harness()
    const u = await insertUser()
    await fund(u, 10)
    // Due on the last evening of January: renewed by the run of 1 February, in January's month.
    const [n] = await dueNumbers([u], 1, D(2033, 1, 31, 20), 1.15)
    const feb1 = D(2033, 2, 1, 3)
    const sent = await h.cron(feb1)
    const page = sent.find((b) => b.type === 'billing.did-renewals')
    const invoiceJob = sent.find((b) => b.type === 'billing.invoice' && b.userId === u)
    expect(page?.numbers, JSON.stringify(sent)).toEqual([{ id: n!.id, periodStart: D(2033, 1, 31, 20) }])
    expect(invoiceJob, JSON.stringify(sent)).toEqual({ type: 'billing.invoice', userId: u, month: '2033-01', at: feb1 })

    // The invoice job is delivered before the page.
    await h.deliver([{ id: 'inv-1', body: invoiceJob }])
    const inv = await env.DB.prepare(`SELECT * FROM invoices WHERE user_id = ? AND month = '2033-01'`).bind(u).first<Record<string, any>>()
    expect(inv, 'January invoice').toMatchObject({ total: toMicros(1.15), amount_paid: toMicros(1.15), status: 'paid' })
    expect((await walletAudit(u)).balance).toBe(toMicros(10 - 1.15))

    // Then the page: the number is renewed already, nothing moves.
    await h.deliver([{ id: 'page-1', body: page }])
    expect((await walletAudit(u)).balance).toBe(toMicros(10 - 1.15))
    expect(await count(`SELECT COUNT(*) AS n FROM did_renewals WHERE phone_number_id = ?`, n!.id)).toBe(1)
    const debits = (await env.WALLET.get(env.WALLET.idFromName(u)).history(u, 1, 50)).entries.filter((e) => e.opId === renewalOpId(n!.id, D(2033, 1, 31, 20)))
    expect(debits.length).toBe(1)
  })
})

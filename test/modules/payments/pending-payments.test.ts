/**
 * The sweeper finishes payments whose request died after claiming its key: the charge (or debit)
 * under that key is recorded once, a top-up is credited once, and attempts too young or too old
 * are left alone.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { MIN_AGE_MS, PER_RUN, resumeBackoffMs, resumePendingPayments } from '../../../src/modules/payments/pending-payments.job'
import { STALE_CLAIM_MS } from '../../../src/providers/payments/types'
import { createServices } from '../../../src/services'
import { call, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { invoiceRow, paymentRows, workedExample } from '../../helpers/billing'

const services = () => createServices(env as unknown as Env, createExecutionContext())

async function addCard(u: TestUser): Promise<string> {
  const res = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: 'credit_card', token: 'tok_visa' } })
  if (res.status !== 201) throw new Error(`add method failed: ${res.status} ${res.text}`)
  return res.body.data.id
}

/** A pending attempt as a request that died right after claiming leaves it, `ageMs` old. */
async function pendingRow(row: { userId: string; purpose: 'wallet_topup' | 'invoice'; invoiceId?: string; amount: number; processor: string; methodId: string; key: string; ageMs: number }) {
  const id = `pay_pending_${crypto.randomUUID().slice(0, 8)}`
  const at = Date.now() - row.ageMs
  await env.DB.prepare(
    `INSERT INTO payments (id, user_id, purpose, invoice_id, amount, currency, status, processor, payment_method_id, attempt_key, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, 'USD', 'pending', ?, ?, ?, ?, ?)`,
  )
    .bind(id, row.userId, row.purpose, row.invoiceId ?? null, row.amount, row.processor, row.methodId, row.key, at, at)
    .run()
  return id
}

const statusOf = async (id: string) => (await env.DB.prepare(`SELECT status FROM payments WHERE id = ?`).bind(id).first<{ status: string }>())!.status

describe('sweeper: pending payments', () => {
  it('finishes an abandoned top-up: charged, credited once, PAYMENT_SUCCEEDED; a second run changes nothing', async () => {
    const u = await registerUser()
    const card = await addCard(u)
    const id = await pendingRow({ userId: u.id, purpose: 'wallet_topup', amount: 4_000_000, processor: 'sandbox', methodId: card, key: `topup_abandoned_${u.id}`, ageMs: 5 * 60_000 })
    const first = await resumePendingPayments(services(), Date.now())
    expect(first.resumed).toBeGreaterThanOrEqual(1)
    expect(await statusOf(id)).toBe('succeeded')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 4_000_000, entries: 1, ledgerSum: 4_000_000 })
    const events = await env.DB.prepare(`SELECT COUNT(*) AS n FROM outbox WHERE user_id = ? AND type = 'PAYMENT_SUCCEEDED'`).bind(u.id).first<{ n: number }>()
    expect(events!.n).toBe(1)
    await resumePendingPayments(services(), Date.now())
    expect(await walletAudit(u.id)).toMatchObject({ balance: 4_000_000, entries: 1 })
  })

  it('settles an invoice claim whose wallet debit went through before the crash: paid, debited once', async () => {
    const u = await registerUser()
    const inv = await workedExample(u, '2024-08')
    await fund(u.id, 100)
    const key = `invpay_${inv.id}_1`
    const id = await pendingRow({ userId: u.id, purpose: 'invoice', invoiceId: inv.id, amount: 59_740_000, processor: 'wallet', methodId: 'wallet', key, ageMs: 5 * 60_000 })
    const debit = await env.WALLET.get(env.WALLET.idFromName(u.id)).debit(u.id, { opId: key, amount: 59_740_000, reference: { type: 'invoice', id: inv.id } })
    expect(debit.ok).toBe(true)
    await resumePendingPayments(services(), Date.now())
    expect(await statusOf(id)).toBe('succeeded')
    expect((await invoiceRow(inv.id))!.status).toBe('paid')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 100_000_000 - 59_740_000, entries: 2 })
    expect((await paymentRows(inv.id)).filter((p) => p.status === 'succeeded')).toHaveLength(1)
  })

  it('leaves attempts younger than the grace (their request may still run) and older than a day alone', async () => {
    const u = await registerUser()
    const card = await addCard(u)
    const young = await pendingRow({ userId: u.id, purpose: 'wallet_topup', amount: 1_000_000, processor: 'sandbox', methodId: card, key: `topup_young_${u.id}`, ageMs: MIN_AGE_MS / 2 })
    const old = await pendingRow({ userId: u.id, purpose: 'wallet_topup', amount: 1_000_000, processor: 'sandbox', methodId: card, key: `topup_old_${u.id}`, ageMs: STALE_CLAIM_MS + 60_000 })
    await resumePendingPayments(services(), Date.now())
    expect([await statusOf(young), await statusOf(old)]).toEqual(['pending', 'pending'])
    expect((await walletAudit(u.id)).balance).toBe(0)
  })

  it('backs off rows it cannot finish: 30 stuck rows older than a good one do not starve it, and none is taken again before its backoff', async () => {
    const u = await registerUser()
    const card = await addCard(u)
    // A method whose processor this server cannot reach (Stripe without its key): resuming throws.
    const broken = `pm_broken_${crypto.randomUUID().slice(0, 8)}`
    await env.DB.prepare(
      `INSERT INTO payment_methods (id, user_id, type, processor, processor_ref, is_default, is_verified, is_active, updated_at) VALUES (?, ?, 'credit_card', 'stripe', 'pm_x', 0, 1, 1, ?)`,
    )
      .bind(broken, u.id, Date.now())
      .run()
    const now = Date.now()
    const MIN = 60_000
    // 30 rows older than the good one that can never finish: 20 whose method is gone (left pending),
    // 10 whose processor throws.
    const stuck: string[] = []
    for (let i = 0; i < 30; i++) {
      stuck.push(
        await pendingRow({
          userId: u.id,
          purpose: 'wallet_topup',
          amount: 1_000_000,
          processor: 'sandbox',
          methodId: i < 20 ? `pm_gone_${i}` : broken,
          key: `topup_stuck_${i}_${u.id}`,
          ageMs: 60 * MIN - i * MIN,
        }),
      )
    }
    const good = await pendingRow({ userId: u.id, purpose: 'wallet_topup', amount: 2_000_000, processor: 'sandbox', methodId: card, key: `topup_good_${u.id}`, ageMs: 10 * MIN })
    const attemptsOf = async () => {
      const { results } = await env.DB.prepare(`SELECT id, resume_attempts AS n, resume_after AS a FROM payments WHERE id IN (${stuck.map(() => '?').join(',')}) ORDER BY created_at`)
        .bind(...stuck)
        .all<{ id: string; n: number; a: number | null }>()
      return results
    }

    // Run 1: the 25 oldest are tried, left pending, and backed off; the good row waits its turn.
    const first = await resumePendingPayments(services(), now)
    expect(first, JSON.stringify(first)).toMatchObject({ resumed: 0, failed: PER_RUN - 20, deferred: 20 })
    expect(await statusOf(good)).toBe('pending')
    let rows = await attemptsOf()
    expect(rows.map((r) => r.n)).toEqual([...Array(PER_RUN).fill(1), ...Array(30 - PER_RUN).fill(0)])
    for (const r of rows.slice(0, PER_RUN)) expect(r.a).toBe(now + resumeBackoffMs(1))

    // Run 2, a minute later: the backed-off rows are not taken again; the rest are, and the good row is finished.
    const second = await resumePendingPayments(services(), now + MIN)
    expect(second.resumed, JSON.stringify(second)).toBeGreaterThanOrEqual(1)
    expect(await statusOf(good)).toBe('succeeded')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 2_000_000, entries: 1 })
    rows = await attemptsOf()
    expect(rows.map((r) => r.n)).toEqual(Array(30).fill(1))

    // Once the backoff is over they are tried again, and wait longer after each failure.
    await resumePendingPayments(services(), now + resumeBackoffMs(1) + MIN)
    rows = await attemptsOf()
    expect(rows.slice(0, PER_RUN).map((r) => r.n)).toEqual(Array(PER_RUN).fill(2))
    expect(rows[0]!.a).toBe(now + resumeBackoffMs(1) + MIN + resumeBackoffMs(2))
    expect(resumeBackoffMs(2)).toBeGreaterThan(resumeBackoffMs(1))
    expect(await walletAudit(u.id)).toMatchObject({ balance: 2_000_000, entries: 1 })
  })
})

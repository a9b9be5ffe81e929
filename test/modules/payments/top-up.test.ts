/**
 * Wallet top-up by payment method: success (payment row, ledger, balance, PAYMENT_SUCCEEDED),
 * declined (402 PAYMENT_FAILED, failed row, no credit, PAYMENT_FAILED), Idempotency-Key replay
 * credits once, a retry after a crash mid-way finishes the same payment without a second credit,
 * validation, and other accounts' methods.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { createServices } from '../../../src/services'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'

const PATH = '/api/v1/billing/top-up'

const wallet = (userId: string) => env.WALLET.get(env.WALLET.idFromName(userId))
const services = () => createServices(env as unknown as Env, createExecutionContext())

async function addMethod(u: TestUser, token = 'tok_visa', extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: token.startsWith('btok') ? 'bank_account' : 'credit_card', token, ...extra } })
  if (res.status !== 201) throw new Error(`add method failed: ${res.status} ${res.text}`)
  return res.body.data.id
}

const topUp = (u: TestUser, body: Record<string, unknown>, key?: string) => call(PATH, { token: u.accessToken, body, headers: key ? { 'Idempotency-Key': key } : {} })

interface PaymentRow {
  id: string
  user_id: string
  purpose: string
  amount: number
  status: string
  processor: string
  payment_method_id: string
  processor_ref: string | null
  failure_reason: string | null
  attempt_key: string
  processed_at: number | null
}

async function paymentsOf(userId: string): Promise<PaymentRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM payments WHERE user_id = ? ORDER BY created_at, id`).bind(userId).all<PaymentRow>()
  return results
}

async function eventsOf(userId: string, type: string) {
  const { results } = await env.DB.prepare(`SELECT payload FROM outbox WHERE user_id = ? AND type = ? ORDER BY created_at, id`).bind(userId, type).all<{ payload: string }>()
  return results.map((r) => JSON.parse(r.payload) as Record<string, unknown>)
}

describe('POST /api/v1/billing/top-up', () => {
  it('charges the default method, records the payment, credits the wallet once and emits PAYMENT_SUCCEEDED', async () => {
    const u = await registerUser()
    await fund(u.id, 1.5)
    const pm = await addMethod(u)
    const res = await topUp(u, { amount: 25.99 })
    expect(res.status, res.text).toBe(201)
    const { payment, balance } = res.body.data
    expect(payment, res.text).toMatchObject({
      id: expect.stringMatching(/^pay_/),
      purpose: 'wallet_topup',
      invoiceId: null,
      amount: 25.99,
      currency: 'USD',
      status: 'succeeded',
      processor: 'sandbox',
      paymentMethodId: pm,
      processorRef: expect.stringMatching(/^ch_sandbox_/),
      failureReason: null,
      processedAt: expect.any(String),
      createdAt: expect.any(String),
    })
    expect(balance).toEqual({ balance: 27.49, currency: 'USD', reserved: 0, available: 27.49 })

    const rows = await paymentsOf(u.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ id: payment.id, amount: 25_990_000, status: 'succeeded', purpose: 'wallet_topup', payment_method_id: pm })

    const history = await wallet(u.id).history(u.id, 1, 10)
    const credit = history.entries.find((e) => e.opId === `topup_pay_${payment.id}`)
    expect(credit, JSON.stringify(history)).toMatchObject({ type: 'credit', amount: 25_990_000, referenceType: 'payment', referenceId: payment.id })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 27_490_000, ledgerSum: 27_490_000, entries: 2, negativeAvailable: false })

    const ev = await eventsOf(u.id, 'PAYMENT_SUCCEEDED')
    expect(ev).toEqual([{ paymentId: payment.id, purpose: 'wallet_topup', amount: 25.99, currency: 'USD', status: 'succeeded', paymentMethod: pm, processor: 'sandbox' }])
    expect(await eventsOf(u.id, 'PAYMENT_FAILED')).toHaveLength(0)

    const bal = await call('/api/wallet/balance', { token: u.accessToken })
    expect(bal.body.data.balance).toBe(27.49)
  })

  it('a declined card: 402 PAYMENT_FAILED, a failed payment row, no credit, PAYMENT_FAILED in the outbox', async () => {
    const u = await registerUser()
    await addMethod(u)
    const declined = await addMethod(u, 'tok_chargeDeclinedInsufficientFunds')
    const res = await topUp(u, { amount: 10, paymentMethodId: declined })
    expectErrorEnvelope(res, 402, 'PAYMENT_FAILED')
    expect(res.body.error.details, res.text).toMatchObject({
      paymentMethodId: declined,
      failureReason: 'Your card has insufficient funds.',
      code: 'card_declined',
      declineCode: 'insufficient_funds',
      payment: { status: 'failed', amount: 10, paymentMethodId: declined },
    })
    const rows = await paymentsOf(u.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ status: 'failed', failure_reason: 'Your card has insufficient funds.', processor_ref: null, processed_at: expect.any(Number) })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, entries: 0 })
    const ev = await eventsOf(u.id, 'PAYMENT_FAILED')
    expect(ev).toEqual([
      {
        paymentId: rows[0]!.id,
        purpose: 'wallet_topup',
        amount: 10,
        currency: 'USD',
        status: 'failed',
        paymentMethod: declined,
        processor: 'sandbox',
        failureReason: 'Your card has insufficient funds.',
      },
    ])
    expect(await eventsOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(0)

    const generic = await addMethod(u, 'tok_chargeDeclined', { makeDefault: true })
    const res2 = await topUp(u, { amount: 5 })
    expectErrorEnvelope(res2, 402, 'PAYMENT_FAILED')
    expect(res2.body.error.details).toMatchObject({ paymentMethodId: generic, code: 'card_declined', failureReason: 'Your card was declined.' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, entries: 0 })
  })

  it('the same Idempotency-Key replays the first answer and credits once; a new key is a new payment', async () => {
    const u = await registerUser()
    await addMethod(u, 'btok_us_verified')
    const first = await topUp(u, { amount: 40 }, 'topup-key-1')
    expect(first.status, first.text).toBe(201)
    const again = await topUp(u, { amount: 40 }, 'topup-key-1')
    expect(again.status, again.text).toBe(201)
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
    expect(again.body.data.payment.id).toBe(first.body.data.payment.id)
    const concurrent = await Promise.all([topUp(u, { amount: 40 }, 'topup-key-2'), topUp(u, { amount: 40 }, 'topup-key-2')])
    expect(concurrent.map((r) => r.status).sort()).toEqual(expect.arrayContaining([201]))
    expect(await walletAudit(u.id)).toMatchObject({ balance: 80_000_000, ledgerSum: 80_000_000, entries: 2 })
    expect((await paymentsOf(u.id)).filter((p) => p.status === 'succeeded')).toHaveLength(2)
    expect(await eventsOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(2)
    // The same key with another amount is refused.
    expect((await topUp(u, { amount: 41 }, 'topup-key-1')).status).toBe(422)
  })

  it('a declined top-up replays as the same 402 with the same key', async () => {
    const u = await registerUser()
    await addMethod(u, 'tok_chargeDeclined')
    const first = await topUp(u, { amount: 3 }, 'declined-key')
    expectErrorEnvelope(first, 402, 'PAYMENT_FAILED')
    const again = await topUp(u, { amount: 3 }, 'declined-key')
    expectErrorEnvelope(again, 402, 'PAYMENT_FAILED')
    expect(await paymentsOf(u.id)).toHaveLength(1)
    expect(await eventsOf(u.id, 'PAYMENT_FAILED')).toHaveLength(1)
  })

  it('a retry after a crash between the credit and the payment update finishes the same payment without crediting twice', async () => {
    const u = await registerUser()
    await addMethod(u)
    const service = services().topUps
    const done = await service.topUp(ctxFor(u.id), { amount: 7_000_000, idempotencyKey: 'crash-key' })
    expect(done.balance.balance).toBe(7_000_000)
    // Undo what the last batch wrote, as if the Worker died right after the credit.
    await env.DB.batch([
      env.DB.prepare(`UPDATE payments SET status = 'pending', processor_ref = NULL, processed_at = NULL WHERE id = ?`).bind(done.payment.id),
      env.DB.prepare(`DELETE FROM outbox WHERE user_id = ? AND type = 'PAYMENT_SUCCEEDED'`).bind(u.id),
    ])
    // A retry after the 24 h replay window (the middleware no longer answers) still finds the attempt by its key.
    const retried = await service.topUp(ctxFor(u.id), { amount: 7_000_000, idempotencyKey: 'crash-key' })
    expect(retried.payment).toMatchObject({ id: done.payment.id, status: 'succeeded', processorRef: done.payment.processorRef })
    expect(retried.balance.balance).toBe(7_000_000)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 7_000_000, entries: 1 })
    expect(await eventsOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(1)
    expect(await paymentsOf(u.id)).toHaveLength(1)
    // Retrying a finished payment changes nothing either.
    await service.topUp(ctxFor(u.id), { amount: 7_000_000, idempotencyKey: 'crash-key' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 7_000_000, entries: 1 })
    // Keys are per account: another account's identical key is its own payment.
    const v = await registerUser()
    await addMethod(v)
    const theirs = await service.topUp(ctxFor(v.id), { amount: 1_000_000, idempotencyKey: 'crash-key' })
    expect(theirs.payment.id).not.toBe(done.payment.id)
  })

  it("another account's payment method is 404, an account without methods is 400, and nothing moves", async () => {
    const owner = await registerUser()
    const other = await registerUser()
    const pm = await addMethod(owner)
    expectErrorEnvelope(await topUp(other, { amount: 5, paymentMethodId: pm }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await topUp(other, { amount: 5 }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await topUp(owner, { amount: 5, paymentMethodId: 'pm_unknown' }), 404, 'NOT_FOUND')
    const del = await call(`/api/v1/billing/payment-methods/${pm}`, { method: 'DELETE', token: owner.accessToken })
    expect(del.status, del.text).toBe(200)
    expectErrorEnvelope(await topUp(owner, { amount: 5, paymentMethodId: pm }), 404, 'NOT_FOUND')
    expect(await paymentsOf(other.id)).toHaveLength(0)
    expect(await paymentsOf(owner.id)).toHaveLength(0)
    expect(await walletAudit(owner.id)).toMatchObject({ balance: 0, entries: 0 })
  })

  it('a pending attempt older than a day is not charged again: 409 PAYMENT_UNDER_REVIEW, nothing moves', async () => {
    const u = await registerUser()
    await addMethod(u)
    const service = services().topUps
    const done = await service.topUp(ctxFor(u.id), { amount: 3_000_000, idempotencyKey: 'stale-key' })
    // As if the first attempt had died before its charge answered, a day ago.
    await env.DB.prepare(`UPDATE payments SET status = 'pending', processor_ref = NULL, processed_at = NULL, created_at = ? WHERE id = ?`)
      .bind(Date.now() - 24 * 3_600_000, done.payment.id)
      .run()
    const err = await service.topUp(ctxFor(u.id), { amount: 3_000_000, idempotencyKey: 'stale-key' }).catch((e) => e)
    expect(err).toMatchObject({ status: 409, code: 'PAYMENT_UNDER_REVIEW' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 3_000_000, entries: 1 })
  })

  it('validates the amount: > 0, at most 10,000, whole cents', async () => {
    const u = await registerUser()
    await addMethod(u)
    for (const amount of [0, -1, 10_000.01, 1.005, '5', null]) {
      expectErrorEnvelope(await topUp(u, { amount }), 400, 'VALIDATION_ERROR')
    }
    expect((await topUp(u, { amount: 10_000 })).status).toBe(201)
    expect((await topUp(u, { amount: 0.01 })).status).toBe(201)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 10_000_010_000 })
  })

  it('needs billing:write; no credentials is 401', async () => {
    const u = await registerUser()
    await addMethod(u)
    const reader = await createApiKey(u, ['billing:read'])
    expectErrorEnvelope(await call(PATH, { apiKey: reader.key, body: { amount: 5 } }), 403, 'FORBIDDEN')
    const writer = await createApiKey(u, ['billing:write'])
    expect((await call(PATH, { apiKey: writer.key, body: { amount: 5 } })).status).toBe(201)
    expectErrorEnvelope(await call(PATH, { body: { amount: 5 } }), 401, 'UNAUTHORIZED')
  })
})

/**
 * Automatic wallet top-up: a billing-account setting (threshold, amount, payment method) that the
 * daily billing cron applies through the `jobs` queue — at most once per account and UTC day, only
 * below the threshold, through the same top-up as POST /api/v1/billing/top-up; a decline is
 * recorded and evented once, not retried.
 */
import { createExecutionContext, createMessageBatch, createScheduledController, env, getQueueResult, waitOnExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import worker from '../../../src/index'
import { newId } from '../../../src/lib/ids'
import { toMicros } from '../../../src/lib/money'
import { JOB_HANDLERS } from '../../../src/queue'
import { runAutoTopUpJob } from '../../../src/modules/billing/auto-top-up'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { fakeQueue } from '../../helpers/webhooks'
import { outboxOf } from '../../helpers/billing'

const PATH = '/api/v1/billing/account'
const D = (y: number, m: number, d: number, h = 0) => Date.UTC(y, m - 1, d, h)
const DAY = 86_400_000

function harness() {
  const jobs = fakeQueue()
  const events = fakeQueue()
  const testEnv = { ...env, JOBS: jobs, EVENTS: events } as Env
  let n = 0
  return {
    /** The billing cron, as Cloudflare triggers it; answers the auto top-up jobs it sent for `userId`. */
    async cron(scheduledTime: number, userId: string) {
      const before = jobs.sent.length
      const ctx = createExecutionContext()
      await worker.scheduled(createScheduledController({ cron: '0 3 * * *', scheduledTime }), testEnv, ctx)
      await waitOnExecutionContext(ctx)
      return (jobs.sent.slice(before) as any[]).filter((b) => b.type === 'billing.auto-top-up' && b.userId === userId)
    },
    /** Delivers `bodies` to the jobs consumer; every one must be acked (a decline is not retried). */
    async deliver(bodies: unknown[]) {
      const batch = createMessageBatch(
        'jobs',
        bodies.map((body) => ({ id: `atu-${++n}`, timestamp: new Date(), attempts: 1, body })),
      )
      const ctx = createExecutionContext()
      await worker.queue(batch, testEnv, ctx)
      const q = await getQueueResult(batch, ctx)
      await waitOnExecutionContext(ctx)
      expect(q.retryMessages, JSON.stringify(q)).toEqual([])
      expect(q.explicitAcks.length, JSON.stringify(q)).toBe(bodies.length)
    },
  }
}

async function addCard(u: TestUser, token = 'tok_visa'): Promise<string> {
  const res = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: 'credit_card', token } })
  expect(res.status, res.text).toBe(201)
  return res.body.data.id
}

const setAutoTopUp = (u: TestUser, autoTopUp: Record<string, unknown>) => call(PATH, { method: 'PUT', token: u.accessToken, body: { autoTopUp } })

async function topUps(userId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM payments WHERE user_id = ? AND purpose = 'wallet_topup' ORDER BY created_at, id`).bind(userId).all<Record<string, any>>()
  return results
}

/** A user with `walletUsd` in the wallet, a card (`token`) and the automatic top-up on. */
async function customer(opts: { walletUsd: number; token?: string; threshold?: number; amount?: number }) {
  const u = await registerUser()
  const card = await addCard(u, opts.token)
  if (opts.walletUsd) await fund(u.id, opts.walletUsd)
  const res = await setAutoTopUp(u, { enabled: true, threshold: opts.threshold ?? 10, amount: opts.amount ?? 25 })
  expect(res.status, res.text).toBe(200)
  return { u, card }
}

describe('auto top-up settings (PUT /api/v1/billing/account autoTopUp)', () => {
  it('is off by default; enabling needs a threshold, an amount and a method; values are checked; the answer shows it', async () => {
    const u = await registerUser()
    const none = await setAutoTopUp(u, { enabled: true, threshold: 10, amount: 25 })
    expectErrorEnvelope(none, 400, 'VALIDATION_ERROR')
    expect(none.body.error.field, none.text).toBe('autoTopUp.paymentMethodId')

    const card = await addCard(u)
    expect((await setAutoTopUp(u, { enabled: true, amount: 25 })).body.error?.field).toBe('autoTopUp.threshold')
    expect((await setAutoTopUp(u, { enabled: true, threshold: 10 })).body.error?.field).toBe('autoTopUp.amount')
    for (const bad of [{ threshold: 0 }, { threshold: 10.001 }, { amount: -5 }, { amount: 20_000 }, { amount: 'lots' }, { enabled: 'yes' }, { interval: 'daily' }]) {
      expectErrorEnvelope(await setAutoTopUp(u, bad), 400, 'VALIDATION_ERROR')
    }
    const foreign = await setAutoTopUp(u, { paymentMethodId: 'pm_not_mine' })
    expectErrorEnvelope(foreign, 400, 'VALIDATION_ERROR')
    expect(foreign.body.error.field, foreign.text).toBe('autoTopUp.paymentMethodId')

    const on = await setAutoTopUp(u, { enabled: true, threshold: 10, amount: 25.5, paymentMethodId: card })
    expect(on.status, on.text).toBe(200)
    expect(on.body.data.autoTopUp, on.text).toEqual({ enabled: true, threshold: 10, amount: 25.5, paymentMethodId: card, lastTopUp: null })
    // Only the fields sent change; null goes back to the default method.
    const partial = await setAutoTopUp(u, { amount: 30, paymentMethodId: null })
    expect(partial.body.data.autoTopUp, partial.text).toEqual({ enabled: true, threshold: 10, amount: 30, paymentMethodId: null, lastTopUp: null })
    const off = await setAutoTopUp(u, { enabled: false })
    expect(off.body.data.autoTopUp, off.text).toMatchObject({ enabled: false, threshold: 10, amount: 30 })
    const got = await call(PATH, { token: u.accessToken })
    expect(got.body.data.autoTopUp, got.text).toMatchObject({ enabled: false, threshold: 10, amount: 30 })
  })
})

describe('auto top-up by the billing cron', () => {
  it('is a registered job type', () => {
    expect(JOB_HANDLERS['billing.auto-top-up']).toBe(runAutoTopUpJob)
  })

  it('below the threshold: topped up once per UTC day through the top-up mechanism, however often the cron runs or a job is delivered', async () => {
    const h = harness()
    const { u, card } = await customer({ walletUsd: 3, threshold: 10, amount: 25 })
    const day1 = D(2034, 5, 10, 3)

    const jobs = await h.cron(day1, u.id)
    expect(jobs).toEqual([{ type: 'billing.auto-top-up', userId: u.id, day: '2034-05-10' }])
    await h.deliver(jobs)
    let rows = await topUps(u.id)
    expect(
      rows.map((p) => [p.attempt_key, p.status, p.amount, p.payment_method_id]),
      JSON.stringify(rows),
    ).toEqual([[`autotopup_${u.id}_2034-05-10`, 'succeeded', toMicros(25), card]])
    let w = await walletAudit(u.id)
    expect(w, JSON.stringify(w)).toMatchObject({ balance: toMicros(28), ledgerSum: toMicros(28), entries: 2 })
    const ok = await outboxOf(u.id, 'PAYMENT_SUCCEEDED')
    expect(ok, JSON.stringify(ok)).toEqual([expect.objectContaining({ paymentId: rows[0]!.id, purpose: 'wallet_topup', amount: 25, status: 'succeeded', paymentMethod: card, autoTopUp: true })])

    // The money is spent the same day, below the threshold again: a second cron run and a redelivered job change nothing.
    const spent = await env.WALLET.get(env.WALLET.idFromName(u.id)).debit(u.id, { opId: newId('op'), amount: toMicros(27) })
    expect(spent.ok).toBe(true)
    const again = await h.cron(day1 + 3_600_000, u.id)
    await h.deliver([...again, ...jobs])
    rows = await topUps(u.id)
    expect(rows.length, JSON.stringify(rows)).toBe(1)
    w = await walletAudit(u.id)
    expect(w, JSON.stringify(w)).toMatchObject({ balance: toMicros(1), entries: 3 })
    expect(await outboxOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(1)

    const view = await call(PATH, { token: u.accessToken })
    expect(view.body.data.autoTopUp.lastTopUp, view.text).toEqual({ date: '2034-05-10', status: 'succeeded', amount: 25, paymentId: rows[0]!.id, failureReason: null })

    // The next day: one more.
    await h.deliver(await h.cron(day1 + DAY, u.id))
    rows = await topUps(u.id)
    expect(
      rows.map((p) => [p.attempt_key, p.status]),
      JSON.stringify(rows),
    ).toEqual([
      [`autotopup_${u.id}_2034-05-10`, 'succeeded'],
      [`autotopup_${u.id}_2034-05-11`, 'succeeded'],
    ])
    expect((await walletAudit(u.id)).balance).toBe(toMicros(26))
  })

  it('at or above the threshold, or turned off: no top-up', async () => {
    const h = harness()
    const above = await customer({ walletUsd: 10, threshold: 10, amount: 25 })
    await h.deliver(await h.cron(D(2034, 6, 12, 3), above.u.id))
    expect(await topUps(above.u.id)).toEqual([])
    expect((await walletAudit(above.u.id)).balance).toBe(toMicros(10))

    const off = await customer({ walletUsd: 0, threshold: 10, amount: 25 })
    expect((await setAutoTopUp(off.u, { enabled: false })).status).toBe(200)
    expect(await h.cron(D(2034, 6, 12, 3), off.u.id)).toEqual([])
    // A job already queued when it was turned off does nothing either.
    await h.deliver([{ type: 'billing.auto-top-up', userId: off.u.id, day: '2034-06-12' }])
    expect(await topUps(off.u.id)).toEqual([])
    expect((await walletAudit(off.u.id)).balance).toBe(0)
  })

  it('a declined card: recorded and evented once, the job acked, not tried again that day', async () => {
    const h = harness()
    const { u, card } = await customer({ walletUsd: 0, token: 'tok_chargeDeclined', threshold: 5, amount: 20 })
    const day = D(2034, 7, 20, 3)
    const jobs = await h.cron(day, u.id)
    await h.deliver(jobs)
    await h.deliver([...(await h.cron(day + 60_000, u.id)), ...jobs])
    const rows = await topUps(u.id)
    expect(
      rows.map((p) => [p.attempt_key, p.status, p.payment_method_id]),
      JSON.stringify(rows),
    ).toEqual([[`autotopup_${u.id}_2034-07-20`, 'failed', card]])
    const failed = await outboxOf(u.id, 'PAYMENT_FAILED')
    expect(failed, JSON.stringify(failed)).toEqual([expect.objectContaining({ paymentId: rows[0]!.id, status: 'failed', autoTopUp: true, failureReason: 'Your card was declined.' })])
    expect((await walletAudit(u.id)).balance).toBe(0)
    const view = await call(PATH, { token: u.accessToken })
    expect(view.body.data.autoTopUp.lastTopUp, view.text).toMatchObject({ date: '2034-07-20', status: 'failed', failureReason: 'Your card was declined.' })
  })

  it('its payment method deleted since: a failed attempt of the day is recorded and evented once', async () => {
    const h = harness()
    const u = await registerUser()
    const card = await addCard(u)
    expect((await setAutoTopUp(u, { enabled: true, threshold: 5, amount: 20, paymentMethodId: card })).status).toBe(200)
    const del = await call(`/api/v1/billing/payment-methods/${card}`, { method: 'DELETE', token: u.accessToken })
    expect(del.status, del.text).toBe(200)
    const day = D(2034, 8, 3, 3)
    const jobs = await h.cron(day, u.id)
    await h.deliver([...jobs, ...jobs])
    const rows = await topUps(u.id)
    expect(
      rows.map((p) => [p.status, p.processor, p.failure_reason]),
      JSON.stringify(rows),
    ).toEqual([['failed', 'none', 'The payment method of the automatic top-up was deleted']])
    expect(await outboxOf(u.id, 'PAYMENT_FAILED')).toEqual([expect.objectContaining({ paymentId: rows[0]!.id, autoTopUp: true })])
    expect((await walletAudit(u.id)).balance).toBe(0)
  })
})

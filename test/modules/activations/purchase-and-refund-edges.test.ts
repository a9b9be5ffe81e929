/**
 * Defects a review found, each pinned: an unbilled number is never refunded, two runs of one
 * Idempotency-Key never charge twice, and a full page of numbers stays under D1's parameter limit.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { ActivationsService } from '../../../src/modules/activations/activations.service'
import { runSweeper } from '../../../src/modules/maintenance/sweeper.job'
import { createServices } from '../../../src/services'
import { call, registerUser } from '../../helpers/api'
import { activationRow, expireNow, purchase, sellingProvider, smsWebhook, uniqueService } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'

async function buyUnbilled() {
  const offer = await sellingProvider({ serviceCode: uniqueService('unbilled'), costUsd: 0.5 })
  const u = await registerUser()
  await fund(u.id, 2)
  const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
  expect(res.status, res.text).toBe(201)
  // As if the hold had been voided before capture and the direct charge refused: money never taken.
  const before = await walletAudit(u.id)
  await env.DB.prepare(`UPDATE activations SET billing = 'unbilled' WHERE id = ?`).bind(res.body.data.id).run()
  await fund(u.id, 0.5) // put back what the purchase took, so "never charged" is the state to keep
  return { offer, u, id: res.body.data.id as string, balance: (await walletAudit(u.id)).balance, before }
}

describe('an unbilled activation is never refunded', () => {
  it('cancel ends it without a credit', async () => {
    const { u, id, balance } = await buyUnbilled()
    const res = await call('/api/numbers/cancel', { token: u.accessToken, body: { numberId: id } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.billing, res.text).toBe('unbilled')
    expect((await walletAudit(u.id)).balance).toBe(balance)
    expect((await activationRow(id))?.status).toBe('cancelled')
  })

  it('expiry ends it without a credit', async () => {
    const { u, id, balance } = await buyUnbilled()
    await expireNow(id)
    const ctx = createExecutionContext()
    await runSweeper(createServices(env as unknown as Env, ctx), Date.now())
    const row = await activationRow(id)
    expect([row?.status, row?.billing]).toEqual(['expired', 'unbilled'])
    expect((await walletAudit(u.id)).balance).toBe(balance)
  })

  it('a late SMS charges it once — no refund credit for money that was never taken', async () => {
    const { offer, u, id, balance } = await buyUnbilled()
    const cancelled = await call('/api/numbers/cancel', { token: u.accessToken, body: { numberId: id } })
    expect(cancelled.status, cancelled.text).toBe(200)
    const row = await activationRow(id)
    const sms = await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 5151' })
    expect(sms.status, sms.text).toBe(200)
    expect(sms.body.data, sms.text).toMatchObject({ status: 'cancelled', billing: 'captured' })
    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(balance - row!.price)
    expect(audit.ledgerSum).toBe(audit.balance)
    const credits = await env.DB.prepare(`SELECT COUNT(*) AS n FROM wallet_ledger WHERE reference_id = ? AND amount > 0`).bind(id).first<{ n: number }>()
    expect(credits!.n).toBe(0)
  })
})

describe('two concurrent runs of one Idempotency-Key', () => {
  it('answer the same number and charge once; the loser gives its hold and upstream number back', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('idem'), costUsd: 0.4 })
    const u = await registerUser()
    await fund(u.id, 2)
    const services = createServices(env as unknown as Env, createExecutionContext())
    const svc = new ActivationsService({ db: services.db, wallet: services.wallet, adapters: (p) => services.providers.adapters(p) })
    const idempotency = { scope: `user:${u.id}`, key: 'same-key' }
    const input = { countryCode: 'us', serviceCode: offer.serviceCode }
    const [a, b] = await Promise.all([svc.purchase(ctxFor(u.id), input, { idempotency }), svc.purchase(ctxFor(u.id), input, { idempotency })])
    expect(a.id).toBe(b.id)
    expect(a.upstreamId).toBe(b.upstreamId)
    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(2_000_000 - offer.price)
    expect(audit.activeHolds).toBe(0)
    expect(audit.ledgerSum).toBe(audit.balance)
  })
})

describe('GET /api/numbers/my with a full page', () => {
  it('answers 100 numbers (one page at the maximum limit) without exceeding D1 parameters', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('page') })
    const u = await registerUser()
    const now = Date.now()
    const stmts = Array.from({ length: 101 }, (_, i) =>
      env.DB.prepare(
        `INSERT INTO activations (id, user_id, provider_id, upstream_id, phone, country_code, service_code, price, status, billing, hold_id, expires_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'us', ?, 1000, 'active', 'captured', ?, ?, ?, ?)`,
      ).bind(
        `num_page_${i}_${u.id.slice(-6)}`,
        u.id,
        offer.provider.id,
        `up_${i}_${u.id}`,
        `+1555000${String(i).padStart(4, '0')}`,
        offer.serviceCode,
        `hld_page_${i}_${u.id}`,
        now + 600_000,
        now + i,
        now,
      ),
    )
    await env.DB.batch(stmts)
    const res = await call('/api/numbers/my?limit=100', { token: u.accessToken })
    expect(res.status, res.text.slice(0, 500)).toBe(200)
    expect(res.body.data).toHaveLength(100)
    expect(res.body.pagination.total).toBe(101)
  })
})

describe('an Idempotency-Key reused after its 24 hours', () => {
  it('buys a new number instead of answering the old, expired one', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('stale'), costUsd: 0.3 })
    const u = await registerUser()
    await fund(u.id, 2)
    const services = createServices(env as unknown as Env, createExecutionContext())
    const svc = new ActivationsService({ db: services.db, wallet: services.wallet, adapters: (p) => services.providers.adapters(p) })
    const idempotency = { scope: `user:${u.id}`, key: 'order-42' }
    const input = { countryCode: 'us', serviceCode: offer.serviceCode }
    const first = await svc.purchase(ctxFor(u.id), input, { idempotency })
    expect((await svc.purchase(ctxFor(u.id), input, { idempotency })).id).toBe(first.id)
    await env.DB.prepare(`UPDATE activations SET created_at = ? WHERE id = ?`)
      .bind(Date.now() - 25 * 3_600_000, first.id)
      .run()
    const later = await svc.purchase(ctxFor(u.id), input, { idempotency })
    expect(later.id).not.toBe(first.id)
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - 2 * offer.price)
  })
})

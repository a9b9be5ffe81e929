import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import worker from '../../../src/index'
import { ActivationsService } from '../../../src/modules/activations/activations.service'
import { expireActivations } from '../../../src/modules/activations/expiry.job'
import { sweepPendingRefunds } from '../../../src/modules/activations/settlement'
import { WalletService } from '../../../src/modules/wallet/wallet.service'
import { createServices } from '../../../src/services'
import { call, registerUser } from '../../helpers/api'
import { activationRow, expireNow, outboxRows, purchase, sellingProvider, smsRows, smsWebhook, uniqueService, walletStub } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'

async function runCron(scheduledTime = Date.now()) {
  const ctx = createExecutionContext()
  await worker.scheduled(createScheduledController({ cron: '* * * * *', scheduledTime }), env, ctx)
  await waitOnExecutionContext(ctx)
}

async function boughtNumber(fundUsd = 2) {
  const offer = await sellingProvider({ serviceCode: uniqueService('exp'), costUsd: 0.5 })
  const u = await registerUser()
  await fund(u.id, fundUsd)
  const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
  expect(res.status, res.text).toBe(201)
  return { offer, u, id: res.body.data.id as string }
}

/** A wallet whose credits never arrive (the object unreachable, or a crash before the credit). */
class CreditLost extends WalletService {
  override async credit(): Promise<never> {
    throw new Error('simulated: the wallet object is unreachable')
  }
}

const refundsOf = async (userId: string, id: string) => (await walletStub(userId).history(userId, 1, 100)).entries.filter((e) => e.type === 'credit' && e.referenceId === id)

describe('expiry (per-minute sweeper)', () => {
  it('expires an activation with no SMS and refunds it once, even when the sweeper runs twice', async () => {
    const { offer, u, id } = await boughtNumber()
    const { id: fresh, u: freshOwner } = await boughtNumber()
    await expireNow(id)
    await runCron()
    expect(await activationRow(id)).toMatchObject({ status: 'expired', billing: 'refunded' })
    expect(await activationRow(fresh), 'not yet due').toMatchObject({ status: 'active', billing: 'captured' })
    const audit = await walletAudit(u.id)
    expect(audit, JSON.stringify(audit)).toMatchObject({ balance: 2_000_000, ledgerSum: 2_000_000, activeHolds: 0, entries: 3 })
    expect(await refundsOf(u.id, id)).toHaveLength(1)

    await runCron()
    await runCron(Date.now() + 120_000) // also past the window where unconfirmed refunds are re-driven
    expect(await walletAudit(u.id)).toEqual(audit)
    expect(await refundsOf(u.id, id)).toHaveLength(1)
    expect((await walletAudit(freshOwner.id)).balance).toBe(2_000_000 - offer.price)
  })

  it('cancels each expired activation upstream — an upstream error does not stop the refund', async () => {
    const a = await boughtNumber()
    const b = await boughtNumber()
    await expireNow(a.id)
    await expireNow(b.id)
    const rowA = (await activationRow(a.id))!
    const rowB = (await activationRow(b.id))!
    const cancelled: string[] = []
    const upstream = {
      cancel: async (upstreamId: string) => {
        cancelled.push(upstreamId)
        if (upstreamId === rowB.upstream_id) throw new Error('upstream 500')
      },
    }
    const ctx = createExecutionContext()
    const result = await expireActivations(createServices(env as unknown as Env, ctx, { replace: { providers: { adapters: () => ({ activation: upstream as never }) } } }), Date.now())
    expect(result).toMatchObject({ expired: 2, refunded: 2 })
    expect(cancelled.sort()).toEqual([rowA.upstream_id, rowB.upstream_id].sort())
    expect(await activationRow(b.id)).toMatchObject({ status: 'expired', billing: 'refunded' })
    expect((await walletAudit(b.u.id)).balance).toBe(2_000_000)
    await waitOnExecutionContext(ctx)
  })

  it('completes a number whose SMS arrived when its time is up; it stays paid', async () => {
    const { offer, u, id } = await boughtNumber()
    expect((await smsWebhook(offer.provider.code, { activationId: id, text: 'code 3141' })).status).toBe(200)
    await expireNow(id)
    await runCron()
    expect(await activationRow(id)).toMatchObject({ status: 'completed', billing: 'captured' })
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
  })

  it('a refund whose credit was lost (crash after the D1 update) is credited by a later run — once', async () => {
    const { u, id } = await boughtNumber()
    await expireNow(id)
    const ctx = createExecutionContext()
    const services = createServices(env as unknown as Env, ctx)
    const first = await expireActivations(createServices(env as unknown as Env, ctx, { replace: { wallet: new CreditLost(env.WALLET) } }), Date.now())
    expect(first).toMatchObject({ expired: 1, refunded: 0 })
    expect(await activationRow(id)).toMatchObject({ status: 'expired', billing: 'refund_pending' })
    expect((await walletAudit(u.id)).balance, 'not refunded yet').toBe(1_500_000)

    const later = await sweepPendingRefunds(services, Date.now() + 120_000)
    expect(later, JSON.stringify(later)).toMatchObject({ refunded: 1, pending: 0 })
    expect(await activationRow(id)).toMatchObject({ billing: 'refunded' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 2_000_000, ledgerSum: 2_000_000 })
    await runCron(Date.now() + 180_000)
    expect(await refundsOf(u.id, id)).toHaveLength(1)
    await waitOnExecutionContext(ctx)
  })

  it('refund_pending is durable: a wallet unreachable for days is refunded when it is back, exactly once', async () => {
    const { u, id } = await boughtNumber()
    await expireNow(id)
    const ctx = createExecutionContext()
    const services = createServices(env as unknown as Env, ctx)
    const down = createServices(env as unknown as Env, ctx, { replace: { wallet: new CreditLost(env.WALLET) } })
    await expireActivations(down, Date.now())
    // Every sweeper run for three days fails to reach the wallet; the refund stays owed.
    for (const hours of [1, 12, 24, 48, 72]) {
      expect(await sweepPendingRefunds(down, Date.now() + hours * 3_600_000)).toMatchObject({ refunded: 0, pending: 1 })
    }
    expect(await activationRow(id)).toMatchObject({ billing: 'refund_pending' })
    expect((await walletAudit(u.id)).balance).toBe(1_500_000)
    // The wallet is back: two runs (and the whole cron) at once refund it once.
    await Promise.all([sweepPendingRefunds(services, Date.now() + 73 * 3_600_000), runCron(Date.now() + 73 * 3_600_000)])
    expect(await activationRow(id)).toMatchObject({ billing: 'refunded' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 2_000_000, ledgerSum: 2_000_000 })
    expect(await refundsOf(u.id, id)).toHaveLength(1)
    await waitOnExecutionContext(ctx)
  })

  it('a cancel whose refund does not go through answers refund_pending; the sweeper finishes it', async () => {
    const { u, id } = await boughtNumber()
    const ctx = createExecutionContext()
    const services = createServices(env as unknown as Env, ctx)
    const cancelled = await new ActivationsService({ db: services.db, wallet: new CreditLost(env.WALLET), adapters: (p) => services.providers.adapters(p) }).cancel(ctxFor(u.id), id)
    expect(cancelled).toMatchObject({ status: 'cancelled', billing: 'refund_pending' })
    const read = await call(`/api/numbers/${id}`, { token: u.accessToken })
    expect(read.body.data.billing, read.text).toBe('refund_pending')
    await runCron()
    expect(await activationRow(id)).toMatchObject({ billing: 'refunded' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 2_000_000 })
    expect(await refundsOf(u.id, id)).toHaveLength(1)
    await waitOnExecutionContext(ctx)
  })
})

describe('an SMS after the refund is never free and never lost', () => {
  it('charges the price again when the wallet can pay (billing captured), and stores the SMS and its event', async () => {
    const { offer, u, id } = await boughtNumber()
    await expireNow(id)
    await runCron()
    expect((await walletAudit(u.id)).balance).toBe(2_000_000)

    const res = await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 8080' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ duplicate: false, code: '8080', status: 'expired', billing: 'captured' })
    expect(await activationRow(id)).toMatchObject({ status: 'expired', billing: 'captured' })
    expect(await smsRows(id)).toHaveLength(1)
    const audit = await walletAudit(u.id)
    expect(audit).toMatchObject({ balance: 2_000_000 - offer.price, ledgerSum: 2_000_000 - offer.price, activeHolds: 0 })

    // A second late SMS is stored too, but charges nothing more.
    expect((await smsWebhook(offer.provider.code, { activationId: id, text: 'Another 9090' })).body.data.billing).toBe('captured')
    expect(await smsRows(id)).toHaveLength(2)
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
  })

  it('a redelivered late SMS whose charge a crash cut off is charged then — once', async () => {
    const { offer, u, id } = await boughtNumber()
    await expireNow(id)
    await runCron()
    expect((await walletAudit(u.id)).balance).toBe(2_000_000)
    // The Worker stored the late SMS, then died before charging it.
    await env.DB.prepare(
      `INSERT INTO sms_messages (id, user_id, provider_id, upstream_message_id, activation_id, phone, sender, text, code, withheld, received_at, created_at)
       SELECT ?, user_id, provider_id, ?, id, phone, 'X', 'Late code 4040', '4040', 1, ?, ? FROM activations WHERE id = ?`,
    )
      .bind(`sms_crash_${id}`, `msg:m_${id}`, Date.now(), Date.now(), id)
      .run()
    const again = await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 4040', messageId: `m_${id}` })
    expect(again.body.data, again.text).toMatchObject({ duplicate: true, billing: 'captured', withheld: false, code: '4040' })
    expect(await activationRow(id)).toMatchObject({ status: 'expired', billing: 'captured' })
    expect(await outboxRows('sms.received', id)).toHaveLength(1)
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
    // A further redelivery charges nothing more.
    await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 4040', messageId: `m_${id}` })
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
  })

  it('withholds the SMS while the wallet cannot pay — no code, no text, no event — and shows it the moment it is paid', async () => {
    const { offer, u, id } = await boughtNumber(0.5)
    const cancelled = await call('/api/numbers/cancel', { token: u.accessToken, body: { numberId: id } })
    expect(cancelled.status, cancelled.text).toBe(200)
    expect(cancelled.body.data.billing, cancelled.text).toBe('refunded')
    // The refunded money is spent elsewhere.
    const spent = await walletStub(u.id).debit(u.id, { opId: `spend_${id}`, amount: 500_000 })
    expect(spent.ok).toBe(true)

    const res = await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 7070' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ status: 'cancelled', billing: 'unbilled', code: null, withheld: true })
    expect(res.text).not.toContain('7070')
    expect(await smsRows(id)).toHaveLength(1)
    expect(await outboxRows('sms.received', id)).toEqual([])
    for (const path of [`/api/numbers/${id}`, `/api/v1/sms/${id}`, '/api/numbers/my']) {
      const read = await call(path, { token: u.accessToken })
      expect(read.status, read.text).toBe(200)
      expect(read.text, path).not.toContain('7070')
    }
    const one = await call(`/api/numbers/${id}`, { token: u.accessToken })
    expect(one.body.data, one.text).toMatchObject({ billing: 'unbilled', code: null, withheldSms: 1, sms: [] })
    const v1 = await call(`/api/v1/sms/${id}`, { token: u.accessToken })
    expect(v1.body.data, v1.text).toMatchObject({ code: null, sms: [], withheldSms: 1 })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, ledgerSum: 0 })
    // Nothing is metered for an SMS nobody paid for: purchase, refund, and no re-charge yet.
    const meter = async () =>
      (await env.DB.prepare(`SELECT transaction_id FROM usage_records WHERE resource_id = ? ORDER BY transaction_id`).bind(id).all<{ transaction_id: string }>()).results.map((r) => r.transaction_id)
    expect(await meter()).toEqual([`activation:${id}`, `activation:${id}:refund`])

    // The sweeper tries again each minute; without money nothing changes.
    await runCron()
    expect((await activationRow(id))?.billing).toBe('recharge_due')
    expect(await outboxRows('sms.received', id)).toEqual([])

    // Money arrives: the next sweeper run charges the price once and shows the SMS with its event.
    await fund(u.id, 1)
    await runCron()
    await runCron()
    const paid = await call(`/api/numbers/${id}`, { token: u.accessToken })
    expect(paid.body.data, paid.text).toMatchObject({ billing: 'captured', code: '7070', withheldSms: 0 })
    expect(paid.body.data.sms, paid.text).toMatchObject([{ code: '7070', text: 'Late code 7070' }])
    expect(await outboxRows('sms.received', id)).toMatchObject([{ payload: { numberId: id, code: '7070', text: 'Late code 7070' } }])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000 - offer.price, ledgerSum: 1_000_000 - offer.price })
    expect(await meter()).toEqual([`activation:${id}`, `activation:${id}:recharge`, `activation:${id}:refund`])
    // Later SMS on it are shown at once and cost nothing more.
    const next = await smsWebhook(offer.provider.code, { activationId: id, text: 'code 6060' })
    expect(next.body.data, next.text).toMatchObject({ billing: 'captured', code: '6060', withheld: false })
    expect((await walletAudit(u.id)).balance).toBe(1_000_000 - offer.price)
  })

  it('stops trying after the window: an SMS older than 72 hours stays withheld, and is never shown free', async () => {
    const { offer, u, id } = await boughtNumber(0.5)
    await call('/api/numbers/cancel', { token: u.accessToken, body: { numberId: id } })
    await walletStub(u.id).debit(u.id, { opId: `spend_${id}`, amount: 500_000 })
    await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 3030' })
    await fund(u.id, 1)
    await runCron(Date.now() + 73 * 3_600_000)
    expect((await activationRow(id))?.billing).toBe('recharge_due')
    expect((await walletAudit(u.id)).balance).toBe(1_000_000)
    expect((await call(`/api/numbers/${id}`, { token: u.accessToken })).text).not.toContain('3030')
  })
})

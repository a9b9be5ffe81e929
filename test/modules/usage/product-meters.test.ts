import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import worker from '../../../src/index'
import { ActivationsService } from '../../../src/modules/activations/activations.service'
import { WalletService } from '../../../src/modules/wallet/wallet.service'
import { createServices } from '../../../src/services'
import { call, registerUser, type TestUser } from '../../helpers/api'
import { activationRow, expireNow, purchase, sellingProvider, smsWebhook, uniqueService, walletStub } from '../../helpers/activations'
import { fund, sandboxProvider, walletAudit, type TestProvider } from '../../helpers/catalog'
import { fundedUser, micros, purchase as buyDids, seedDids } from '../../helpers/dids'
import { usageByTxn, usageRows } from '../../helpers/usage'
import { ctxFor } from '../../helpers/context'

async function runCron(scheduledTime = Date.now()) {
  const ctx = createExecutionContext()
  await worker.scheduled(createScheduledController({ cron: '* * * * *', scheduledTime }), env, ctx)
  await waitOnExecutionContext(ctx)
}

async function boughtNumber(fundUsd = 2) {
  const offer = await sellingProvider({ serviceCode: uniqueService('meter'), costUsd: 0.5 })
  const u = await registerUser()
  await fund(u.id, fundUsd)
  const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
  expect(res.status, res.text).toBe(201)
  return { offer, u, id: res.body.data.id as string }
}

const cancel = (u: TestUser, numberId: string) => call('/api/numbers/cancel', { token: u.accessToken, body: { numberId } })
const sum = (rows: { totalCost: number }[]) => rows.reduce((s, r) => s + r.totalCost, 0)

describe('activation meters', () => {
  it('a purchase writes one prepaid row at the price charged; a cancel writes the reversal once', async () => {
    const { offer, u, id } = await boughtNumber()
    const bought = await usageByTxn(u.id, `activation:${id}`)
    expect(bought, JSON.stringify(bought)).toMatchObject({
      resourceType: 'activation',
      resourceId: id,
      quantity: 1,
      unit: 'activation',
      unitPrice: offer.price,
      totalCost: offer.price,
      prepaid: true,
      currency: 'USD',
    })
    // What the wallet was charged is what is metered.
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - bought!.totalCost)

    const answers = await Promise.all([cancel(u, id), cancel(u, id), cancel(u, id)])
    expect(
      answers.filter((a) => a.status === 200),
      answers.map((a) => a.text).join('\n'),
    ).toHaveLength(1)
    const refund = await usageByTxn(u.id, `activation:${id}:refund`)
    expect(refund, JSON.stringify(refund)).toMatchObject({ resourceType: 'activation', resourceId: id, quantity: -1, unitPrice: offer.price, totalCost: -offer.price, prepaid: true })
    const rows = await usageRows(u.id, 'activation')
    expect(rows).toHaveLength(2)
    expect(sum(rows)).toBe(0)
    expect((await walletAudit(u.id)).balance).toBe(2_000_000)
  })

  it('the expiry refund writes the reversal; a late SMS charged again writes the recharge; nothing twice', async () => {
    const { offer, u, id } = await boughtNumber()
    const { u: other, id: fresh } = await boughtNumber()
    await expireNow(id)
    await runCron()
    await runCron()
    expect(await activationRow(id)).toMatchObject({ status: 'expired', billing: 'refunded' })
    expect(await usageByTxn(u.id, `activation:${id}:refund`)).toMatchObject({ quantity: -1, totalCost: -offer.price })
    expect(await usageByTxn(other.id, `activation:${fresh}:refund`), 'not expired, not refunded').toBeUndefined()

    const late = await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 8080' })
    expect(late.body.data, late.text).toMatchObject({ billing: 'captured' })
    expect(await usageByTxn(u.id, `activation:${id}:recharge`)).toMatchObject({ quantity: 1, totalCost: offer.price, prepaid: true })
    await smsWebhook(offer.provider.code, { activationId: id, text: 'Another 9090' })
    const rows = await usageRows(u.id, 'activation')
    expect(rows.map((r) => r.transactionId).sort()).toEqual([`activation:${id}`, `activation:${id}:recharge`, `activation:${id}:refund`])
    // Metered net = money taken.
    expect(sum(rows)).toBe(2_000_000 - (await walletAudit(u.id)).balance)
  })

  it('money not taken is not metered: an unbilled number has no refund row, a late SMS that cannot be paid no recharge', async () => {
    const { offer, u, id } = await boughtNumber(0.5)
    expect((await cancel(u, id)).status).toBe(200)
    const spent = await walletStub(u.id).debit(u.id, { opId: `spend_${id}`, amount: 500_000 })
    expect(spent.ok).toBe(true)
    const late = await smsWebhook(offer.provider.code, { activationId: id, text: 'Late code 7070' })
    expect(late.body.data, late.text).toMatchObject({ billing: 'unbilled' })
    expect(await usageByTxn(u.id, `activation:${id}:recharge`)).toBeUndefined()

    const { u: v, id: unbilled } = await boughtNumber()
    await env.DB.prepare(`UPDATE activations SET billing = 'unbilled' WHERE id = ?`).bind(unbilled).run()
    expect((await cancel(v, unbilled)).status).toBe(200)
    expect(await usageByTxn(v.id, `activation:${unbilled}:refund`)).toBeUndefined()
  })
})

/** The hold is gone before the capture (voided), and the direct charge is refused: nothing is taken. */
class NothingTaken extends WalletService {
  override async capture(userId: string, op: { opId: string; holdId: string }) {
    await this.void(userId, { opId: `void_${op.holdId}`, holdId: op.holdId })
    return { ok: false as const, reason: 'HOLD_NOT_ACTIVE' as const }
  }
  override async debit() {
    return { ok: false as const, reason: 'INSUFFICIENT_BALANCE' as const }
  }
}

describe('activation meters: a purchase whose price could not be taken', () => {
  it('is unbilled and its purchase row is reversed (metered net 0 = nothing taken)', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('nopay'), costUsd: 0.5 })
    const u = await registerUser()
    await fund(u.id, 2)
    const ctx = createExecutionContext()
    const services = createServices(env as unknown as Env, ctx)
    const svc = new ActivationsService({ db: services.db, wallet: new NothingTaken(env.WALLET), adapters: (p) => services.providers.adapters(p) })
    const bought = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    await waitOnExecutionContext(ctx)
    expect(await activationRow(bought.id)).toMatchObject({ billing: 'unbilled' })
    expect((await walletAudit(u.id)).balance).toBe(2_000_000)
    const rows = await usageRows(u.id, 'activation')
    expect(rows.map((r) => [r.transactionId, r.quantity, r.totalCost])).toEqual([
      [`activation:${bought.id}`, 1, offer.price],
      [`activation:${bought.id}:refund`, -1, -offer.price],
    ])
    // Cancelling it refunds nothing and meters nothing more.
    expect((await cancel(u, bought.id)).status).toBe(200)
    expect(await usageRows(u.id, 'activation')).toHaveLength(2)
  })
})

describe('DID meters', () => {
  let p: TestProvider
  beforeAll(async () => {
    p = await sandboxProvider()
  })

  it('an order writes one did_purchase row per charged number; its cancel with refund writes the reversals', async () => {
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 0.5, monthly: 2.25 },
    ])
    const u = await fundedUser(10)
    const placed = await buyDids(u, [a!, b!])
    expect(placed.status, placed.text).toBe(201)
    const ids = Object.fromEntries(placed.body.data.results.map((r: { phoneNumber: string; numberId: string }) => [r.phoneNumber, r.numberId]))
    const rows = await usageRows(u.id, 'did_purchase')
    expect(rows, JSON.stringify(rows)).toHaveLength(2)
    expect(await usageByTxn(u.id, `did_purchase:${ids[a!]}`)).toMatchObject({ resourceId: ids[a!], quantity: 1, unit: 'number', unitPrice: micros(2), totalCost: micros(2), prepaid: true })
    expect(await usageByTxn(u.id, `did_purchase:${ids[b!]}`)).toMatchObject({ resourceId: ids[b!], quantity: 1, unitPrice: micros(2.75), totalCost: micros(2.75), prepaid: true })
    expect(sum(rows)).toBe(micros(10) - (await walletAudit(u.id)).balance)

    const res = await call(`/api/v1/orders/${placed.body.data.order.id}/cancel`, { method: 'PUT', token: u.accessToken, body: { reason: 'mistake' } })
    expect(res.status, res.text).toBe(200)
    expect(await usageByTxn(u.id, `did_purchase:${ids[a!]}:refund`)).toMatchObject({ resourceId: ids[a!], quantity: -1, totalCost: -micros(2) })
    expect(await usageByTxn(u.id, `did_purchase:${ids[b!]}:refund`)).toMatchObject({ resourceId: ids[b!], quantity: -1, totalCost: -micros(2.75) })
    expect(sum(await usageRows(u.id, 'did_purchase'))).toBe(0)
    expect((await walletAudit(u.id)).balance).toBe(micros(10))
  })

  it('only charged numbers are metered; a cancel keeping the charge writes no reversal', async () => {
    const [ok] = await seedDids(p, [{ setup: 1, monthly: 1 }])
    const [sold] = await seedDids(p, [{ setup: 1, monthly: 1, status: 'sold' }])
    const u = await fundedUser(10)
    const placed = await buyDids(u, [ok!, sold!])
    expect(placed.status, placed.text).toBe(201)
    expect(placed.body.data.summary, placed.text).toMatchObject({ successful: 1, failed: 1 })
    const rows = await usageRows(u.id, 'did_purchase')
    expect(rows.map((r) => r.totalCost)).toEqual([micros(2)])
    const res = await call(`/api/v1/orders/${placed.body.data.order.id}/cancel`, { method: 'PUT', token: u.accessToken, body: { reason: 'keep', refundRequested: false } })
    expect(res.status, res.text).toBe(200)
    expect(await usageRows(u.id, 'did_purchase')).toHaveLength(1)
  })
})

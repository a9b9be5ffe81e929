/**
 * The purchase's request path (ARCHITECTURE.md, "The purchase's request path"): the capture runs
 * after the answer, and the offers may come from this isolate's cache. A Worker that dies between
 * its answer and the capture leaves the hold to the Wallet's alarm; a cached price that went stale
 * never sells below the price in D1.
 */
import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { afterEach, describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { ActivationsService } from '../../../src/modules/activations/activations.service'
import { OFFER_CACHE_TTL_MS, offerCache } from '../../../src/modules/providers/offer-cache'
import { WalletService } from '../../../src/modules/wallet/wallet.service'
import { createServices } from '../../../src/services'
import { registerUser } from '../../helpers/api'
import { activationRow, holdOutcome, sellingProvider, uniqueService, walletStub } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'

class CountingWallet extends WalletService {
  captures = 0
  holds = 0
  voids = 0
  override async capture(...a: Parameters<WalletService['capture']>) {
    this.captures++
    return super.capture(...a)
  }
  override async hold(...a: Parameters<WalletService['hold']>) {
    this.holds++
    return super.hold(...a)
  }
  override async void(...a: Parameters<WalletService['void']>) {
    this.voids++
    return super.void(...a)
  }
}

function serviceWith(wallet: WalletService, extra: { afterAnswer?: (task: () => Promise<unknown>) => void; offersTtlMs?: number; captureWindowMs?: number } = {}) {
  const services = createServices(env as unknown as Env, createExecutionContext())
  return new ActivationsService({ db: services.db, wallet, adapters: (p) => services.providers.adapters(p), ...extra })
}

async function d1LedgerOf(userId: string) {
  return (
    await env.DB.prepare(`SELECT type, amount, hold_id, op_id FROM wallet_ledger WHERE user_id = ? ORDER BY created_at`)
      .bind(userId)
      .all<{ type: string; amount: number; hold_id: string | null; op_id: string }>()
  ).results
}

afterEach(() => {
  offerCache.ttlMs = null
  offerCache.clear()
})

describe('a purchase whose Worker dies between its answer and the deferred capture', () => {
  it('answers with the number; the alarm captures the hold from its outcome exactly once, and the ledger row reaches D1', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('late'), costUsd: 0.6 })
    const u = await registerUser()
    await fund(u.id, 2)
    const wallet = new CountingWallet(env.WALLET)
    // The deferred work is handed over and never run: the isolate went away after the answer.
    const lost: (() => Promise<unknown>)[] = []
    const svc = serviceWith(wallet, { afterAnswer: (task) => lost.push(task) })

    const bought = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    expect(bought).toMatchObject({ status: 'active', billing: 'captured', price: offer.price })
    expect(lost).toHaveLength(1)
    expect(wallet.captures).toBe(0)
    const row = (await activationRow(bought.id))!
    expect(await holdOutcome(row.hold_id)).toMatchObject({ outcome: 'capture', amount: offer.price })
    // Reserved, not taken: nothing can spend the price meanwhile.
    expect(await walletAudit(u.id)).toMatchObject({ balance: 2_000_000, reserved: offer.price, activeHolds: 1, available: 2_000_000 - offer.price })

    const stub = walletStub(u.id)
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE id = ?`, Date.now() - 1000, row.hold_id)
    })
    expect(await runDurableObjectAlarm(stub)).toBe(true)

    const audit = await walletAudit(u.id)
    expect(audit, JSON.stringify(audit)).toMatchObject({ balance: 2_000_000 - offer.price, reserved: 0, activeHolds: 0, ledgerSum: 2_000_000 - offer.price })
    const copied = (await d1LedgerOf(u.id)).filter((e) => e.type === 'capture')
    expect(copied, JSON.stringify(copied)).toEqual([{ type: 'capture', amount: -offer.price, hold_id: row.hold_id, op_id: `expire_${row.hold_id}` }])

    // The lost capture turning up after all (a late waitUntil) and another alarm change nothing.
    await lost[0]!()
    expect(wallet.captures).toBe(1)
    await runDurableObjectAlarm(stub)
    expect(await walletAudit(u.id)).toEqual(audit)
    expect((await d1LedgerOf(u.id)).filter((e) => e.type === 'capture')).toHaveLength(1)
    expect(await activationRow(bought.id)).toMatchObject({ billing: 'captured' })
  })

  it('when the deferred capture runs, it captures once under its own id and the alarm later finds nothing to do', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('defer'), costUsd: 0.4 })
    const u = await registerUser()
    await fund(u.id, 1)
    const wallet = new CountingWallet(env.WALLET)
    const later: Promise<unknown>[] = []
    const svc = serviceWith(wallet, { afterAnswer: (task) => later.push(task()) })

    const bought = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    await Promise.all(later)
    const row = (await activationRow(bought.id))!
    expect(wallet.captures).toBe(1)
    const audit = await walletAudit(u.id)
    expect(audit).toMatchObject({ balance: 1_000_000 - offer.price, reserved: 0, activeHolds: 0, ledgerSum: 1_000_000 - offer.price })
    const stub = walletStub(u.id)
    await runDurableObjectAlarm(stub)
    expect(await walletAudit(u.id)).toEqual(audit)
    const captures = (await walletStub(u.id).history(u.id, 1, 10)).entries.filter((e) => e.type === 'capture')
    expect(captures).toMatchObject([{ amount: -offer.price, holdId: row.hold_id, opId: `cap_${row.hold_id}` }])
  })
})

describe('a deferred capture with a window (lib/deferral.ts)', () => {
  it("rides on the account's next purchase: no capture call of its own, each hold captured once under its own id", async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('window'), costUsd: 0.5 })
    const u = await registerUser()
    await fund(u.id, 3)
    const wallet = new CountingWallet(env.WALLET)
    const later: Promise<unknown>[] = []
    const svc = serviceWith(wallet, { afterAnswer: (task) => later.push(task()), captureWindowMs: 3_000 })

    const first = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    const firstHold = (await activationRow(first.id))!.hold_id
    // Answered, the capture waiting for company: reserved, not taken.
    expect(await walletAudit(u.id)).toMatchObject({ balance: 3_000_000, reserved: offer.price, activeHolds: 1 })
    const second = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    // The second purchase's hold carried the first capture.
    expect(await walletStub(u.id).getHoldById(firstHold)).toMatchObject({ status: 'captured', capturedAmount: offer.price })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 3_000_000 - offer.price, reserved: offer.price, activeHolds: 1 })

    // The first purchase's timer still waits for the account: the second's capture goes with it when it ends.
    await Promise.all(later)
    expect(wallet.captures).toBe(0)
    const secondHold = (await activationRow(second.id))!.hold_id
    const audit = await walletAudit(u.id)
    expect(audit).toMatchObject({ balance: 3_000_000 - 2 * offer.price, reserved: 0, activeHolds: 0, ledgerSum: 3_000_000 - 2 * offer.price })
    const captures = (await walletStub(u.id).history(u.id, 1, 10)).entries.filter((e) => e.type === 'capture')
    expect(captures.map((e) => [e.opId, e.amount]).sort()).toEqual(
      [
        [`cap_${firstHold}`, -offer.price],
        [`cap_${secondHold}`, -offer.price],
      ].sort(),
    )
    // The alarm finds nothing left to do.
    await runDurableObjectAlarm(walletStub(u.id))
    expect(await walletAudit(u.id)).toEqual(audit)
  })
})

describe('offers from the per-isolate cache', () => {
  it('a cached price that went up meanwhile is never sold: the purchase is undone and made at the price in D1', async () => {
    offerCache.ttlMs = OFFER_CACHE_TTL_MS
    const offer = await sellingProvider({ serviceCode: uniqueService('price'), costUsd: 0.3 })
    const u = await registerUser()
    await fund(u.id, 5)
    const wallet = new CountingWallet(env.WALLET)
    const svc = serviceWith(wallet, { offersTtlMs: OFFER_CACHE_TTL_MS })

    const first = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    expect(first.price).toBe(offer.price)
    // The price rises in D1 (a sync in another isolate): this isolate's cache still says the old one.
    const raised = offer.price + 250_000
    await env.DB.prepare(`UPDATE offers SET price = ? WHERE id = ?`).bind(raised, offer.offerId).run()

    const second = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    expect(second.price).toBe(raised)
    expect(await activationRow(second.id)).toMatchObject({ price: raised, billing: 'captured' })
    // The stale attempt held the old price and voided it; the fresh one held and captured the new one.
    expect(wallet.holds).toBe(3)
    expect(wallet.voids).toBe(1)
    const audit = await walletAudit(u.id)
    expect(audit, JSON.stringify(audit)).toMatchObject({ balance: 5_000_000 - offer.price - raised, reserved: 0, activeHolds: 0 })
    expect(audit.ledgerSum).toBe(audit.balance)
    // The undone attempt left no row of its own: one activation, one usage row and one event per purchase.
    const count = async (sql: string) => Number((await env.DB.prepare(sql).bind(u.id).first<{ n: number }>())!.n)
    expect(await count(`SELECT COUNT(*) AS n FROM activations WHERE user_id = ?`)).toBe(2)
    expect(await count(`SELECT COUNT(*) AS n FROM usage_records WHERE user_id = ? AND resource_type = 'activation'`)).toBe(2)
    expect(await count(`SELECT COUNT(*) AS n FROM outbox WHERE user_id = ? AND type = 'activation.created'`)).toBe(2)
    expect(await count(`SELECT COUNT(*) AS n FROM hold_outcomes WHERE user_id = ?`)).toBe(2)

    // The cache now holds the new price: the next purchase holds it at once.
    const third = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    expect(third.price).toBe(raised)
    expect(wallet.holds).toBe(4)
  })

  it('a cached read that offers nothing in stock asks D1 before refusing the sale', async () => {
    offerCache.ttlMs = OFFER_CACHE_TTL_MS
    const offer = await sellingProvider({ serviceCode: uniqueService('stock'), costUsd: 0.2 })
    await env.DB.prepare(`UPDATE offers SET stock = 0 WHERE id = ?`).bind(offer.offerId).run()
    const u = await registerUser()
    await fund(u.id, 1)
    const svc = serviceWith(new WalletService(env.WALLET), { offersTtlMs: OFFER_CACHE_TTL_MS })
    await expect(svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })).rejects.toMatchObject({ code: 'NO_NUMBERS_AVAILABLE' })
    // Stock comes back (a sync elsewhere); the cached entry says none, D1 says some.
    await env.DB.prepare(`UPDATE offers SET stock = 10 WHERE id = ?`).bind(offer.offerId).run()
    const bought = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    expect(bought.price).toBe(offer.price)
  })
})

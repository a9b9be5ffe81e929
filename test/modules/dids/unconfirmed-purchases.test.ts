/**
 * A DID purchase whose upstream call gets no answer (timeout) may have gone through. It is recorded
 * PENDING with its price held, and the sweeper looks the number up: captured if bought, released
 * and never charged if not — exactly once, however often the sweeper runs.
 */
import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { confirmPurchases } from '../../../src/modules/dids/confirm-purchases.job'
import { runSweeper } from '../../../src/modules/maintenance/sweeper.job'
import { createServices } from '../../../src/services'
import { sandboxProvider, walletAudit } from '../../helpers/catalog'
import { fundedUser, holdOutcome, inventoryStatus, lockState, micros, numberRows, orderRow, outboxEvents, purchase, seedDids } from '../../helpers/dids'

async function sweep(at: number) {
  const ctx = createExecutionContext()
  const result = await runSweeper(createServices(env as unknown as Env, ctx), at)
  await waitOnExecutionContext(ctx)
  return result
}

async function itemsOf(orderId: string) {
  const { results } = await env.DB.prepare(`SELECT phone_number, status, error FROM order_items WHERE order_id = ? ORDER BY id`)
    .bind(orderId)
    .all<{ phone_number: string; status: string; error: string | null }>()
  return results
}

describe('a DID purchase with no answer from the provider', () => {
  it('is PENDING with its price held; the sweeper captures it if bought and releases it (uncharged) if not', async () => {
    const [ok, bought, notBought] = await seedDids(await sandboxProvider(), [
      { setup: 1, monthly: 1 },
      { setup: 1, monthly: 2 },
      { setup: 2, monthly: 2 },
    ])
    const p = await sandboxProvider({ did: { timeoutAfterBuying: [bought], timeoutBeforeBuying: [notBought] } })
    await env.DB.prepare(`UPDATE did_inventory SET provider_id = ? WHERE phone_number IN (?, ?, ?)`).bind(p.id, ok, bought, notBought).run()
    const u = await fundedUser(20)

    const res = await purchase(u, [ok!, bought!, notBought!])
    expect(res.status, res.text).toBe(201)
    const d = res.body.data
    expect(d.results, res.text).toEqual([
      { phoneNumber: ok, status: 'SUCCESS', numberId: expect.stringMatching(/^pn_/) },
      { phoneNumber: bought, status: 'PENDING', numberId: expect.stringMatching(/^pn_/), message: expect.stringContaining('did not answer') },
      { phoneNumber: notBought, status: 'PENDING', numberId: expect.stringMatching(/^pn_/), message: expect.stringContaining('did not answer') },
    ])
    expect(d.order, res.text).toMatchObject({ status: 'processing', totalAmount: 9 })
    // Nothing is recorded as FAILED, and the whole price stays held.
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(20), reserved: micros(9), available: micros(11), activeHolds: 1 })
    expect((await orderRow(d.order.id))?.status).toBe('processing')
    expect((await itemsOf(d.order.id)).map((i) => i.status)).toEqual(['success', 'unconfirmed', 'unconfirmed'])
    expect((await numberRows(bought!))[0]).toMatchObject({ status: 'pending', user_id: u.id })
    expect(await inventoryStatus(notBought!)).toBe('sold')
    expect(await outboxEvents('NUMBER_PURCHASED', u.id)).toHaveLength(1)

    // The request's own answer is left 30 seconds; then the sweeper asks the provider.
    expect((await confirmPurchases(createServices(env as unknown as Env, createExecutionContext()), Date.now())).confirmed).toBe(0)
    const later = Date.now() + 60_000
    const first = await sweep(later)
    expect(first.unconfirmedPurchases, JSON.stringify(first)).toMatchObject({ confirmed: 1, released: 1, waiting: 0 })
    await sweep(later + 60_000) // again: nothing more happens

    const order = await orderRow(d.order.id)
    expect(order, JSON.stringify(order)).toMatchObject({ status: 'partially_completed', payment_status: 'paid', charged: micros(5) })
    expect(await itemsOf(d.order.id)).toMatchObject([{ status: 'success' }, { status: 'success' }, { status: 'failed', error: expect.stringContaining('had not bought') }])
    expect((await numberRows(bought!))[0]).toMatchObject({ status: 'active' })
    expect((await numberRows(notBought!))[0]).toMatchObject({ status: 'released', release_reason: 'purchase_not_confirmed' })
    expect(await inventoryStatus(notBought!)).toBe('available')
    expect(await lockState(notBought!)).toBeNull()
    expect((await lockState(bought!))?.holder).toBe(u.id)
    expect(await holdOutcome(order!.hold_id!)).toMatchObject({ outcome: 'capture', amount: micros(5) })
    // Charged exactly the two bought numbers, once.
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(15), reserved: 0, activeHolds: 0, ledgerSum: micros(15) })
    expect((await outboxEvents('NUMBER_PURCHASED', u.id)).map((e) => e.payload.phoneNumber)).toEqual([ok, bought])
    const meters = await env.DB.prepare(`SELECT COUNT(*) AS n, SUM(total_cost) AS cost FROM usage_records WHERE user_id = ? AND resource_type = 'did_purchase'`)
      .bind(u.id)
      .first<{ n: number; cost: number }>()
    expect(meters).toEqual({ n: 2, cost: micros(5) })
  })

  it('a lookup that fails leaves it held and asks again later; a hold that expired meanwhile gives back the difference', async () => {
    const [n] = await seedDids(await sandboxProvider(), [{ setup: 2, monthly: 2 }])
    const p = await sandboxProvider({ did: { timeoutBeforeBuying: [n] } })
    await env.DB.prepare(`UPDATE did_inventory SET provider_id = ? WHERE phone_number = ?`).bind(p.id, n).run()
    const u = await fundedUser(10)
    const res = await purchase(u, [n!])
    expect(res.body.data.order.status, res.text).toBe('processing')
    const orderId = res.body.data.order.id as string

    // The provider is down: lookups fail, nothing changes.
    await env.DB.prepare(`UPDATE providers SET config = json_set(config, '$.did.failure', 'upstream_error') WHERE id = ?`).bind(p.id).run()
    expect((await sweep(Date.now() + 60_000)).unconfirmedPurchases).toMatchObject({ confirmed: 0, released: 0, waiting: 1 })
    expect((await orderRow(orderId))?.status).toBe('processing')

    // The hold outlives its 15 minutes: the Wallet captures the provisional amount (never free).
    const wallet = env.WALLET.get(env.WALLET.idFromName(u.id))
    await runDurableObjectAlarmAfterExpiry(wallet)
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(6), activeHolds: 0 })

    // The provider is back and has no such purchase: released, and the $4 comes back once.
    await env.DB.prepare(`UPDATE providers SET config = json_remove(config, '$.did.failure') WHERE id = ?`).bind(p.id).run()
    expect((await sweep(Date.now() + 120_000)).unconfirmedPurchases).toMatchObject({ released: 1 })
    await sweep(Date.now() + 180_000)
    expect(await orderRow(orderId)).toMatchObject({ status: 'failed', payment_status: 'refunded', charged: 0 })
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(10), ledgerSum: micros(10), activeHolds: 0 })
  })
})

/** Moves the wallet's active holds past their expiry and runs its alarm. */
async function runDurableObjectAlarmAfterExpiry(stub: DurableObjectStub) {
  await runInDurableObject(stub, (_i, state) => {
    state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE status = 'active'`, Date.now() - 1)
  })
  await runDurableObjectAlarm(stub)
}

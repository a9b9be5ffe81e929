/**
 * A DID order's capture runs after the answer (ARCHITECTURE.md, "The purchase's request path"): a
 * Worker that dies between its answer and the capture leaves the hold to the Wallet's alarm, which
 * captures what the result batch recorded — once — and copies the entry to D1's ledger.
 */
import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { PurchaseService } from '../../../src/modules/dids/purchase.service'
import { createServices } from '../../../src/services'
import { sandboxProvider, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'
import { fundedUser, holdOutcome, lockState, micros, numberRows, orderRow, seedDids } from '../../helpers/dids'

describe('a DID order whose Worker dies between its answer and the deferred capture', () => {
  it('answers SUCCESS with the lock confirmed; the alarm captures the recorded amount exactly once, and the ledger row reaches D1', async () => {
    const p = await sandboxProvider({ did: {} })
    const [phone] = await seedDids(p, [{ setup: 1, monthly: 2 }])
    const u = await fundedUser(10)
    const services = createServices(env as unknown as Env, createExecutionContext())
    // The deferred work is handed over and never run: the isolate went away after the answer.
    const lost: (() => Promise<unknown>)[] = []
    const svc = new PurchaseService({
      db: services.db,
      wallet: services.wallet,
      locks: services.numberLocks,
      providers: services.providers,
      topUps: services.topUps,
      appUrl: services.config.appUrl,
      afterAnswer: (task) => lost.push(task),
    })

    const placed = await svc.place(ctxFor(u.id), [{ phoneNumber: phone! }])
    expect(placed.results).toMatchObject([{ phoneNumber: phone, status: 'SUCCESS' }])
    expect(lost).toHaveLength(1)
    expect(await lockState(phone!)).toMatchObject({ holder: u.id, expiresAt: null })
    const order = (await orderRow(placed.order.id))!
    const price = micros(3)
    expect(await holdOutcome(order.hold_id!)).toMatchObject({ outcome: 'capture', amount: price })
    expect(await numberRows(phone!)).toHaveLength(1)
    // Reserved, not taken.
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(10), reserved: price, activeHolds: 1 })

    const stub = env.WALLET.get(env.WALLET.idFromName(u.id))
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE id = ?`, Date.now() - 1000, order.hold_id)
    })
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    const audit = await walletAudit(u.id)
    expect(audit, JSON.stringify(audit)).toMatchObject({ balance: micros(10) - price, reserved: 0, activeHolds: 0, ledgerSum: micros(10) - price })
    const copied = await env.DB.prepare(`SELECT amount, op_id FROM wallet_ledger WHERE user_id = ? AND type = 'capture'`).bind(u.id).all()
    expect(copied.results).toEqual([{ amount: -price, op_id: `expire_${order.hold_id}` }])

    // The lost capture turning up late changes nothing.
    await lost[0]!()
    await runDurableObjectAlarm(stub)
    expect(await walletAudit(u.id)).toEqual(audit)
  })
})

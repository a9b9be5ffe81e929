import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { ActivationsService } from '../../../src/modules/activations/activations.service'
import { WalletService } from '../../../src/modules/wallet/wallet.service'
import { createServices } from '../../../src/services'
import { registerUser } from '../../helpers/api'
import { activationRow, holdOutcome, sellingProvider, uniqueService, walletStub } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'

/** A wallet whose capture never arrives: the Worker died after the number was recorded. */
class CrashBeforeCapture extends WalletService {
  captures = 0
  override async capture(): Promise<never> {
    this.captures++
    throw new Error('simulated crash between "number assigned" and "capture"')
  }
}

function serviceWith(wallet: WalletService) {
  const ctx = createExecutionContext()
  const services = createServices(env as unknown as Env, ctx)
  return { ctx, svc: new ActivationsService({ db: services.db, wallet, adapters: (p) => services.providers.adapters(p) }) }
}

async function ledgerOf(userId: string) {
  return (await walletStub(userId).history(userId, 1, 100)).entries
}

describe('a purchase that dies after the upstream buy but before the capture', () => {
  it('still answers with the number, and the hold ends captured exactly once at its expiry (not free, not charged twice)', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('crash'), costUsd: 0.75 })
    const u = await registerUser()
    await fund(u.id, 3)
    const wallet = new CrashBeforeCapture(env.WALLET)
    const { ctx, svc } = serviceWith(wallet)

    const bought = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode })
    await waitOnExecutionContext(ctx)
    expect(wallet.captures).toBe(1)
    const row = (await activationRow(bought.id))!
    expect(row).toMatchObject({ status: 'active', billing: 'captured', price: offer.price })
    expect(await holdOutcome(row.hold_id)).toMatchObject({ outcome: 'capture', amount: offer.price })

    // The money is reserved, not yet taken.
    let audit = await walletAudit(u.id)
    expect(audit).toMatchObject({ balance: 3_000_000, reserved: offer.price, activeHolds: 1, available: 3_000_000 - offer.price })

    // The hold's time is up: its alarm reads the recorded outcome and captures.
    const stub = walletStub(u.id)
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE id = ?`, Date.now() - 1000, row.hold_id)
    })
    expect(await runDurableObjectAlarm(stub)).toBe(true)

    audit = await walletAudit(u.id)
    expect(audit, JSON.stringify(audit)).toMatchObject({ balance: 3_000_000 - offer.price, reserved: 0, activeHolds: 0 })
    expect(audit.ledgerSum).toBe(audit.balance)
    const captures = (await ledgerOf(u.id)).filter((e) => e.type === 'capture')
    expect(captures, JSON.stringify(captures)).toHaveLength(1)
    expect(captures[0]).toMatchObject({ amount: -offer.price, holdId: row.hold_id, referenceType: 'activation', referenceId: bought.id })

    // A late retry of the lost capture and another alarm change nothing.
    const retry = await new WalletService(env.WALLET).capture(u.id, { opId: `cap_${row.hold_id}`, holdId: row.hold_id })
    expect(retry.ok).toBe(false)
    await runDurableObjectAlarm(stub)
    expect(await walletAudit(u.id)).toEqual(audit)
  })

  it('without a capture outcome (the row was never written) the expired hold is voided: nothing charged', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const wallet = new WalletService(env.WALLET)
    await wallet.hold(u.id, { opId: 'hld_orphan_test', amount: 400_000, ttlMs: 60_000, reference: { type: 'activation', id: 'num_never_written' } })
    const stub = walletStub(u.id)
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE id = ?`, Date.now() - 1000, 'hld_orphan_test')
    })
    await runDurableObjectAlarm(stub)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, reserved: 0, activeHolds: 0, ledgerSum: 1_000_000 })
  })
})

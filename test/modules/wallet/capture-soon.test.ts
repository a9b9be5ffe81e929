/**
 * Deferred captures with a window (WalletService.captureSoon, lib/deferral.ts): carried by the
 * account's next hold in this isolate, or sent together when the window ends.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import { newId } from '../../../src/lib/ids'
import { WalletService } from '../../../src/modules/wallet/wallet.service'
import { logger } from '../../../src/lib/logger'

const wallet = new WalletService(env.WALLET)
let n = 0
const account = (tag: string) => `usr_capsoon_${tag}_${Date.now().toString(36)}_${++n}`
const op = () => newId('op')
const LONG_TTL = 3_600_000

async function fundedWithHolds(tag: string, amounts: number[]) {
  const acc = account(tag)
  expect((await wallet.credit(acc, { opId: op(), amount: 10_000_000 })).ok).toBe(true)
  const holds: string[] = []
  for (const amount of amounts) {
    const h = await wallet.hold(acc, { opId: op(), amount, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    holds.push(h.hold.id)
  }
  return { acc, holds }
}

/** A WalletService on the same Wallet objects, except that calls to `method` fail. */
function failingOn(method: string) {
  return new WalletService({
    idFromName: (name: string) => env.WALLET.idFromName(name),
    get: (id: DurableObjectId) =>
      new Proxy(env.WALLET.get(id), {
        get: (target, prop) => (prop === method ? () => Promise.reject(new Error(`${method} failed`)) : Reflect.get(target, prop)),
      }),
  } as unknown as typeof env.WALLET)
}

const captureEntries = async (acc: string) => (await wallet.history(acc, 1, 50)).entries.filter((e) => e.type === 'capture')

describe('WalletService.captureSoon', () => {
  it('without a window the capture is made at once and answers for itself', async () => {
    const { acc, holds } = await fundedWithHolds('now', [1_000_000])
    const capture = { opId: op(), holdId: holds[0]! }
    expect(await wallet.captureSoon(acc, capture, 0)).toEqual({ opId: capture.opId, ok: true })
    expect(await wallet.stub(acc).getHoldById(holds[0]!)).toMatchObject({ status: 'captured' })
  })

  it("the account's next hold carries a waiting capture: made before the window ends, by the hold's call", async () => {
    const { acc, holds } = await fundedWithHolds('carried', [1_000_000])
    const capture = { opId: op(), holdId: holds[0]! }
    const waiting = wallet.captureSoon(acc, capture, 3_000)
    const next = await wallet.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL })
    expect(next).toMatchObject({ ok: true, balance: { balance: 9_000_000, reserved: 2_000_000 } })
    // Made by the hold's call, long before the window ends.
    expect(await wallet.stub(acc).getHoldById(holds[0]!)).toMatchObject({ status: 'captured', capturedAmount: 1_000_000 })
    // Its own request finds it gone when it wakes: another call carried it.
    expect(await waiting).toBeNull()
    expect((await captureEntries(acc)).map((e) => e.opId)).toEqual([capture.opId])
  })

  it('one timer per account: the captures waiting when it ends go in one call, each made once', async () => {
    const { acc, holds } = await fundedWithHolds('together', [1_000_000, 2_000_000, 500_000])
    const captures = holds.map((holdId) => ({ opId: op(), holdId }))
    const started = Date.now()
    const first = wallet.captureSoon(acc, captures[0]!, 400)
    // A timer already waits for the account: the others return at once and go with it.
    expect(await Promise.all(captures.slice(1).map((c) => wallet.captureSoon(acc, c, 400)))).toEqual([null, null])
    expect(Date.now() - started).toBeLessThan(400)
    expect(await wallet.stub(acc).getHoldById(holds[1]!)).toMatchObject({ status: 'active' })
    // The first request's timer sends all three in one call.
    expect(await first).toEqual({ opId: captures[0]!.opId, ok: true })
    expect(await wallet.balance(acc)).toMatchObject({ balance: 6_500_000, reserved: 0, available: 6_500_000 })
    expect((await captureEntries(acc)).map((e) => e.opId).sort()).toEqual(captures.map((c) => c.opId).sort())
    const audit = await wallet.stub(acc).audit()
    expect(audit).toMatchObject({ ledgerSum: 6_500_000, activeHolds: 0, memoryAgrees: true })
  })

  it("a refused capture sent with another's is that request's answer only when it is its own", async () => {
    const { acc, holds } = await fundedWithHolds('refused', [1_000_000])
    const good = { opId: op(), holdId: holds[0]! }
    const bad = { opId: op(), holdId: 'hld_no_such_hold' }
    const [mine, theirs] = await Promise.all([wallet.captureSoon(acc, bad, 100), wallet.captureSoon(acc, good, 100)])
    expect(mine).toEqual({ opId: bad.opId, ok: false, reason: 'HOLD_NOT_FOUND' })
    expect(theirs).toBeNull()
    expect(await wallet.stub(acc).getHoldById(holds[0]!)).toMatchObject({ status: 'captured' })
  })

  it('a hold whose carrying call fails is made on its own; the captures it carried are left to the alarm, not carried again', async () => {
    const { acc, holds } = await fundedWithHolds('carryfail', [1_000_000])
    // The same Wallet objects, except that a call carrying captures fails.
    const failing = failingOn('holdCarrying')
    const error = vi.spyOn(logger, 'error')
    const capture = { opId: op(), holdId: holds[0]! }
    const waiting = failing.captureSoon(acc, capture, 300)
    const next = await failing.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL })
    expect(next).toMatchObject({ ok: true, balance: { balance: 10_000_000, reserved: 3_000_000 } })
    expect(error.mock.calls.map((c) => c[0])).toContain('wallet: a hold carrying captures failed; the alarm settles the carried holds')
    error.mockRestore()
    // Not carried again, and not sent by its timer either: its hold stays for the alarm.
    expect(await waiting).toBeNull()
    expect(await failing.stub(acc).getHoldById(holds[0]!)).toMatchObject({ status: 'active' })
    expect(await failing.hold(acc, { opId: op(), amount: 1, ttlMs: LONG_TTL })).toMatchObject({ ok: true })
    expect(await captureEntries(acc)).toEqual([])
  })

  it("a capture call that fails rejects, and its captures wait for the account's next hold", async () => {
    const { acc, holds } = await fundedWithHolds('manyfail', [1_000_000])
    const capture = { opId: op(), holdId: holds[0]! }
    await expect(failingOn('captureMany').captureSoon(acc, capture, 50)).rejects.toThrow('captureMany failed')
    expect(await wallet.stub(acc).getHoldById(holds[0]!)).toMatchObject({ status: 'active' })
    // Still waiting in the isolate: the next hold carries it.
    expect(await wallet.hold(acc, { opId: op(), amount: 1, ttlMs: LONG_TTL })).toMatchObject({ ok: true })
    expect(await wallet.stub(acc).getHoldById(holds[0]!)).toMatchObject({ status: 'captured', capturedAmount: 1_000_000 })
    expect((await captureEntries(acc)).map((e) => e.opId)).toEqual([capture.opId])
  })
})

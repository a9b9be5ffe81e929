/**
 * The Wallet object on its own (docs/money-and-flows.md): every operation, replays, refusals,
 * concurrency, expiry by alarm and the copy of the ledger to D1. Each test uses its own wallet
 * (storage is shared by the tests of this file).
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { newId } from '../../../src/lib/ids'
import type { Wallet } from '../../../src/modules/wallet/wallet.do'
import { waitFor } from '../../helpers/db'

let n = 0
const account = (tag: string) => `usr_wallet_${tag}_${Date.now().toString(36)}_${++n}`
const wallet = (acc: string) => env.WALLET.get(env.WALLET.idFromName(acc))
const op = () => newId('op')
type Stub = ReturnType<typeof wallet>

/** A hold that will not expire during the test unless a test moves its expiry. */
const LONG_TTL = 3_600_000

interface LedgerRow {
  id: string
  type: string
  amount: number
  balance_after: number
  op_id: string
  hold_id: string | null
  copied: number
}

const ledgerRows = (s: Stub) => runInDurableObject(s, (_: Wallet, state) => state.storage.sql.exec(`SELECT * FROM ledger ORDER BY rowid`).toArray() as unknown as LedgerRow[])

const opCount = (s: Stub) => runInDurableObject(s, (_: Wallet, state) => Number(state.storage.sql.exec(`SELECT COUNT(*) AS n FROM ops`).one().n))

/**
 * The wallet's invariants: available = balance − active holds ≥ 0, the ledger sums to the balance,
 * and every balance change is exactly one entry (each entry's balanceAfter is the previous one
 * plus its amount, in the order they were written; no operation wrote two).
 */
async function expectInvariants(s: Stub) {
  const a = await s.audit()
  const rows = await ledgerRows(s)
  const where = JSON.stringify({ audit: a, rows: rows.length })
  expect(a.negativeAvailable, where).toBe(false)
  expect(a.memoryAgrees, where).toBe(true)
  expect(a.available, where).toBeGreaterThanOrEqual(0)
  expect(a.available, where).toBe(a.balance - a.reserved)
  expect(a.ledgerSum, where).toBe(a.balance)
  expect(a.entries, where).toBe(rows.length)
  let running = 0
  for (const r of rows) {
    running += r.amount
    expect(r.balance_after, `${where} entry ${r.id}`).toBe(running)
  }
  expect(new Set(rows.map((r) => r.op_id)).size, where).toBe(rows.length)
  return a
}

async function funded(tag: string, micros: number) {
  const acc = account(tag)
  const s = wallet(acc)
  if (micros > 0) {
    const r = await s.credit(acc, { opId: op(), amount: micros, description: 'funding' })
    expect(r.ok, JSON.stringify(r)).toBe(true)
  }
  return { acc, s }
}

describe('credit and debit', () => {
  it('credit adds to the balance with one signed ledger entry', async () => {
    const acc = account('credit')
    const s = wallet(acc)
    const r = await s.credit(acc, { opId: 'op_credit_1', amount: 25_500_000, reference: { type: 'payment', id: 'pay_1' }, description: 'top-up' })
    if (!r.ok) throw new Error(JSON.stringify(r))
    expect(r.replayed).toBe(false)
    expect(r.entry).toMatchObject({
      type: 'credit',
      amount: 25_500_000,
      balanceAfter: 25_500_000,
      opId: 'op_credit_1',
      holdId: null,
      referenceType: 'payment',
      referenceId: 'pay_1',
      description: 'top-up',
    })
    expect(r.entry.id).toMatch(/^txn_/)
    expect(r.balance).toEqual({ balance: 25_500_000, reserved: 0, available: 25_500_000, currency: 'USD' })
    expect(await s.balance(acc)).toEqual(r.balance)
    await expectInvariants(s)
  })

  it('debit takes from the balance; more than available is refused and leaves no trace', async () => {
    const { acc, s } = await funded('debit', 10_000_000)
    const d = await s.debit(acc, { opId: op(), amount: 1_000, description: 'API call' })
    if (!d.ok) throw new Error(JSON.stringify(d))
    expect(d.entry).toMatchObject({ type: 'debit', amount: -1_000, balanceAfter: 9_999_000 })
    expect(d.balance.available).toBe(9_999_000)

    const before = await expectInvariants(s)
    const refused = await s.debit(acc, { opId: op(), amount: 9_999_001 })
    expect(refused).toEqual({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 9_999_000 })
    expect(await s.audit()).toEqual(before)
    // The whole available amount can be debited: the balance reaches exactly 0.
    const all = await s.debit(acc, { opId: op(), amount: 9_999_000 })
    expect(all.ok && all.balance.balance, JSON.stringify(all)).toBe(0)
    await expectInvariants(s)
  })

  it('a debit cannot spend money reserved by a hold', async () => {
    const { acc, s } = await funded('debit-held', 5_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 3_000_000, ttlMs: LONG_TTL })
    expect(h.ok, JSON.stringify(h)).toBe(true)
    expect(await s.debit(acc, { opId: op(), amount: 2_000_001 })).toEqual({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 2_000_000 })
    const ok = await s.debit(acc, { opId: op(), amount: 2_000_000 })
    expect(ok.ok && ok.balance, JSON.stringify(ok)).toEqual({ balance: 3_000_000, reserved: 3_000_000, available: 0, currency: 'USD' })
    await expectInvariants(s)
  })

  it('an INSUFFICIENT_BALANCE refusal is not recorded: the same op id succeeds once the wallet is funded', async () => {
    const acc = account('refusal')
    const s = wallet(acc)
    const debitId = op()
    const holdId = op()
    expect(await s.debit(acc, { opId: debitId, amount: 2_000_000 })).toEqual({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 0 })
    expect(await s.hold(acc, { opId: holdId, amount: 1_000_000, ttlMs: LONG_TTL })).toEqual({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 0 })
    expect(await opCount(s)).toBe(0)

    await s.credit(acc, { opId: op(), amount: 3_000_000 })
    const d = await s.debit(acc, { opId: debitId, amount: 2_000_000 })
    expect(d.ok && d.replayed, JSON.stringify(d)).toBe(false)
    const h = await s.hold(acc, { opId: holdId, amount: 1_000_000, ttlMs: LONG_TTL })
    expect(h.ok && h.replayed, JSON.stringify(h)).toBe(false)
    expect(await s.balance(acc)).toEqual({ balance: 1_000_000, reserved: 1_000_000, available: 0, currency: 'USD' })
    await expectInvariants(s)
  })

  it('refuses invalid amounts (0, negative, fractional, non-finite, unsafe) and invalid ttls, recording nothing', async () => {
    const { acc, s } = await funded('invalid', 10_000_000)
    const before = await s.audit()
    const bad = [0, -1, -5_000_000, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 2, '100' as unknown as number]
    for (const amount of bad) {
      const tag = String(amount)
      expect(await s.credit(acc, { opId: op(), amount }), `credit ${tag}`).toEqual({ ok: false, reason: 'INVALID_AMOUNT' })
      expect(await s.debit(acc, { opId: op(), amount }), `debit ${tag}`).toEqual({ ok: false, reason: 'INVALID_AMOUNT' })
      expect(await s.hold(acc, { opId: op(), amount, ttlMs: LONG_TTL }), `hold ${tag}`).toEqual({ ok: false, reason: 'INVALID_AMOUNT' })
    }
    for (const ttlMs of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(await s.hold(acc, { opId: op(), amount: 1_000, ttlMs }), `ttl ${ttlMs}`).toEqual({ ok: false, reason: 'INVALID_AMOUNT' })
    }
    const h = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    for (const amount of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(await s.capture(acc, { opId: op(), holdId: h.hold.id, amount }), `capture ${amount}`).toEqual({ ok: false, reason: 'INVALID_AMOUNT' })
    }
    expect((await s.getHoldById(h.hold.id))?.status).toBe('active')
    expect(await s.audit()).toEqual({ ...before, reserved: 1_000_000, available: before.available - 1_000_000, activeHolds: 1 })
    // The one hold is the only operation recorded after the funding.
    expect(await opCount(s)).toBe(2)
  })

  it('a refused op id with an invalid amount may be used again with a valid one', async () => {
    const { acc, s } = await funded('invalid-retry', 1_000_000)
    const id = op()
    expect(await s.debit(acc, { opId: id, amount: 0 })).toEqual({ ok: false, reason: 'INVALID_AMOUNT' })
    const d = await s.debit(acc, { opId: id, amount: 1 })
    expect(d.ok && d.replayed, JSON.stringify(d)).toBe(false)
  })

  it('an empty operation id is refused', async () => {
    const acc = account('empty-op')
    const s = wallet(acc)
    expect(await s.credit(acc, { opId: '', amount: 1 })).toEqual({ ok: false, reason: 'INVALID_OPERATION_ID' })
    expect((await s.audit()).entries).toBe(0)
  })

  it('is bound to one account: addressing it as another account throws', async () => {
    const acc = account('bound')
    const s = wallet(acc)
    await s.credit(acc, { opId: op(), amount: 1 })
    // Called in the object (through RPC the same error would reach the caller as a rejection).
    await runInDurableObject(s, (w: Wallet) => {
      expect(() => w.balance('usr_someone_else')).toThrow(/addressed as/)
      expect(() => w.credit('usr_someone_else', { opId: op(), amount: 1 })).toThrow(/addressed as/)
    })
    expect((await s.balance(acc)).balance).toBe(1)
  })
})

describe('holds, capture and void', () => {
  it('a hold reserves money without moving it: no ledger entry, balance unchanged', async () => {
    const { acc, s } = await funded('hold', 10_000_000)
    const t0 = Date.now()
    const h = await s.hold(acc, { opId: 'hold_a', amount: 1_500_000, ttlMs: 60_000, reference: { type: 'activation', id: 'act_1' }, description: 'Telegram US' })
    if (!h.ok) throw new Error(JSON.stringify(h))
    expect(h.replayed).toBe(false)
    expect(h.hold).toMatchObject({
      id: 'hold_a',
      amount: 1_500_000,
      status: 'active',
      capturedAmount: 0,
      referenceType: 'activation',
      referenceId: 'act_1',
      description: 'Telegram US',
      settledAt: null,
    })
    expect(h.hold.expiresAt).toBeGreaterThanOrEqual(t0 + 60_000)
    expect(h.hold.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000)
    expect(h.balance).toEqual({ balance: 10_000_000, reserved: 1_500_000, available: 8_500_000, currency: 'USD' })
    expect((await ledgerRows(s)).length).toBe(1)
    // The alarm is set for the expiry (or earlier, to retry the copy of the ledger).
    const alarm = await runInDurableObject(s, (_: Wallet, state) => state.storage.getAlarm())
    expect(alarm).not.toBeNull()
    expect(alarm!).toBeLessThanOrEqual(h.hold.expiresAt)
    await expectInvariants(s)
  })

  it('a hold larger than the available money is refused', async () => {
    const { acc, s } = await funded('hold-big', 1_000_000)
    expect(await s.hold(acc, { opId: op(), amount: 1_000_001, ttlMs: LONG_TTL })).toEqual({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 1_000_000 })
    const all = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    expect(all.ok, JSON.stringify(all)).toBe(true)
    expect(await s.hold(acc, { opId: op(), amount: 1, ttlMs: LONG_TTL })).toEqual({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 0 })
    await expectInvariants(s)
  })

  it('capture (whole) charges the hold: one capture entry carrying the hold and its reference', async () => {
    const { acc, s } = await funded('capture', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL, reference: { type: 'order', id: 'ord_9' }, description: 'DID order' })
    if (!h.ok) throw new Error(JSON.stringify(h))
    const c = await s.capture(acc, { opId: op(), holdId: h.hold.id })
    if (!c.ok) throw new Error(JSON.stringify(c))
    expect(c.entry).toMatchObject({ type: 'capture', amount: -2_000_000, balanceAfter: 8_000_000, holdId: h.hold.id, referenceType: 'order', referenceId: 'ord_9', description: 'DID order' })
    expect(c.hold).toMatchObject({ status: 'captured', capturedAmount: 2_000_000 })
    expect(c.hold.settledAt).not.toBeNull()
    expect(c.balance).toEqual({ balance: 8_000_000, reserved: 0, available: 8_000_000, currency: 'USD' })
    await expectInvariants(s)
  })

  it('capture (part) charges only the part and releases the rest', async () => {
    const { acc, s } = await funded('partial', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 3_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    const c = await s.capture(acc, { opId: op(), holdId: h.hold.id, amount: 1_250_000, description: '1 of 3 numbers bought' })
    if (!c.ok) throw new Error(JSON.stringify(c))
    expect(c.entry).toMatchObject({ type: 'capture', amount: -1_250_000, balanceAfter: 8_750_000, description: '1 of 3 numbers bought' })
    expect(c.hold).toMatchObject({ status: 'captured', capturedAmount: 1_250_000, amount: 3_000_000 })
    expect(c.balance).toEqual({ balance: 8_750_000, reserved: 0, available: 8_750_000, currency: 'USD' })
    await expectInvariants(s)
  })

  it('capture of 0 settles the hold without a ledger entry', async () => {
    const { acc, s } = await funded('capture-zero', 1_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 400_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    const c = await s.capture(acc, { opId: op(), holdId: h.hold.id, amount: 0 })
    if (!c.ok) throw new Error(JSON.stringify(c))
    expect(c.entry).toBeNull()
    expect(c.hold).toMatchObject({ status: 'captured', capturedAmount: 0 })
    expect(c.balance).toEqual({ balance: 1_000_000, reserved: 0, available: 1_000_000, currency: 'USD' })
    expect((await ledgerRows(s)).length).toBe(1)
    await expectInvariants(s)
  })

  it('capture refuses more than the hold, and unknown or settled holds', async () => {
    const { acc, s } = await funded('capture-refusals', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    expect(await s.capture(acc, { opId: op(), holdId: h.hold.id, amount: 1_000_001 })).toEqual({ ok: false, reason: 'AMOUNT_EXCEEDS_HOLD' })
    expect(await s.capture(acc, { opId: op(), holdId: 'hold_nope' })).toEqual({ ok: false, reason: 'HOLD_NOT_FOUND' })
    expect((await s.capture(acc, { opId: op(), holdId: h.hold.id })).ok).toBe(true)
    expect(await s.capture(acc, { opId: op(), holdId: h.hold.id })).toEqual({ ok: false, reason: 'HOLD_NOT_ACTIVE' })
    expect(await s.void(acc, { opId: op(), holdId: h.hold.id })).toEqual({ ok: false, reason: 'HOLD_NOT_ACTIVE' })
    await expectInvariants(s)
    expect((await s.audit()).balance).toBe(9_000_000)
  })

  it('void releases the hold and charges nothing; a voided hold cannot be captured', async () => {
    const { acc, s } = await funded('void', 5_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 5_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    expect(h.balance.available).toBe(0)
    const v = await s.void(acc, { opId: op(), holdId: h.hold.id })
    if (!v.ok) throw new Error(JSON.stringify(v))
    expect(v.hold).toMatchObject({ status: 'voided', capturedAmount: 0 })
    expect(v.hold.settledAt).not.toBeNull()
    expect(v.balance).toEqual({ balance: 5_000_000, reserved: 0, available: 5_000_000, currency: 'USD' })
    expect(await s.capture(acc, { opId: op(), holdId: h.hold.id })).toEqual({ ok: false, reason: 'HOLD_NOT_ACTIVE' })
    expect(await s.void(acc, { opId: op(), holdId: 'hold_missing' })).toEqual({ ok: false, reason: 'HOLD_NOT_FOUND' })
    expect((await ledgerRows(s)).length).toBe(1)
    await expectInvariants(s)
  })

  it('the hold each operation answers is the hold as stored', async () => {
    const { acc, s } = await funded('answered', 5_000_000)
    const held = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL, reference: { type: 'activation', id: 'num_answered' }, description: 'a number' })
    if (!held.ok) throw new Error(JSON.stringify(held))
    expect(held.hold).toEqual(await s.getHoldById(held.hold.id))
    const taken = await s.capture(acc, { opId: op(), holdId: held.hold.id, amount: 1_500_000 })
    if (!taken.ok) throw new Error(JSON.stringify(taken))
    expect(taken.hold).toEqual(await s.getHoldById(held.hold.id))
    const other = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    if (!other.ok) throw new Error(JSON.stringify(other))
    const voided = await s.void(acc, { opId: op(), holdId: other.hold.id })
    if (!voided.ok) throw new Error(JSON.stringify(voided))
    expect(voided.hold).toEqual(await s.getHoldById(other.hold.id))
    await expectInvariants(s)
  })

  it('an operation that fails half-way is rolled back, and the balance it answers afterwards is the stored one', async () => {
    const { acc, s } = await funded('rollback', 5_000_000)
    const held = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL })
    if (!held.ok) throw new Error(JSON.stringify(held))
    // The capture settles the hold, then fails writing its ledger entry: nothing of it may remain.
    await runInDurableObject(s, (w: Wallet, state) => {
      state.storage.sql.exec(`CREATE TRIGGER refuse_entries BEFORE INSERT ON ledger BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
      expect(() => w.capture(acc, { opId: op(), holdId: held.hold.id })).toThrow(/disk full/)
      state.storage.sql.exec(`DROP TRIGGER refuse_entries`)
    })
    expect(await s.balance(acc)).toEqual({ balance: 5_000_000, reserved: 2_000_000, available: 3_000_000, currency: 'USD' })
    expect(await s.getHoldById(held.hold.id)).toMatchObject({ status: 'active' })
    const taken = await s.capture(acc, { opId: op(), holdId: held.hold.id })
    expect(taken).toMatchObject({ ok: true, balance: { balance: 3_000_000, reserved: 0, available: 3_000_000 } })
    await expectInvariants(s)
  })
})

describe('operation ids: a replay returns the first result and moves nothing', () => {
  it('credit, debit, hold, capture and void each replay their first result', async () => {
    const acc = account('replay')
    const s = wallet(acc)
    const ids = { credit: op(), debit: op(), hold: op(), hold2: op(), capture: op(), void: op() }
    const first = {
      credit: await s.credit(acc, { opId: ids.credit, amount: 10_000_000 }),
      debit: await s.debit(acc, { opId: ids.debit, amount: 1_000_000 }),
      hold: await s.hold(acc, { opId: ids.hold, amount: 2_000_000, ttlMs: LONG_TTL }),
      hold2: await s.hold(acc, { opId: ids.hold2, amount: 3_000_000, ttlMs: LONG_TTL }),
    }
    const capture = await s.capture(acc, { opId: ids.capture, holdId: ids.hold, amount: 500_000 })
    const voided = await s.void(acc, { opId: ids.void, holdId: ids.hold2 })
    for (const r of [...Object.values(first), capture, voided]) expect(r.ok && r.replayed, JSON.stringify(r)).toBe(false)
    const settled = await expectInvariants(s)
    const entries = (await ledgerRows(s)).length
    expect(entries).toBe(3)

    // The same ids again — even with other amounts — answer the first result, marked replayed.
    const again = {
      credit: await s.credit(acc, { opId: ids.credit, amount: 99_000_000 }),
      debit: await s.debit(acc, { opId: ids.debit, amount: 7 }),
      hold: await s.hold(acc, { opId: ids.hold, amount: 1, ttlMs: 5 }),
      hold2: await s.hold(acc, { opId: ids.hold2, amount: 3_000_000, ttlMs: LONG_TTL }),
    }
    for (const k of Object.keys(first) as (keyof typeof first)[]) {
      expect(again[k], k).toEqual({ ...first[k], replayed: true })
    }
    expect(await s.capture(acc, { opId: ids.capture, holdId: ids.hold, amount: 2_000_000 })).toEqual({ ...capture, replayed: true })
    expect(await s.void(acc, { opId: ids.void, holdId: ids.hold2 })).toEqual({ ...voided, replayed: true })

    expect(await s.audit()).toEqual(settled)
    expect((await ledgerRows(s)).length).toBe(entries)
    // The hold's replay shows the hold as it was first answered (active), not as it is now.
    expect(again.hold.ok && again.hold.hold.status).toBe('active')
    expect((await s.getHoldById(ids.hold))?.status).toBe('captured')
  })

  it('an op id is per kind of operation: capturing with the hold id as op id really captures', async () => {
    const { acc, s } = await funded('per-kind', 4_000_000)
    const holdId = op()
    const h = await s.hold(acc, { opId: holdId, amount: 1_000_000, ttlMs: LONG_TTL })
    expect(h.ok, JSON.stringify(h)).toBe(true)
    const c = await s.capture(acc, { opId: holdId, holdId })
    if (!c.ok) throw new Error(JSON.stringify(c))
    expect(c.replayed).toBe(false)
    expect(c.entry?.amount).toBe(-1_000_000)
    expect((await s.getHoldById(holdId))?.status).toBe('captured')
    // … and a replay of that capture is still a replay of the capture.
    expect(await s.capture(acc, { opId: holdId, holdId })).toEqual({ ...c, replayed: true })
    expect((await s.audit()).balance).toBe(3_000_000)
    await expectInvariants(s)
  })

  it('20 concurrent calls with one op id move money once', async () => {
    const acc = account('replay-concurrent')
    const s = wallet(acc)
    const id = op()
    const results = await Promise.all(Array.from({ length: 20 }, () => s.credit(acc, { opId: id, amount: 1_000_000 })))
    expect(results.filter((r) => r.ok && !r.replayed).length).toBe(1)
    expect(results.filter((r) => r.ok && r.replayed).length).toBe(19)
    const entryIds = new Set(results.map((r) => (r.ok ? r.entry.id : null)))
    expect(entryIds.size).toBe(1)
    expect((await s.audit()).balance).toBe(1_000_000)
    await expectInvariants(s)
  })
})

describe('returnDebit: a debit given back once, only if it was made', () => {
  it('a debit made is credited back for what it took, once; a second return (any op id) replays', async () => {
    const { acc, s } = await funded('return-made', 5_000_000)
    const debitId = op()
    const d = await s.debit(acc, { opId: debitId, amount: 2_000_000, reference: { type: 'phone_number', id: 'pn_1' } })
    expect(d.ok, JSON.stringify(d)).toBe(true)
    const r = await s.returnDebit(acc, { opId: `${debitId}_returned`, debitOpId: debitId, reference: { type: 'phone_number', id: 'pn_1' }, description: 'returned' })
    if (!r.ok) throw new Error(JSON.stringify(r))
    expect(r.replayed).toBe(false)
    expect(r.entry).toMatchObject({ type: 'credit', amount: 2_000_000, opId: `${debitId}_returned`, referenceType: 'phone_number', referenceId: 'pn_1', description: 'returned' })
    expect(r.balance.balance).toBe(5_000_000)

    expect(await s.returnDebit(acc, { opId: `${debitId}_returned`, debitOpId: debitId })).toEqual({ ...r, replayed: true })
    const other = await s.returnDebit(acc, { opId: op(), debitOpId: debitId })
    expect(other).toEqual({ ...r, replayed: true })
    // The debit itself still replays as made.
    expect(await s.debit(acc, { opId: debitId, amount: 2_000_000 })).toEqual({ ...d, replayed: true })
    const a = await expectInvariants(s)
    expect(a).toMatchObject({ balance: 5_000_000, entries: 3 })
  })

  it('a debit never made is cancelled: nothing credited, and that debit is refused for good, even once funded', async () => {
    const { acc, s } = await funded('return-never', 0)
    const debitId = op()
    // Refused (no money): not recorded, so it could still be made later …
    expect(await s.debit(acc, { opId: debitId, amount: 1_000_000 })).toEqual({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 0 })
    // … until it is returned: nothing to give back, and it is cancelled.
    const r = await s.returnDebit(acc, { opId: `${debitId}_returned`, debitOpId: debitId })
    expect(r).toMatchObject({ ok: true, replayed: false, entry: null })
    await s.credit(acc, { opId: op(), amount: 3_000_000 })
    for (let i = 0; i < 2; i++) expect(await s.debit(acc, { opId: debitId, amount: 1_000_000 })).toMatchObject({ ok: false, reason: 'OPERATION_CANCELLED' })
    expect(await s.returnDebit(acc, { opId: `${debitId}_returned`, debitOpId: debitId })).toMatchObject({ ok: true, replayed: true, entry: null })
    // Another debit id is not affected.
    expect((await s.debit(acc, { opId: op(), amount: 1_000_000 })).ok).toBe(true)
    expect(await expectInvariants(s)).toMatchObject({ balance: 2_000_000, entries: 2 })
  })

  it('a debit and its return racing: exactly one outcome, never a credit without its debit', async () => {
    for (let i = 0; i < 10; i++) {
      const { acc, s } = await funded(`return-race-${i}`, 1_000_000)
      const debitId = op()
      const [d, r] = await Promise.all([s.debit(acc, { opId: debitId, amount: 1_000_000 }), s.returnDebit(acc, { opId: `${debitId}_returned`, debitOpId: debitId })])
      if (!r.ok) throw new Error(JSON.stringify(r))
      // Either the debit came first and was given back, or the return came first and cancelled it.
      if (d.ok) expect(r.entry?.amount).toBe(1_000_000)
      else expect([d.reason, r.entry]).toEqual(['OPERATION_CANCELLED', null])
      expect((await expectInvariants(s)).balance).toBe(1_000_000)
    }
  })

  it('refuses an empty operation id for the credit or the debit, recording nothing', async () => {
    const { acc, s } = await funded('return-invalid', 1_000_000)
    const debitId = op()
    expect(await s.returnDebit(acc, { opId: '', debitOpId: debitId })).toEqual({ ok: false, reason: 'INVALID_OPERATION_ID' })
    expect(await s.returnDebit(acc, { opId: op(), debitOpId: '' })).toEqual({ ok: false, reason: 'INVALID_OPERATION_ID' })
    // Nothing was cancelled: the debit can still be made.
    expect((await s.debit(acc, { opId: debitId, amount: 1_000 })).ok).toBe(true)
    await expectInvariants(s)
  })
})

describe('concurrency: holds never oversell the balance', () => {
  for (const [count, affordable] of [
    [10, 4],
    [50, 17],
  ] as const) {
    it(`${count} concurrent holds on a balance covering ${affordable} → exactly ${affordable} succeed`, async () => {
      const price = 1_230_000
      // A little over `affordable` prices, never enough for one more.
      const { acc, s } = await funded(`race-${count}`, price * affordable + price - 1)
      const results = await Promise.all(
        Array.from({ length: count }, (_, i) => s.hold(acc, { opId: `race_${count}_${i}`, amount: price, ttlMs: LONG_TTL, reference: { type: 'activation', id: `act_${i}` } })),
      )
      const won = results.filter((r) => r.ok)
      const lost = results.filter((r) => !r.ok)
      expect(won.length, JSON.stringify(lost.slice(0, 1))).toBe(affordable)
      for (const r of lost) expect(r).toMatchObject({ ok: false, reason: 'INSUFFICIENT_BALANCE' })
      for (const r of won) if (r.ok) expect(r.balance.available).toBeGreaterThanOrEqual(0)
      const a = await expectInvariants(s)
      expect(a).toMatchObject({ reserved: price * affordable, available: price - 1, activeHolds: affordable })

      // Capturing every winner concurrently charges exactly those holds.
      const caps = await Promise.all(won.map((r) => (r.ok ? s.capture(acc, { opId: op(), holdId: r.hold.id }) : null)))
      expect(caps.every((c) => c?.ok)).toBe(true)
      const after = await expectInvariants(s)
      expect(after).toMatchObject({ balance: price - 1, reserved: 0, available: price - 1, activeHolds: 0 })
    })
  }

  it('a storm of mixed operations keeps every invariant', async () => {
    const { acc, s } = await funded('storm', 5_000_000)
    const holds = await Promise.all(Array.from({ length: 8 }, () => s.hold(acc, { opId: op(), amount: 600_000, ttlMs: LONG_TTL })))
    const held = holds.flatMap((h) => (h.ok ? [h.hold.id] : []))
    expect(held.length).toBe(8)
    const ops: Promise<{ ok: boolean }>[] = []
    for (let i = 0; i < 40; i++) {
      const k = i % 5
      if (k === 0) ops.push(s.credit(acc, { opId: op(), amount: 250_000 }))
      if (k === 1) ops.push(s.debit(acc, { opId: op(), amount: 300_000 }))
      if (k === 2) ops.push(s.hold(acc, { opId: op(), amount: 200_000, ttlMs: LONG_TTL }))
      if (k === 3 && held.length) ops.push(s.capture(acc, { opId: op(), holdId: held.pop()!, amount: 100_000 * (i % 4) }))
      if (k === 4 && held.length) ops.push(s.void(acc, { opId: op(), holdId: held.pop()! }))
    }
    const results = await Promise.all(ops)
    expect(results.some((r) => r.ok)).toBe(true)
    await expectInvariants(s)
  })
})

describe('history', () => {
  it('lists entries newest first, paged, with the total', async () => {
    const acc = account('history')
    const s = wallet(acc)
    // Written back to back: several share a millisecond, and the order must still be the order written.
    for (let i = 1; i <= 7; i++) await s.credit(acc, { opId: `hist_${i}`, amount: i * 1_000, description: `credit ${i}` })
    const p1 = await s.history(acc, 1, 3)
    expect(p1.total).toBe(7)
    expect(p1.entries.map((e) => e.description)).toEqual(['credit 7', 'credit 6', 'credit 5'])
    const p3 = await s.history(acc, 3, 3)
    expect(p3.entries.map((e) => e.description)).toEqual(['credit 1'])
    expect((await s.history(acc, 4, 3)).entries).toEqual([])
    const all = (await s.history(acc, 1, 100)).entries
    expect(all.map((e) => e.balanceAfter)).toEqual([28_000, 21_000, 15_000, 10_000, 6_000, 3_000, 1_000])
  })

  it('orders many same-millisecond entries as written', async () => {
    const acc = account('history-burst')
    const s = wallet(acc)
    await Promise.all(Array.from({ length: 60 }, (_, i) => s.credit(acc, { opId: `burst_${i}`, amount: 1_000 })))
    const { entries } = await s.history(acc, 1, 100)
    expect(entries.map((e) => e.balanceAfter)).toEqual(Array.from({ length: 60 }, (_, i) => (60 - i) * 1_000))
  })
})

// ---- expiry by alarm --------------------------------------------------------------------

/** Moves holds' expiry into the past, as if their ttl had run out. */
const expire = (s: Stub, ...holdIds: string[]) =>
  runInDurableObject(s, (_: Wallet, state) => {
    for (const id of holdIds) state.storage.sql.exec(`UPDATE holds SET expires_at = ? WHERE id = ?`, Date.now() - 1_000, id)
  })

const recordOutcome = (holdId: string, userId: string, outcome: 'capture' | 'void', amount: number) =>
  env.DB.prepare(`INSERT INTO hold_outcomes (hold_id, user_id, outcome, amount) VALUES (?, ?, ?, ?)`).bind(holdId, userId, outcome, amount).run()

describe('hold expiry (alarm)', () => {
  it('a hold whose flow completed (hold_outcomes: capture) is captured for the recorded amount', async () => {
    const { acc, s } = await funded('expiry-capture', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL, reference: { type: 'activation', id: 'act_crashed' } })
    if (!h.ok) throw new Error(JSON.stringify(h))
    await recordOutcome(h.hold.id, acc, 'capture', 1_500_000)
    await expire(s, h.hold.id)
    expect(await runDurableObjectAlarm(s)).toBe(true)
    const hold = await s.getHoldById(h.hold.id)
    expect(hold).toMatchObject({ status: 'captured', capturedAmount: 1_500_000 })
    const [last] = (await s.history(acc, 1, 1)).entries
    expect(last).toMatchObject({ type: 'capture', amount: -1_500_000, holdId: h.hold.id, referenceType: 'activation', referenceId: 'act_crashed' })
    expect(await expectInvariants(s)).toMatchObject({ balance: 8_500_000, reserved: 0, activeHolds: 0 })
    // At-least-once alarms: running it again changes nothing.
    await runInDurableObject(s, (w: Wallet) => w.alarm())
    expect(await expectInvariants(s)).toMatchObject({ balance: 8_500_000, reserved: 0, activeHolds: 0 })
  })

  it('a recorded capture larger than the hold takes the hold, no more', async () => {
    const { acc, s } = await funded('expiry-cap', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    await recordOutcome(h.hold.id, acc, 'capture', 5_000_000)
    await expire(s, h.hold.id)
    await runDurableObjectAlarm(s)
    expect(await s.getHoldById(h.hold.id)).toMatchObject({ status: 'captured', capturedAmount: 1_000_000 })
    expect((await expectInvariants(s)).balance).toBe(9_000_000)
  })

  it('a hold without an outcome, or with outcome void, is voided; holds not yet due stay active', async () => {
    const { acc, s } = await funded('expiry-void', 10_000_000)
    const ids = [op(), op(), op()]
    for (const id of ids) expect((await s.hold(acc, { opId: id, amount: 1_000_000, ttlMs: LONG_TTL })).ok).toBe(true)
    await recordOutcome(ids[1]!, acc, 'void', 1_000_000)
    await expire(s, ids[0]!, ids[1]!)
    expect(await runDurableObjectAlarm(s)).toBe(true)
    expect((await s.getHoldById(ids[0]!))?.status).toBe('voided')
    expect((await s.getHoldById(ids[1]!))?.status).toBe('voided')
    expect((await s.getHoldById(ids[2]!))?.status).toBe('active')
    expect(await expectInvariants(s)).toMatchObject({ balance: 10_000_000, reserved: 1_000_000, activeHolds: 1 })
    // The next alarm is the remaining hold's expiry (or sooner).
    const next = await runInDurableObject(s, (_: Wallet, state) => state.storage.getAlarm())
    expect(next).not.toBeNull()
    expect(next!).toBeLessThanOrEqual((await s.getHoldById(ids[2]!))!.expiresAt)
  })

  it('an outcome of another account is not applied to this hold', async () => {
    const { acc, s } = await funded('expiry-foreign', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    await recordOutcome(h.hold.id, 'usr_somebody_else', 'capture', 1_000_000)
    await expire(s, h.hold.id)
    await runDurableObjectAlarm(s)
    expect((await s.getHoldById(h.hold.id))?.status).toBe('voided')
    expect((await expectInvariants(s)).balance).toBe(10_000_000)
  })

  it('when D1 cannot be read the hold stays active and the alarm comes back; then it settles', async () => {
    const { acc, s } = await funded('expiry-d1-down', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    await recordOutcome(h.hold.id, acc, 'capture', 2_000_000)
    await expire(s, h.hold.id)
    await env.DB.exec('ALTER TABLE hold_outcomes RENAME TO hold_outcomes_offline')
    try {
      const t0 = Date.now()
      expect(await runDurableObjectAlarm(s)).toBe(true)
      expect((await s.getHoldById(h.hold.id))?.status).toBe('active')
      expect(await expectInvariants(s)).toMatchObject({ balance: 10_000_000, reserved: 2_000_000 })
      const retry = await runInDurableObject(s, (_: Wallet, state) => state.storage.getAlarm())
      expect(retry, 'a retry alarm is set').not.toBeNull()
      expect(retry!).toBeGreaterThan(t0)
    } finally {
      await env.DB.exec('ALTER TABLE hold_outcomes_offline RENAME TO hold_outcomes')
    }
    expect(await runDurableObjectAlarm(s)).toBe(true)
    expect(await s.getHoldById(h.hold.id)).toMatchObject({ status: 'captured', capturedAmount: 2_000_000 })
    expect((await expectInvariants(s)).balance).toBe(8_000_000)
  })

  it('settles more due holds than one D1 statement can bind (120)', async () => {
    const { acc, s } = await funded('expiry-many', 1_000_000_000)
    const ids = Array.from({ length: 120 }, (_, i) => `many_${i}_${op()}`)
    await Promise.all(ids.map((id) => s.hold(acc, { opId: id, amount: 1_000_000, ttlMs: LONG_TTL })))
    const captured = ids.filter((_, i) => i % 3 === 0)
    for (let i = 0; i < captured.length; i += 20) {
      await env.DB.batch(captured.slice(i, i + 20).map((id) => env.DB.prepare(`INSERT INTO hold_outcomes (hold_id, user_id, outcome, amount) VALUES (?, ?, 'capture', 1000000)`).bind(id, acc)))
    }
    await expire(s, ...ids)
    expect(await runDurableObjectAlarm(s)).toBe(true)
    const a = await expectInvariants(s)
    expect(a, JSON.stringify(a)).toMatchObject({ activeHolds: 0, reserved: 0, balance: 1_000_000_000 - captured.length * 1_000_000 })
  })

  it('a capture or void that wins the race with the alarm is not undone', async () => {
    const { acc, s } = await funded('expiry-race', 10_000_000)
    const h = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    if (!h.ok) throw new Error(JSON.stringify(h))
    await expire(s, h.hold.id)
    // The flow captures on time (the alarm has not run yet), then the alarm runs without an outcome row.
    expect((await s.capture(acc, { opId: op(), holdId: h.hold.id, amount: 700_000 })).ok).toBe(true)
    await runInDurableObject(s, (w: Wallet) => w.alarm())
    expect(await s.getHoldById(h.hold.id)).toMatchObject({ status: 'captured', capturedAmount: 700_000 })
    expect((await expectInvariants(s)).balance).toBe(9_300_000)
  })
})

// ---- the copy of the ledger in D1 ------------------------------------------------------------

interface D1Entry {
  id: string
  user_id: string
  type: string
  amount: number
  balance_after: number
  op_id: string
  hold_id: string | null
}

const d1Entries = async (userId: string) => (await env.DB.prepare(`SELECT * FROM wallet_ledger WHERE user_id = ? ORDER BY created_at, id`).bind(userId).all<D1Entry>()).results

async function waitForCopy(s: Stub, userId: string, count: number) {
  return waitFor(async () => {
    const rows = await d1Entries(userId)
    const uncopied = await runInDurableObject(s, (_: Wallet, state) => Number(state.storage.sql.exec(`SELECT COUNT(*) AS n FROM ledger WHERE copied = 0`).one().n))
    return rows.length === count && uncopied === 0 ? rows : null
  }, `${count} wallet_ledger rows for ${userId}`)
}

describe('ledger copy to D1', () => {
  it('copies every entry with the account as user_id, by entry id', async () => {
    const { acc, s } = await funded('copy', 10_000_000)
    await s.debit(acc, { opId: op(), amount: 1_000_000, reference: { type: 'activation', id: 'num_copy_1' }, description: 'A number "quoted", ünïcode' })
    const h = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL, reference: { type: 'did_order', id: 'ord_copy_1' } })
    if (!h.ok) throw new Error(JSON.stringify(h))
    await s.capture(acc, { opId: op(), holdId: h.hold.id, amount: 500_000 })
    const rows = await waitForCopy(s, acc, 3)
    const local = await ledgerRows(s)
    expect(rows.map((r) => r.id).sort()).toEqual(local.map((r) => r.id).sort())
    // Every column as the Wallet stored it, with the values' SQL types (the page travels as JSON).
    for (const r of rows) {
      const { copied: _, ...mine } = local.find((l) => l.id === r.id)!
      expect(r).toEqual({ ...mine, user_id: acc })
    }
    expect(rows.find((r) => r.type === 'debit')).toMatchObject({ amount: -1_000_000, reference_type: 'activation', reference_id: 'num_copy_1', description: 'A number "quoted", ünïcode' })
    // Another account's entries are not mixed in.
    expect(rows.every((r) => r.user_id === acc)).toBe(true)
  })

  it('copying twice does not duplicate entries', async () => {
    const { acc, s } = await funded('copy-twice', 5_000_000)
    await s.debit(acc, { opId: op(), amount: 1_000 })
    await waitForCopy(s, acc, 2)
    // Forget that they were copied and run the copy again (the alarm copies what is marked uncopied).
    await runInDurableObject(s, (_: Wallet, state) => state.storage.sql.exec(`UPDATE ledger SET copied = 0`))
    await runInDurableObject(s, (w: Wallet) => w.alarm())
    await runInDurableObject(s, (w: Wallet) => w.alarm())
    const rows = await waitForCopy(s, acc, 2)
    expect(new Set(rows.map((r) => r.id)).size).toBe(2)
  })

  it('a failed copy is retried by the alarm', async () => {
    const { acc, s } = await funded('copy-retry', 0)
    await env.DB.exec('ALTER TABLE wallet_ledger RENAME TO wallet_ledger_offline')
    try {
      await s.credit(acc, { opId: op(), amount: 1_000_000 })
      await s.credit(acc, { opId: op(), amount: 2_000_000 })
      await waitFor(async () => runInDurableObject(s, (_: Wallet, state) => state.storage.getAlarm()), 'a retry alarm after the failed copy')
    } finally {
      await env.DB.exec('ALTER TABLE wallet_ledger_offline RENAME TO wallet_ledger')
    }
    expect(await d1Entries(acc)).toEqual([])
    expect(await runDurableObjectAlarm(s)).toBe(true)
    await waitForCopy(s, acc, 2)
  })

  it('while operations keep coming, the entries written since the last copy go in one later copy', async () => {
    const acc = account('copy-busy')
    const s = wallet(acc)
    await s.credit(acc, { opId: op(), amount: 1 })
    // After a quiet spell the copy starts at once.
    await waitForCopy(s, acc, 1)
    for (let i = 0; i < 4; i++) await s.credit(acc, { opId: op(), amount: 1 })
    // A copy started less than COPY_INTERVAL_MS ago: these four wait for the next one…
    expect(await d1Entries(acc)).toHaveLength(1)
    // …which takes all of them.
    await waitForCopy(s, acc, 5)
  })

  it('copies more entries than one batch holds', async () => {
    const acc = account('copy-many')
    const s = wallet(acc)
    await env.DB.exec('ALTER TABLE wallet_ledger RENAME TO wallet_ledger_offline')
    try {
      for (let i = 0; i < 120; i++) await s.credit(acc, { opId: op(), amount: 1 })
    } finally {
      await env.DB.exec('ALTER TABLE wallet_ledger_offline RENAME TO wallet_ledger')
    }
    await runDurableObjectAlarm(s)
    await waitForCopy(s, acc, 120)
  })
})

// ---- deferred captures: sent together, or carried by the account's next hold ---------------------

describe('captureMany and holdCarrying', () => {
  it('captureMany makes each capture once, in order, and says which were refused', async () => {
    const { acc, s } = await funded('capmany', 5_000_000)
    const a = await s.hold(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL })
    const b = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL })
    if (!a.ok || !b.ok) throw new Error('holds refused')
    const capA = { opId: op(), holdId: a.hold.id, description: 'number A' }
    const capB = { opId: op(), holdId: b.hold.id, amount: 1_500_000 }
    const missing = { opId: op(), holdId: 'hld_missing' }
    expect(await s.captureMany(acc, [capA, capB, missing])).toEqual([
      { opId: capA.opId, ok: true },
      { opId: capB.opId, ok: true },
      { opId: missing.opId, ok: false, reason: 'HOLD_NOT_FOUND' },
    ])
    // Sent again (the call's answer was lost): replays, nothing moves twice.
    expect(await s.captureMany(acc, [capA, capB])).toEqual([
      { opId: capA.opId, ok: true },
      { opId: capB.opId, ok: true },
    ])
    const audit = await expectInvariants(s)
    expect(audit).toMatchObject({ balance: 2_500_000, reserved: 0, activeHolds: 0 })
    expect((await ledgerRows(s)).filter((r) => r.type === 'capture').map((r) => [r.op_id, r.amount])).toEqual([
      [capA.opId, -1_000_000],
      [capB.opId, -1_500_000],
    ])
  })

  it('holdCarrying makes the carried captures first; a hold refused for the balance leaves them made', async () => {
    const { acc, s } = await funded('carry', 3_000_000)
    const a = await s.hold(acc, { opId: op(), amount: 2_000_000, ttlMs: LONG_TTL })
    if (!a.ok) throw new Error('hold refused')
    const capA = { opId: op(), holdId: a.hold.id }
    const next = await s.holdCarrying(acc, { opId: op(), amount: 1_000_000, ttlMs: LONG_TTL }, [capA])
    expect(next.captures).toEqual([{ opId: capA.opId, ok: true }])
    expect(next.hold).toMatchObject({ ok: true, balance: { balance: 1_000_000, reserved: 1_000_000, available: 0 } })
    // Nothing left to hold: refused, and the capture it carried is made all the same.
    const b = await s.hold(acc, { opId: op(), amount: 500_000, ttlMs: LONG_TTL })
    expect(b.ok).toBe(false)
    const c = next.hold.ok ? next.hold.hold : null
    const refused = await s.holdCarrying(acc, { opId: op(), amount: 1, ttlMs: LONG_TTL }, [{ opId: op(), holdId: c!.id }])
    expect(refused.captures).toMatchObject([{ ok: true }])
    expect(refused.hold).toMatchObject({ ok: false, reason: 'INSUFFICIENT_BALANCE', available: 0 })
    expect(await expectInvariants(s)).toMatchObject({ balance: 0, reserved: 0, activeHolds: 0 })
    expect((await ledgerRows(s)).map((r) => r.type)).toEqual(['credit', 'capture', 'capture'])
  })
})

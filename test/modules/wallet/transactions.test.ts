import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { newId } from '../../../src/lib/ids'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { fund } from '../../helpers/catalog'

const wallet = (userId: string) => env.WALLET.get(env.WALLET.idFromName(userId))

/** Funding 10, a debit of 0.001, a purchase of 1.5 captured, and a hold still pending. */
async function userWithHistory(): Promise<TestUser> {
  const u = await registerUser()
  const w = wallet(u.id)
  await fund(u.id, 10)
  const d = await w.debit(u.id, { opId: newId('op'), amount: 1_000, description: 'API call' })
  expect(d.ok, JSON.stringify(d)).toBe(true)
  const h = await w.hold(u.id, { opId: newId('hold'), amount: 1_500_000, ttlMs: 3_600_000, reference: { type: 'activation', id: 'act_123' }, description: 'Telegram, US' })
  if (!h.ok) throw new Error(JSON.stringify(h))
  const c = await w.capture(u.id, { opId: newId('op'), holdId: h.hold.id })
  expect(c.ok, JSON.stringify(c)).toBe(true)
  const pending = await w.hold(u.id, { opId: newId('hold'), amount: 2_000_000, ttlMs: 3_600_000 })
  expect(pending.ok, JSON.stringify(pending)).toBe(true)
  return u
}

describe('GET /api/wallet/transactions', () => {
  it('lists the ledger newest first with signed decimal amounts, references and ISO times', async () => {
    const t0 = Date.now()
    const u = await userWithHistory()
    const res = await call('/api/wallet/transactions', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.success, res.text).toBe(true)
    const data = res.body.data as any[]
    // The pending hold is not a transaction (it is `reserved` on the balance).
    expect(data.length, res.text).toBe(3)
    expect(
      data.map((t) => t.type),
      res.text,
    ).toEqual(['capture', 'debit', 'credit'])
    expect(
      data.map((t) => t.amount),
      res.text,
    ).toEqual([-1.5, -0.001, 10])
    expect(
      data.map((t) => t.balanceAfter),
      res.text,
    ).toEqual([8.499, 9.999, 10])
    expect(data[0], res.text).toMatchObject({ reference: { type: 'activation', id: 'act_123' }, description: 'Telegram, US' })
    expect(data[1], res.text).toMatchObject({ reference: null, description: 'API call' })
    for (const t of data) {
      expect(Object.keys(t).sort(), res.text).toEqual(['amount', 'balanceAfter', 'createdAt', 'description', 'id', 'reference', 'type'])
      expect(t.id, res.text).toMatch(/^txn_/)
      expect(new Date(t.createdAt).toISOString(), res.text).toBe(t.createdAt)
      expect(Date.parse(t.createdAt)).toBeGreaterThanOrEqual(t0 - 1000)
    }
    expect(res.body.pagination, res.text).toEqual({ page: 1, limit: 20, total: 3, totalPages: 1, hasNext: false, hasPrevious: false })
    const balance = await call('/api/wallet/balance', { token: u.accessToken })
    expect(balance.body.data, balance.text).toEqual({ balance: 8.499, currency: 'USD', reserved: 2, available: 6.499 })
  })

  it('pages with ?page&limit', async () => {
    const u = await registerUser()
    for (let i = 1; i <= 5; i++) await fund(u.id, i)
    const p1 = await call('/api/wallet/transactions?page=1&limit=2', { token: u.accessToken })
    expect(p1.status, p1.text).toBe(200)
    expect(
      p1.body.data.map((t: any) => t.amount),
      p1.text,
    ).toEqual([5, 4])
    expect(p1.body.pagination, p1.text).toEqual({ page: 1, limit: 2, total: 5, totalPages: 3, hasNext: true, hasPrevious: false })
    const p3 = await call('/api/wallet/transactions?page=3&limit=2', { token: u.accessToken })
    expect(
      p3.body.data.map((t: any) => t.amount),
      p3.text,
    ).toEqual([1])
    expect(p3.body.pagination, p3.text).toEqual({ page: 3, limit: 2, total: 5, totalPages: 3, hasNext: false, hasPrevious: true })
    const beyond = await call('/api/wallet/transactions?page=9&limit=2', { token: u.accessToken })
    expect(beyond.status, beyond.text).toBe(200)
    expect(beyond.body.data, beyond.text).toEqual([])
  })

  it('an empty wallet has an empty list', async () => {
    const u = await registerUser()
    const res = await call('/api/wallet/transactions', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toEqual([])
    expect(res.body.pagination, res.text).toMatchObject({ total: 0, totalPages: 1, hasNext: false })
  })

  it('refuses bad paging (400 VALIDATION_ERROR)', async () => {
    const u = await registerUser()
    for (const q of ['page=0', 'limit=0', 'limit=101', 'page=abc', 'limit=2.5']) {
      expectErrorEnvelope(await call(`/api/wallet/transactions?${q}`, { token: u.accessToken }), 400, 'VALIDATION_ERROR')
    }
  })

  it("a user never sees another user's transactions", async () => {
    const a = await registerUser()
    const b = await registerUser()
    await fund(a.id, 1.11)
    await fund(a.id, 2.22)
    await fund(b.id, 3.33)
    const resA = await call('/api/wallet/transactions', { token: a.accessToken })
    const resB = await call('/api/wallet/transactions', { token: b.accessToken })
    expect(
      resA.body.data.map((t: any) => t.amount),
      resA.text,
    ).toEqual([2.22, 1.11])
    expect(
      resB.body.data.map((t: any) => t.amount),
      resB.text,
    ).toEqual([3.33])
    const idsA = new Set(resA.body.data.map((t: any) => t.id))
    expect(
      resB.body.data.some((t: any) => idsA.has(t.id)),
      resB.text,
    ).toBe(false)
    // There is no way to name another wallet: query parameters are not read as a user.
    const probe = await call(`/api/wallet/transactions?userId=${a.id}&user_id=${a.id}`, { token: b.accessToken })
    expect(
      probe.body.data.map((t: any) => t.amount),
      probe.text,
    ).toEqual([3.33])
  })

  it("answers an API key with 'wallet:read' and refuses one without (403) or no credentials (401)", async () => {
    const u = await registerUser()
    await fund(u.id, 4)
    const reader = await createApiKey(u, ['wallet:read'])
    const res = await call('/api/wallet/transactions', { apiKey: reader.key })
    expect(res.status, res.text).toBe(200)
    expect(
      res.body.data.map((t: any) => t.amount),
      res.text,
    ).toEqual([4])
    const other = await createApiKey(u, ['orders:read'])
    expectErrorEnvelope(await call('/api/wallet/transactions', { apiKey: other.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/wallet/transactions'), 401, 'UNAUTHORIZED')
  })
})

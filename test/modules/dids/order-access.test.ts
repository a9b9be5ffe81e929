/**
 * Every order route: no credentials → 401, an API key without the route's permission → 403,
 * another account's order → 404 (and nothing changes: no cancel, no refund, no payment).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, type TestUser } from '../../helpers/api'
import { sandboxProvider, walletAudit } from '../../helpers/catalog'
import { fundedUser, micros, orderRow, purchase, seedDids } from '../../helpers/dids'

let owner: TestUser
let stranger: TestUser
let completedId: string
let unpaidId: string

beforeAll(async () => {
  const p = await sandboxProvider()
  const [a, b] = await seedDids(p, [
    { setup: 1, monthly: 1 },
    { setup: 10, monthly: 10 },
  ])
  owner = await fundedUser(5)
  stranger = await fundedUser(100)
  const done = await purchase(owner, [a!])
  if (done.status !== 201) throw new Error(done.text)
  completedId = done.body.data.order.id
  const unpaid = await purchase(owner, [b!])
  if (unpaid.status !== 400) throw new Error(unpaid.text)
  unpaidId = unpaid.body.error.details.orderId
})

const ROUTES = [
  { name: 'list', method: 'GET', path: () => '/api/v1/orders', permission: 'orders:read', owned: false },
  { name: 'create', method: 'POST', path: () => '/api/v1/orders', permission: 'orders:write', body: { items: [{ type: 'number_purchase', itemId: '+14155550100', quantity: 1 }] }, owned: false },
  { name: 'get', method: 'GET', path: () => `/api/v1/orders/${completedId}`, permission: 'orders:read', owned: true },
  { name: 'cancel', method: 'PUT', path: () => `/api/v1/orders/${completedId}/cancel`, permission: 'orders:write', body: { reason: 'mine' }, owned: true },
  { name: 'retry-payment', method: 'POST', path: () => `/api/v1/orders/${unpaidId}/retry-payment`, permission: 'orders:write', body: {}, owned: true },
] as const

describe('order routes — authentication and permissions', () => {
  it('every route answers 401 UNAUTHORIZED without credentials', async () => {
    for (const r of ROUTES) expectErrorEnvelope(await call(r.path(), { method: r.method, body: 'body' in r ? r.body : undefined }), 401, 'UNAUTHORIZED')
  })

  it("an API key without the route's permission gets 403 FORBIDDEN naming it", async () => {
    const numbersOnly = await createApiKey(owner, ['numbers:read', 'numbers:write'])
    const readOnly = await createApiKey(owner, ['orders:read'])
    for (const r of ROUTES) {
      const body = 'body' in r ? r.body : undefined
      const res = await call(r.path(), { method: r.method, body, apiKey: numbersOnly.key })
      expectErrorEnvelope(res, 403, 'FORBIDDEN')
      expect(res.body.error.details.requiredPermissions, `${r.name}: ${res.text}`).toEqual([r.permission])
      if (r.permission === 'orders:write') expectErrorEnvelope(await call(r.path(), { method: r.method, body, apiKey: readOnly.key }), 403, 'FORBIDDEN')
    }
    const reader = await createApiKey(owner, ['orders:read'])
    for (const r of ROUTES.filter((x) => x.permission === 'orders:read')) {
      const res = await call(r.path(), { method: r.method, apiKey: reader.key })
      expect(res.status, `${r.name}: ${res.text}`).toBe(200)
    }
  })
})

describe('order routes — another account sees nothing', () => {
  it("another account's order is a 404 on every route; no cancel, refund or payment happens", async () => {
    for (const r of ROUTES.filter((x) => x.owned)) {
      const res = await call(r.path(), { method: r.method, body: 'body' in r ? r.body : undefined, token: stranger.accessToken })
      expectErrorEnvelope(res, 404, 'NOT_FOUND')
    }
    expect((await orderRow(completedId))?.status).toBe('completed')
    expect((await orderRow(unpaidId))?.status).toBe('payment_failed')
    expect(await walletAudit(owner.id)).toMatchObject({ balance: micros(3), activeHolds: 0 })
    expect(await walletAudit(stranger.id)).toMatchObject({ balance: micros(100), activeHolds: 0, entries: 1 })
  })

  it("another account's order list is empty and its summary counts nothing of the owner's", async () => {
    const res = await call('/api/v1/orders?status=completed,payment_failed', { token: stranger.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toEqual([])
    expect(res.body.summary, res.text).toEqual({ totalOrders: 0, totalSpent: 0, pendingOrders: 0, currency: 'USD' })
    const mine = await call('/api/v1/orders', { token: owner.accessToken })
    expect(mine.body.data.map((o: { id: string }) => o.id).sort(), mine.text).toEqual([completedId, unpaidId].sort())
  })
})

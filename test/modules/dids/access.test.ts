/**
 * Every DID route: no credentials → 401, an API key without the route's permission → 403,
 * another account's number or reservation → 404 (and nothing changes), the right key → served.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { sandboxProvider, type TestProvider } from '../../helpers/catalog'
import { buy, fundedUser, lockState, numberRows, seedDids } from '../../helpers/dids'

let p: TestProvider
let owner: TestUser
let stranger: TestUser
let numberId: string
let phone: string
let reservationId: string
let reservedPhone: string

beforeAll(async () => {
  p = await sandboxProvider()
  const [a, r] = await seedDids(p, [{}, {}])
  owner = await fundedUser(20)
  stranger = await fundedUser(20)
  phone = a!
  numberId = (await buy(owner, [phone]))[phone]!
  reservedPhone = r!
  const res = await call('/api/v1/numbers/reservations', { token: owner.accessToken, body: { phoneNumbers: [reservedPhone] } })
  if (res.status !== 201) throw new Error(res.text)
  reservationId = res.body.data.id
})

interface RouteCase {
  name: string
  method: string
  path: () => string
  permission: 'numbers:read' | 'numbers:write'
  body?: unknown
  /** Names another account's resource: must be a 404 for a stranger. */
  owned?: boolean
}

const configureBody = {
  configuration: {
    name: 'x',
    routingRules: {},
    features: { recordCalls: false, transcribeCalls: false, callScreening: false, callQueue: false, voicemail: false },
  },
}

const ROUTES: RouteCase[] = [
  { name: 'search', method: 'GET', path: () => '/api/v1/numbers/search?countryCode=US', permission: 'numbers:read' },
  { name: 'purchase', method: 'POST', path: () => '/api/v1/numbers/purchase', permission: 'numbers:write', body: { numbers: [{ phoneNumber: '+14155550100' }] } },
  { name: 'list', method: 'GET', path: () => '/api/v1/numbers', permission: 'numbers:read' },
  { name: 'get', method: 'GET', path: () => `/api/v1/numbers/${numberId}`, permission: 'numbers:read', owned: true },
  { name: 'update', method: 'PUT', path: () => `/api/v1/numbers/${numberId}`, permission: 'numbers:write', body: { notes: 'mine now' }, owned: true },
  { name: 'configure', method: 'POST', path: () => `/api/v1/numbers/${numberId}/configure`, permission: 'numbers:write', body: configureBody, owned: true },
  { name: 'release', method: 'DELETE', path: () => `/api/v1/numbers/${numberId}`, permission: 'numbers:write', owned: true },
  { name: 'reserve', method: 'POST', path: () => '/api/v1/numbers/reservations', permission: 'numbers:write', body: { phoneNumbers: ['+14155550100'] } },
  { name: 'list reservations', method: 'GET', path: () => '/api/v1/numbers/reservations', permission: 'numbers:read' },
  { name: 'get reservation', method: 'GET', path: () => `/api/v1/numbers/reservations/${reservationId}`, permission: 'numbers:read', owned: true },
  { name: 'extend reservation', method: 'POST', path: () => `/api/v1/numbers/reservations/${reservationId}/extend`, permission: 'numbers:write', owned: true },
  { name: 'release reservation', method: 'DELETE', path: () => `/api/v1/numbers/reservations/${reservationId}`, permission: 'numbers:write', owned: true },
]

describe('DID routes — authentication and permissions', () => {
  it('every route answers 401 UNAUTHORIZED without credentials', async () => {
    for (const r of ROUTES) {
      const res = await call(r.path(), { method: r.method, body: r.body })
      expectErrorEnvelope(res, 401, 'UNAUTHORIZED')
    }
  })

  it('every route answers 401 with a bad token or key', async () => {
    for (const r of ROUTES) {
      const res = await call(r.path(), { method: r.method, body: r.body, apiKey: 'sk_live_notakey' })
      expect(res.status, `${r.name}: ${res.text}`).toBe(401)
    }
  })

  it("an API key without the route's permission gets 403 FORBIDDEN naming it", async () => {
    const noNumbers = await createApiKey(owner, ['account:read', 'orders:read', 'orders:write'])
    const readOnly = await createApiKey(owner, ['numbers:read'])
    for (const r of ROUTES) {
      const res = await call(r.path(), { method: r.method, body: r.body, apiKey: noNumbers.key })
      expectErrorEnvelope(res, 403, 'FORBIDDEN')
      expect(res.body.error.details.requiredPermissions, `${r.name}: ${res.text}`).toEqual([r.permission])
      if (r.permission === 'numbers:write') expectErrorEnvelope(await call(r.path(), { method: r.method, body: r.body, apiKey: readOnly.key }), 403, 'FORBIDDEN')
    }
  })

  it('a key with the permission is served (reads and a write)', async () => {
    const reader = await createApiKey(owner, ['numbers:read'])
    for (const r of ROUTES.filter((x) => x.permission === 'numbers:read')) {
      const res = await call(r.path(), { method: r.method, apiKey: reader.key })
      expect(res.status, `${r.name}: ${res.text}`).toBe(200)
    }
    const writer = await createApiKey(owner, ['numbers:write'])
    const put = await call(`/api/v1/numbers/${numberId}`, { method: 'PUT', apiKey: writer.key, body: { notes: 'by key' } })
    expect(put.status, put.text).toBe(200)
    expect(put.body.data.notes).toBe('by key')
  })
})

describe('DID routes — another account sees nothing', () => {
  it("another account's number or reservation is a 404 on every route, and nothing changes", async () => {
    for (const r of ROUTES.filter((x) => x.owned)) {
      const res = await call(r.path(), { method: r.method, body: r.body, token: stranger.accessToken })
      expectErrorEnvelope(res, 404, 'NOT_FOUND')
    }
    const [row] = await numberRows(phone)
    expect(row, JSON.stringify(row)).toMatchObject({ user_id: owner.id, status: 'active' })
    expect(row!.features).toBe('{}')
    const mine = await call(`/api/v1/numbers/${numberId}`, { token: owner.accessToken })
    expect(mine.body.data, mine.text).toMatchObject({ status: 'active', configurations: [] })
    expect(mine.body.data.notes, mine.text).not.toBe('mine now')
    expect((await lockState(reservedPhone))?.holder).toBe(owner.id)
    const rsv = await call(`/api/v1/numbers/reservations/${reservationId}`, { token: owner.accessToken })
    expect(rsv.body.data.status, rsv.text).toBe('active')
  })

  it("another account's lists never show the owner's numbers, reservations or wallet transactions", async () => {
    const nums = await call('/api/v1/numbers?status=active,pending,suspended,released', { token: stranger.accessToken })
    expect(nums.status, nums.text).toBe(200)
    expect(nums.body.data, nums.text).toEqual([])
    expect(nums.body.summary, nums.text).toMatchObject({ totalNumbers: 0, monthlyTotal: 0 })
    const search = await call(`/api/v1/numbers?search=${encodeURIComponent(phone)}`, { token: stranger.accessToken })
    expect(search.body.data, search.text).toEqual([])
    const rsv = await call('/api/v1/numbers/reservations', { token: stranger.accessToken })
    expect(rsv.body.data, rsv.text).toEqual([])
    const tx = await call('/api/wallet/transactions', { token: stranger.accessToken })
    expect(tx.status, tx.text).toBe(200)
    expect(tx.text).not.toContain(owner.id)
    expect(JSON.stringify(tx.body.data), tx.text).not.toMatch(/capture|order/i)
  })

  it('the owner can still do everything the stranger could not', async () => {
    const extend = await call(`/api/v1/numbers/reservations/${reservationId}/extend`, { method: 'POST', token: owner.accessToken })
    expect(extend.status, extend.text).toBe(200)
    const release = await call(`/api/v1/numbers/${numberId}`, { method: 'DELETE', token: owner.accessToken })
    expect(release.status, release.text).toBe(200)
    expect(release.body.data.status).toBe('released')
  })
})

describe('route order', () => {
  it('/numbers/search and /numbers/reservations are not taken for a number id', async () => {
    const u = await registerUser()
    const search = await call('/api/v1/numbers/search', { token: u.accessToken })
    expectErrorEnvelope(search, 400, 'VALIDATION_ERROR') // countryCode missing — the search route answered
    const list = await call('/api/v1/numbers/reservations', { token: u.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(list.body.data).toEqual([])
    expectErrorEnvelope(await call('/api/v1/numbers/pn_nope', { token: u.accessToken }), 404, 'NOT_FOUND')
  })
})

import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser, type TestUser } from '../../helpers/api'
import { sha256Hex, sleep } from '../../helpers/db'

const VIEW_FIELDS = ['id', 'name', 'description', 'keyPrefix', 'mode', 'permissions', 'expiresAt', 'lastUsed', 'isActive', 'revokedAt', 'createdAt']

async function createNamed(u: TestUser, names: string[]) {
  const created: { id: string; key: string; keyPrefix: string }[] = []
  for (const name of names) {
    created.push(await createApiKey(u, ['account:read'], { name }))
    await sleep(3) // distinct creation instants, so "newest first" is well defined
  }
  return created
}

describe('GET /api/v1/api-keys', () => {
  it('lists newest first, paginated, never showing a key or its hash', async () => {
    const u = await registerUser()
    const created = await createNamed(u, ['k1', 'k2', 'k3', 'k4', 'k5'])
    const hashes = await Promise.all(created.map((k) => sha256Hex(k.key)))

    const p1 = await call('/api/v1/api-keys?page=1&limit=2', { token: u.accessToken })
    expect(p1.status, p1.text).toBe(200)
    expect(p1.body.success).toBe(true)
    expect(
      p1.body.data.map((k: { name: string }) => k.name),
      p1.text,
    ).toEqual(['k5', 'k4'])
    expect(p1.body.pagination).toEqual({ page: 1, limit: 2, total: 5, totalPages: 3, hasNext: true, hasPrevious: false })

    const p2 = await call('/api/v1/api-keys?page=2&limit=2', { token: u.accessToken })
    expect(p2.status, p2.text).toBe(200)
    expect(
      p2.body.data.map((k: { name: string }) => k.name),
      p2.text,
    ).toEqual(['k3', 'k2'])
    expect(p2.body.pagination).toEqual({ page: 2, limit: 2, total: 5, totalPages: 3, hasNext: true, hasPrevious: true })

    const p3 = await call('/api/v1/api-keys?page=3&limit=2', { token: u.accessToken })
    expect(p3.status, p3.text).toBe(200)
    expect(
      p3.body.data.map((k: { name: string }) => k.name),
      p3.text,
    ).toEqual(['k1'])
    expect(p3.body.pagination).toEqual({ page: 3, limit: 2, total: 5, totalPages: 3, hasNext: false, hasPrevious: true })

    const beyond = await call('/api/v1/api-keys?page=9&limit=2', { token: u.accessToken })
    expect(beyond.status, beyond.text).toBe(200)
    expect(beyond.body.data).toEqual([])
    expect(beyond.body.pagination.hasNext).toBe(false)

    const all = await call('/api/v1/api-keys', { token: u.accessToken })
    expect(all.status, all.text).toBe(200)
    expect(all.body.pagination).toMatchObject({ page: 1, limit: 20, total: 5, totalPages: 1, hasNext: false, hasPrevious: false })
    expect(all.body.data.map((k: { id: string }) => k.id)).toEqual(created.map((k) => k.id).reverse())
    for (const res of [p1, p2, p3, all]) {
      for (const k of created) expect(res.text, 'plain key leaked in a list').not.toContain(k.key)
      for (const h of hashes) expect(res.text, 'key hash leaked in a list').not.toContain(h)
    }
    for (const item of all.body.data) {
      expect(Object.keys(item).sort()).toEqual([...VIEW_FIELDS].sort())
      expect(item.keyPrefix).toBe(created.find((k) => k.id === item.id)!.keyPrefix)
    }
  })

  it('an account without keys gets an empty first page', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/api-keys', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toEqual([])
    expect(res.body.pagination).toEqual({ page: 1, limit: 20, total: 0, totalPages: 1, hasNext: false, hasPrevious: false })
  })

  it('refuses bad paging with 400 VALIDATION_ERROR naming the parameter', async () => {
    const u = await registerUser()
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['page=0', 'page'],
      ['page=abc', 'page'],
    ] as const) {
      const res = await call(`/api/v1/api-keys?${query}`, { token: u.accessToken })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(
        res.body.error.details.map((d: { field: string }) => d.field),
        `${query} → ${res.text}`,
      ).toContain(field)
    }
  })

  it('shows only the caller’s keys', async () => {
    const alice = await registerUser()
    const bob = await registerUser()
    const a = await createApiKey(alice)
    const b = await createApiKey(bob)
    const res = await call('/api/v1/api-keys', { token: alice.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.map((k: { id: string }) => k.id)).toEqual([a.id])
    expect(res.text).not.toContain(b.id)
    expect(res.body.pagination.total).toBe(1)
  })

  it('without credentials → 401 UNAUTHORIZED', async () => {
    expectErrorEnvelope(await call('/api/v1/api-keys'), 401, 'UNAUTHORIZED')
  })
})

describe('GET /api/v1/api-keys/{id}', () => {
  it('answers the key without the plain key or its hash', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read', 'numbers:read'], { name: 'reporting', description: 'dashboards' })
    const res = await call(`/api/v1/api-keys/${k.id}`, { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(Object.keys(res.body.data).sort()).toEqual([...VIEW_FIELDS].sort())
    expect(res.body.data).toMatchObject({
      id: k.id,
      name: 'reporting',
      description: 'dashboards',
      keyPrefix: k.keyPrefix,
      mode: 'live',
      permissions: ['account:read', 'numbers:read'],
      expiresAt: null,
      isActive: true,
      revokedAt: null,
    })
    expect(res.text).not.toContain(k.key)
    expect(res.text).not.toContain(await sha256Hex(k.key))
  })

  it('an unknown id → 404 NOT_FOUND', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await call('/api/v1/api-keys/key_doesnotexist000000000000', { token: u.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call('/api/v1/api-keys/key_doesnotexist000000000000', { token: u.accessToken, method: 'DELETE' }), 404, 'NOT_FOUND')
  })

  it('without credentials → 401 UNAUTHORIZED', async () => {
    const u = await registerUser()
    const k = await createApiKey(u)
    expectErrorEnvelope(await call(`/api/v1/api-keys/${k.id}`), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await call(`/api/v1/api-keys/${k.id}`, { method: 'DELETE' }), 401, 'UNAUTHORIZED')
    const still = await call('/api/v1/auth/me', { apiKey: k.key })
    expect(still.status, still.text).toBe(200)
  })
})

describe("one user cannot see or revoke another's keys", () => {
  it('GET and DELETE on a foreign key id → 404 NOT_FOUND, and the key keeps working', async () => {
    const owner = await registerUser()
    const intruder = await registerUser()
    const k = await createApiKey(owner, ['account:read'])

    const peek = await call(`/api/v1/api-keys/${k.id}`, { token: intruder.accessToken })
    expectErrorEnvelope(peek, 404, 'NOT_FOUND')
    expect(peek.text).not.toContain(k.keyPrefix)

    const revoke = await call(`/api/v1/api-keys/${k.id}`, { token: intruder.accessToken, method: 'DELETE' })
    expectErrorEnvelope(revoke, 404, 'NOT_FOUND')
    expect(revoke.text).not.toContain(k.keyPrefix)

    const me = await call('/api/v1/auth/me', { apiKey: k.key })
    expect(me.status, me.text).toBe(200)
    expect(me.body.data.id).toBe(owner.id)

    const own = await call(`/api/v1/api-keys/${k.id}`, { token: owner.accessToken })
    expect(own.status, own.text).toBe(200)
    expect(own.body.data.isActive).toBe(true)
    expect(own.body.data.revokedAt).toBeNull()
  })

  it("an admin session cannot read another user's key through the account routes either", async () => {
    const owner = await registerUser()
    const k = await createApiKey(owner, ['account:read'])
    const admin = await registerAdmin()
    expectErrorEnvelope(await call(`/api/v1/api-keys/${k.id}`, { token: admin.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/api-keys/${k.id}`, { token: admin.accessToken, method: 'DELETE' }), 404, 'NOT_FOUND')
    const me = await call('/api/v1/auth/me', { apiKey: k.key })
    expect(me.status, me.text).toBe(200)
  })
})

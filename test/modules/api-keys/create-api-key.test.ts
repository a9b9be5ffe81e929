import { env } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import { createApp } from '../../../src/app'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'
import { apiKeyRow, sha256Hex } from '../../helpers/db'
import { callApp } from '../../helpers/app'

const KEY_SHAPE = /^sk_live_[A-Za-z0-9]{24,64}$/

describe('POST /api/v1/api-keys', () => {
  it('returns the plain sk_live_ key once, with its 16-character prefix and the documented fields', async () => {
    const u = await registerUser()
    const expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString()
    const res = await call('/api/v1/api-keys', {
      token: u.accessToken,
      body: { name: '  CI deploy  ', permissions: ['numbers:read', 'wallet:read', 'numbers:read'], expiresAt, description: 'for CI' },
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body.success).toBe(true)
    expect(typeof res.body.meta.requestId).toBe('string')
    const k = res.body.data
    expect(k.key, res.text).toMatch(KEY_SHAPE)
    expect(k.keyPrefix).toBe(k.key.slice(0, 16))
    expect(k.keyPrefix).toHaveLength(16)
    expect(k.id).toMatch(/^key_/)
    expect(k.name).toBe('CI deploy')
    expect(k.description).toBe('for CI')
    expect(k.mode).toBe('live')
    // duplicates are dropped
    expect(k.permissions).toEqual(['numbers:read', 'wallet:read'])
    expect(new Date(k.expiresAt).getTime()).toBe(new Date(expiresAt).getTime())
    expect(k.lastUsed).toBeNull()
    expect(k.revokedAt).toBeNull()
    expect(k.isActive).toBe(true)
    expect(Number.isNaN(Date.parse(k.createdAt))).toBe(false)
    expect(res.text).not.toContain(await sha256Hex(k.key))
    expect(k).not.toHaveProperty('keyHash')
  })

  it("mode 'test' gives an sk_test_ key; without expiresAt it never expires", async () => {
    const u = await registerUser()
    const res = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'sandbox', permissions: ['*'], mode: 'test' } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.key).toMatch(/^sk_test_[A-Za-z0-9]{24,64}$/)
    expect(res.body.data.keyPrefix).toBe(res.body.data.key.slice(0, 16))
    expect(res.body.data.mode).toBe('test')
    expect(res.body.data.expiresAt).toBeNull()
    expect(res.body.data.description).toBeNull()
  })

  it('stores only the SHA-256 of the key and its prefix, never the key itself', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const row = await apiKeyRow(k.id)
    expect(row).not.toBeNull()
    expect(row!.user_id).toBe(u.id)
    expect(row!.key_hash).toBe(await sha256Hex(k.key))
    expect(row!.key_prefix).toBe(k.key.slice(0, 16))
    expect(JSON.stringify(row)).not.toContain(k.key)
  })

  it('every key is different', async () => {
    const u = await registerUser()
    const a = await createApiKey(u)
    const b = await createApiKey(u)
    expect(a.key).not.toBe(b.key)
    expect(a.id).not.toBe(b.id)
  })

  it('refuses an unknown permission with 400 VALIDATION_ERROR naming permissions', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'x', permissions: ['account:read', 'numbers:destroy'] } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.body.error.field, res.text).toBe('permissions')
    expect(
      res.body.error.details.map((d: { field: string }) => d.field),
      res.text,
    ).toContain('permissions')
    expect(res.body.error.message).toContain('numbers:destroy')
  })

  it('refuses an empty or missing permission list, a missing name and a non-list', async () => {
    const u = await registerUser()
    const cases: [unknown, string][] = [
      [{ name: 'x', permissions: [] }, 'permissions'],
      [{ name: 'x' }, 'permissions'],
      [{ name: 'x', permissions: 'account:read' }, 'permissions'],
      [{ permissions: ['*'] }, 'name'],
      [{ name: '   ', permissions: ['*'] }, 'name'],
      [{ name: 'x'.repeat(101), permissions: ['*'] }, 'name'],
      [{ name: 'x', permissions: ['*'], mode: 'prod' }, 'mode'],
    ]
    for (const [body, field] of cases) {
      const res = await call('/api/v1/api-keys', { token: u.accessToken, body })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(
        res.body.error.details.map((d: { field: string }) => d.field),
        `${JSON.stringify(body)} → ${res.text}`,
      ).toContain(field)
    }
  })

  it('refuses an expiresAt in the past or not a date with 400 naming expiresAt', async () => {
    const u = await registerUser()
    for (const expiresAt of [new Date(Date.now() - 60_000).toISOString(), 'next tuesday', '2030-13-45']) {
      const res = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'x', permissions: ['*'], expiresAt } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(
        res.body.error.details.map((d: { field: string }) => d.field),
        `${expiresAt} → ${res.text}`,
      ).toContain('expiresAt')
    }
    const list = await call('/api/v1/api-keys', { token: u.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(list.body.pagination.total, 'a refused key must not be stored').toBe(0)
  })

  it('accepts an expiresAt with a UTC offset', async () => {
    const u = await registerUser()
    const at = new Date(Date.now() + 86_400_000)
    const withOffset = new Date(at.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00')
    const res = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'x', permissions: ['*'], expiresAt: withOffset } })
    expect(res.status, res.text).toBe(201)
    expect(new Date(res.body.data.expiresAt).getTime()).toBe(at.getTime())
  })

  it("a non-admin asking for the 'admin' permission gets 403 FORBIDDEN; an admin gets the key", async () => {
    const u = await registerUser()
    const res = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'x', permissions: ['admin'] } })
    expectErrorEnvelope(res, 403, 'FORBIDDEN')
    const mixed = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'x', permissions: ['account:read', 'admin'] } })
    expectErrorEnvelope(mixed, 403, 'FORBIDDEN')

    const admin = await registerAdmin()
    const ok = await call('/api/v1/api-keys', { token: admin.accessToken, body: { name: 'ops', permissions: ['admin'] } })
    expect(ok.status, ok.text).toBe(201)
    expect(ok.body.data.permissions).toEqual(['admin'])
  })

  it('needs credentials: none → 401 UNAUTHORIZED, a bad token → 401 INVALID_TOKEN', async () => {
    const none = await call('/api/v1/api-keys', { body: { name: 'x', permissions: ['*'] } })
    expectErrorEnvelope(none, 401, 'UNAUTHORIZED')
    const bad = await call('/api/v1/api-keys', { token: 'not.a.jwt', body: { name: 'x', permissions: ['*'] } })
    expectErrorEnvelope(bad, 401, 'INVALID_TOKEN')
  })
})

describe('active key limit', () => {
  /** `n` active keys of `userId`, written directly. */
  async function bulkKeys(userId: string, n: number) {
    const now = Date.now()
    const insert = env.DB.prepare(
      `INSERT INTO api_keys (id, user_id, name, key_hash, key_prefix, mode, permissions, created_at, updated_at)
       VALUES (?, ?, 'bulk', ?, 'sk_live_bulkbulk', 'live', '["*"]', ?, ?)`,
    )
    await env.DB.batch(Array.from({ length: n }, (_, i) => insert.bind(`key_bulk${i}_${userId}`, userId, `hash-${i}-${userId}`, now - 1000 + i, now)))
  }
  const create = (u: { accessToken: string }, name: string, opts: { app?: ReturnType<typeof createApp>; env?: Record<string, string> } = {}) =>
    callApp('/api/v1/api-keys', { ...opts, token: u.accessToken, body: { name, permissions: ['*'] } })

  it('refuses the 26th active key by default with 409 API_KEY_LIMIT_REACHED; revoking or expiry makes room', async () => {
    const u = await registerUser()
    await bulkKeys(u.id, 24)
    const last = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'the 25th', permissions: ['*'] } })
    expect(last.status, last.text).toBe(201)

    const refused = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'one too many', permissions: ['*'] } })
    expectErrorEnvelope(refused, 409, 'API_KEY_LIMIT_REACHED')
    expect(refused.body.error.message, refused.text).toContain('25')
    expect(refused.body.error.details, refused.text).toEqual({ limit: 25 })
    expect((await env.DB.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE user_id = ?').bind(u.id).first<{ n: number }>())!.n).toBe(25)

    // an expired key is not active (isActive: false), so it does not count
    await env.DB.prepare('UPDATE api_keys SET expires_at = ? WHERE id = ?')
      .bind(Date.now() - 1000, `key_bulk1_${u.id}`)
      .run()
    const afterExpiry = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'replaces the expired one', permissions: ['*'] } })
    expect(afterExpiry.status, afterExpiry.text).toBe(201)
    expectErrorEnvelope(await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'again too many', permissions: ['*'] } }), 409, 'API_KEY_LIMIT_REACHED')

    const revoke = await call(`/api/v1/api-keys/key_bulk0_${u.id}`, { token: u.accessToken, method: 'DELETE' })
    expect(revoke.status, revoke.text).toBe(200)
    const created = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'fits now', permissions: ['*'] } })
    expect(created.status, created.text).toBe(201)

    // Another account has its own allowance.
    const other = await registerUser()
    const mine = await call('/api/v1/api-keys', { token: other.accessToken, body: { name: 'first', permissions: ['*'] } })
    expect(mine.status, mine.text).toBe(201)
  })

  it('MAX_ACTIVE_API_KEYS sets the limit', async () => {
    const u = await registerUser()
    const app = createApp()
    const env3 = { MAX_ACTIVE_API_KEYS: '3' }
    for (let i = 0; i < 3; i++) {
      const res = await create(u, `k${i}`, { app, env: env3 })
      expect(res.status, res.text).toBe(201)
    }
    const refused = await create(u, 'k3', { app, env: env3 })
    expectErrorEnvelope(refused, 409, 'API_KEY_LIMIT_REACHED')
    expect(refused.body.error.details, refused.text).toEqual({ limit: 3 })
    // A higher setting makes room at once.
    const more = await create(u, 'k3', { env: { MAX_ACTIVE_API_KEYS: '4' } })
    expect(more.status, more.text).toBe(201)
  })

  it('holds under concurrent creation: of 10 requests racing for 3 free places, exactly 3 get a key', async () => {
    const u = await registerUser()
    const app = createApp()
    const env3 = { MAX_ACTIVE_API_KEYS: '3' }
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => create(u, `race ${i}`, { app, env: env3 })))
    const summary = results.map((r) => r.status).join(',')
    expect(results.filter((r) => r.status === 201).length, summary).toBe(3)
    for (const r of results.filter((r) => r.status !== 201)) expectErrorEnvelope(r, 409, 'API_KEY_LIMIT_REACHED')
    expect((await env.DB.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE user_id = ?').bind(u.id).first<{ n: number }>())!.n, summary).toBe(3)
  })

  it('refuses a MAX_ACTIVE_API_KEYS that is not a positive whole number (500, like any bad setting)', async () => {
    const u = await registerUser()
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      for (const bad of ['0', '-1', 'many', '2.5']) {
        expectErrorEnvelope(await create(u, 'x', { env: { MAX_ACTIVE_API_KEYS: bad } }), 500, 'INTERNAL_ERROR')
      }
      expect(spy.mock.calls.map((c) => String(c[0])).join('\n')).toContain('MAX_ACTIVE_API_KEYS')
    } finally {
      spy.mockRestore()
    }
  })

  it('the OpenAPI description of key creation states the limit and its setting', async () => {
    const doc = await call('/openapi.json')
    const op = doc.body.paths['/api/v1/api-keys'].post
    expect(op.description, JSON.stringify(op)).toContain('MAX_ACTIVE_API_KEYS')
    expect(op.responses['409'].description, JSON.stringify(op.responses['409'])).toContain('API_KEY_LIMIT_REACHED')
  })
})

describe('key management needs a user session, not an API key', () => {
  it('create, list, get and revoke with an API key (even one with *) → 403 FORBIDDEN', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['*'])
    const attempts = [
      () => call('/api/v1/api-keys', { apiKey: k.key, body: { name: 'escalate', permissions: ['*'] } }),
      () => call('/api/v1/api-keys', { apiKey: k.key }),
      () => call(`/api/v1/api-keys/${k.id}`, { apiKey: k.key }),
      () => call(`/api/v1/api-keys/${k.id}`, { apiKey: k.key, method: 'DELETE' }),
      () => call('/api/v1/api-keys', { headers: { authorization: `Bearer ${k.key}` } }),
      () => call(`/api/v1/api-keys?api_key=${k.key}`),
    ]
    for (const attempt of attempts) {
      const res = await attempt()
      expectErrorEnvelope(res, 403, 'FORBIDDEN')
    }
    const list = await call('/api/v1/api-keys', { token: u.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(list.body.pagination.total, 'no key was created through a key').toBe(1)
    expect(list.body.data[0].revokedAt, 'the key was not revoked through itself').toBeNull()
  })
})

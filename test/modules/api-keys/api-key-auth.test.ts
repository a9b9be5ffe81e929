import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'
import { apiKeyRow, waitFor } from '../../helpers/db'

describe('an API key authenticates', () => {
  it('as X-API-Key, as Authorization: Bearer sk_… and as ?api_key= on GET /api/v1/auth/me', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const ways = [
      () => call('/api/v1/auth/me', { apiKey: k.key }),
      () => call('/api/v1/auth/me', { headers: { authorization: `Bearer ${k.key}` } }),
      () => call(`/api/v1/auth/me?api_key=${encodeURIComponent(k.key)}`),
    ]
    for (const way of ways) {
      const res = await way()
      expect(res.status, res.text).toBe(200)
      expect(res.body.data.id).toBe(u.id)
      expect(res.body.data.email).toBe(u.email)
    }
  })

  it('an sk_test_ key authenticates too', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'], { mode: 'test' })
    expect(k.key.startsWith('sk_test_')).toBe(true)
    const res = await call('/api/v1/auth/me', { apiKey: k.key })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.id).toBe(u.id)
  })

  it('sets lastUsed after use', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const before = await call(`/api/v1/api-keys/${k.id}`, { token: u.accessToken })
    expect(before.status, before.text).toBe(200)
    expect(before.body.data.lastUsed).toBeNull()

    const t0 = Date.now()
    const me = await call('/api/v1/auth/me', { apiKey: k.key })
    expect(me.status, me.text).toBe(200)
    const row = await waitFor(async () => {
      const r = await apiKeyRow(k.id)
      return r?.last_used_at ? r : null
    }, 'api_keys.last_used_at to be written')
    expect(row.last_used_at!).toBeGreaterThanOrEqual(t0 - 1000)

    const after = await call(`/api/v1/api-keys/${k.id}`, { token: u.accessToken })
    expect(after.status, after.text).toBe(200)
    expect(after.body.data.lastUsed, after.text).not.toBeNull()
    expect(Date.parse(after.body.data.lastUsed)).toBe(row.last_used_at)
  })
})

describe('permissions are enforced per route', () => {
  it("a key with ['numbers:read'] gets 403 FORBIDDEN on /auth/me, which needs 'account:read'", async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['numbers:read'])
    const res = await call('/api/v1/auth/me', { apiKey: k.key })
    expectErrorEnvelope(res, 403, 'FORBIDDEN')
    expect(res.body.error.details?.requiredPermissions, res.text).toEqual(['account:read'])
    // the same user's session is not limited by a key's scope
    const session = await call('/api/v1/auth/me', { token: u.accessToken })
    expect(session.status, session.text).toBe(200)
  })

  it("keys with ['account:read'], ['*'] or a list that includes account:read work", async () => {
    const u = await registerUser()
    for (const permissions of [['account:read'], ['*'], ['numbers:read', 'account:read']]) {
      const k = await createApiKey(u, permissions)
      const res = await call('/api/v1/auth/me', { apiKey: k.key })
      expect(res.status, `${permissions} → ${res.text}`).toBe(200)
      expect(res.body.data.id).toBe(u.id)
    }
  })

  it("a user's key with ['*'] does not reach admin routes; an admin's key needs the explicit 'admin' permission", async () => {
    const u = await registerUser()
    const userKey = await createApiKey(u, ['*'])
    expectErrorEnvelope(await call('/api/v1/admin/users', { apiKey: userKey.key }), 403, 'FORBIDDEN')

    const admin = await registerAdmin()
    const narrow = await createApiKey(admin, ['account:read'])
    const narrowRes = await call('/api/v1/admin/users', { apiKey: narrow.key })
    expectErrorEnvelope(narrowRes, 403, 'FORBIDDEN')
    expect(narrowRes.body.error.details?.requiredPermissions, narrowRes.text).toEqual(['admin'])

    for (const permissions of [['admin'], ['*', 'admin']]) {
      const k = await createApiKey(admin, permissions)
      const res = await call('/api/v1/admin/users?limit=1', { apiKey: k.key })
      expect(res.status, `${permissions} → ${res.text}`).toBe(200)
    }
  })

  it("an admin's key with ['*'] has every permission but 'admin': admin routes and admin powers are refused", async () => {
    const admin = await registerAdmin()
    const target = await registerUser()
    const star = await createApiKey(admin, ['*'])
    const refused: [string, { method?: string; body?: unknown }][] = [
      ['/api/v1/admin/users?limit=1', {}],
      ['/api/admin/users?limit=1', {}],
      [`/api/v1/admin/users/${target.id}`, {}],
      [`/api/admin/users/${target.id}/ban`, { method: 'POST', body: { reason: 'by a star key' } }],
      [`/api/v1/admin/users/${target.id}/role`, { method: 'PUT', body: { role: 'admin', reason: 'by a star key' } }],
      ['/api/v1/admin/audit-log', {}],
      ['/api/wallet/topup', { body: { userId: target.id, amount: 5, reason: 'by a star key' } }],
    ]
    for (const [path, opts] of refused) {
      const res = await call(path, { ...opts, apiKey: star.key })
      expectErrorEnvelope(res, 403, 'FORBIDDEN')
      expect(res.body.error.details?.requiredPermissions, `${path}: ${res.text}`).toEqual(['admin'])
    }
    // Admin scope inside user routes: another account's data is a 404, as for any user's key.
    expectErrorEnvelope(await call(`/api/usage?userId=${target.id}`, { apiKey: star.key }), 404, 'NOT_FOUND')
    expect((await env.DB.prepare('SELECT status, role FROM users WHERE id = ?').bind(target.id).first())!).toEqual({ status: 'active', role: 'user' })

    // Everything that is not admin still works with '*'.
    const me = await call('/api/v1/auth/me', { apiKey: star.key })
    expect(me.status, me.text).toBe(200)
    const own = await call('/api/usage', { apiKey: star.key })
    expect(own.status, own.text).toBe(200)
    // The admin's session is unaffected.
    const session = await call(`/api/usage?userId=${target.id}`, { token: admin.accessToken })
    expect(session.status, session.text).toBe(200)
  })
})

describe('refused keys', () => {
  it('a malformed key → 401 INVALID_API_KEY, whichever way it is sent', async () => {
    for (const bad of ['sk_live_short', `sk_prod_${'a'.repeat(40)}`, 'hello', `sk_live_${'a'.repeat(30)}!!`]) {
      const res = await call('/api/v1/auth/me', { apiKey: bad })
      expectErrorEnvelope(res, 401, 'INVALID_API_KEY')
    }
    expectErrorEnvelope(await call('/api/v1/auth/me', { headers: { authorization: 'Bearer sk_live_nope' } }), 401, 'INVALID_API_KEY')
    expectErrorEnvelope(await call('/api/v1/auth/me?api_key=garbage'), 401, 'INVALID_API_KEY')
  })

  it('a well-formed key that was never issued → 401 INVALID_API_KEY', async () => {
    const res = await call('/api/v1/auth/me', { apiKey: `sk_live_${'Q'.repeat(44)}` })
    expectErrorEnvelope(res, 401, 'INVALID_API_KEY')
  })

  it('an expired key → 401 API_KEY_EXPIRED', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'], { expiresAt: new Date(Date.now() + 3600_000).toISOString() })
    const live = await call('/api/v1/auth/me', { apiKey: k.key })
    expect(live.status, live.text).toBe(200)

    await env.DB.prepare('UPDATE api_keys SET expires_at = ? WHERE id = ?')
      .bind(Date.now() - 1000, k.id)
      .run()
    for (const res of [
      await call('/api/v1/auth/me', { apiKey: k.key }),
      await call('/api/v1/auth/me', { headers: { authorization: `Bearer ${k.key}` } }),
      await call(`/api/v1/auth/me?api_key=${k.key}`),
    ]) {
      expectErrorEnvelope(res, 401, 'API_KEY_EXPIRED')
    }

    const view = await call(`/api/v1/api-keys/${k.id}`, { token: u.accessToken })
    expect(view.status, view.text).toBe(200)
    expect(view.body.data.isActive, view.text).toBe(false)
    expect(view.body.data.revokedAt).toBeNull()
  })

  it('a revoked key → 401 INVALID_API_KEY on the very next request; revoking again is idempotent', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const other = await createApiKey(u, ['account:read'])
    const ok = await call('/api/v1/auth/me', { apiKey: k.key })
    expect(ok.status, ok.text).toBe(200)

    const revoked = await call(`/api/v1/api-keys/${k.id}`, { token: u.accessToken, method: 'DELETE' })
    expect(revoked.status, revoked.text).toBe(200)
    expect(revoked.body.data.id).toBe(k.id)
    expect(revoked.body.data.isActive).toBe(false)
    expect(revoked.body.data.revokedAt, revoked.text).not.toBeNull()
    expect(revoked.text).not.toContain(k.key)

    expectErrorEnvelope(await call('/api/v1/auth/me', { apiKey: k.key }), 401, 'INVALID_API_KEY')
    expectErrorEnvelope(await call('/api/v1/auth/me', { headers: { authorization: `Bearer ${k.key}` } }), 401, 'INVALID_API_KEY')
    expectErrorEnvelope(await call(`/api/v1/auth/me?api_key=${k.key}`), 401, 'INVALID_API_KEY')

    const again = await call(`/api/v1/api-keys/${k.id}`, { token: u.accessToken, method: 'DELETE' })
    expect(again.status, again.text).toBe(200)
    expect(again.body.data.isActive).toBe(false)
    expect(again.body.data.revokedAt, 'the first revocation time stays').toBe(revoked.body.data.revokedAt)
    expectErrorEnvelope(await call('/api/v1/auth/me', { apiKey: k.key }), 401, 'INVALID_API_KEY')

    // only that key was revoked
    const stillOk = await call('/api/v1/auth/me', { apiKey: other.key })
    expect(stillOk.status, stillOk.text).toBe(200)
    const listed = await call('/api/v1/api-keys', { token: u.accessToken })
    expect(listed.status, listed.text).toBe(200)
    const byId = Object.fromEntries(listed.body.data.map((x: { id: string; isActive: boolean }) => [x.id, x.isActive]))
    expect(byId).toEqual({ [k.id]: false, [other.id]: true })
  })

  it('concurrent revocations of one key all answer 200 with the same revokedAt', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const results = await Promise.all(Array.from({ length: 5 }, () => call(`/api/v1/api-keys/${k.id}`, { token: u.accessToken, method: 'DELETE' })))
    for (const res of results) expect(res.status, res.text).toBe(200)
    const stamps = new Set(results.map((r) => r.body.data.revokedAt))
    expect(stamps.size, JSON.stringify([...stamps])).toBe(1)
    expect([...stamps][0]).not.toBeNull()
    expect((await apiKeyRow(k.id))!.revoked_at).toBe(Date.parse([...stamps][0] as string))
    expectErrorEnvelope(await call('/api/v1/auth/me', { apiKey: k.key }), 401, 'INVALID_API_KEY')
  })

  it('a refused key on a public route does not block it (authenticate never rejects by itself)', async () => {
    const res = await call('/health', { apiKey: `sk_live_${'Z'.repeat(44)}` })
    expect(res.status, res.text).toBe(200)
  })
})

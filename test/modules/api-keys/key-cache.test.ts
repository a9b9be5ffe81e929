/**
 * The per-isolate cache of API-key lookups (src/modules/auth/authn.service.ts), turned on as in
 * production: revoking a key still refuses it on the very next request of this isolate; a change
 * this isolate did not make (another isolate's revocation, a row edited in D1) holds within the
 * TTL; expiry and account actions hold at once. Requests go through an app built here, so the
 * cache the test controls is the one the requests use.
 */
import { env } from 'cloudflare:test'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createApp } from '../../../src/app'
import { API_KEY_CACHE_TTL_MS, apiKeyCache } from '../../../src/modules/auth/authn.service'
import { createApiKey, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sha256Hex, sleep } from '../../helpers/db'

const app = createApp()
const me = (key: string) => callApp('/api/v1/auth/me', { app, apiKey: key })

describe('API-key lookups cached per isolate', () => {
  beforeAll(() => {
    apiKeyCache.ttlMs = API_KEY_CACHE_TTL_MS
  })
  beforeEach(() => {
    apiKeyCache.ttlMs = API_KEY_CACHE_TTL_MS
    apiKeyCache.clear()
  })
  afterAll(() => {
    apiKeyCache.ttlMs = null
    apiKeyCache.clear()
  })

  it('defaults: a short TTL in production and development, off under ENVIRONMENT=test', () => {
    const saved = apiKeyCache.ttlMs
    apiKeyCache.ttlMs = null
    expect(apiKeyCache.ttlFor('production')).toBe(API_KEY_CACHE_TTL_MS)
    expect(apiKeyCache.ttlFor('development')).toBe(API_KEY_CACHE_TTL_MS)
    expect(apiKeyCache.ttlFor('test')).toBe(0)
    expect(API_KEY_CACHE_TTL_MS).toBeLessThanOrEqual(30_000)
    apiKeyCache.ttlMs = saved
  })

  it("the cache serves the key: a revocation written behind the app's back (another isolate) holds only after the TTL", async () => {
    apiKeyCache.ttlMs = 400
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const first = await me(k.key)
    expect(first.status, first.text).toBe(200)
    expect(apiKeyCache.entries.has(await sha256Hex(k.key)), 'the accepted lookup is kept').toBe(true)

    // Revoked by another isolate: this one has not heard of it and serves its kept lookup.
    await env.DB.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').bind(Date.now(), k.id).run()
    const stale = await me(k.key)
    expect(stale.status, `within the TTL the kept lookup answers: ${stale.text}`).toBe(200)

    await sleep(450)
    expectErrorEnvelope(await me(k.key), 401, 'INVALID_API_KEY')
    expect(apiKeyCache.entries.has(await sha256Hex(k.key)), 'a refused key is not kept').toBe(false)
  })

  it('a key revoked through the API is refused on the very next request of this isolate, though its lookup was kept', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const other = await createApiKey(u, ['account:read'])
    for (const key of [k.key, other.key]) {
      const ok = await me(key)
      expect(ok.status, ok.text).toBe(200)
    }
    expect(apiKeyCache.entries.has(await sha256Hex(k.key))).toBe(true)

    const revoked = await callApp(`/api/v1/api-keys/${k.id}`, { app, token: u.accessToken, method: 'DELETE' })
    expect(revoked.status, revoked.text).toBe(200)
    expect(revoked.body.data.isActive, revoked.text).toBe(false)

    expectErrorEnvelope(await me(k.key), 401, 'INVALID_API_KEY')
    expectErrorEnvelope(await callApp('/api/v1/auth/me', { app, headers: { authorization: `Bearer ${k.key}` } }), 401, 'INVALID_API_KEY')
    expectErrorEnvelope(await callApp(`/api/v1/auth/me?api_key=${k.key}`, { app }), 401, 'INVALID_API_KEY')
    // Only that key: the account's other key is still served.
    const still = await me(other.key)
    expect(still.status, still.text).toBe(200)
  })

  it("revoking another account's key is a 404 and leaves that key working", async () => {
    const owner = await registerUser()
    const stranger = await registerUser()
    const k = await createApiKey(owner, ['account:read'])
    expect((await me(k.key)).status).toBe(200)
    const res = await callApp(`/api/v1/api-keys/${k.id}`, { app, token: stranger.accessToken, method: 'DELETE' })
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
    const ok = await me(k.key)
    expect(ok.status, ok.text).toBe(200)
  })

  it('many concurrent first uses of one key share the lookup and all succeed', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    const all = await Promise.all(Array.from({ length: 8 }, () => me(k.key)))
    for (const r of all) expect(r.status, r.text).toBe(200)
    expect(apiKeyCache.entries.has(await sha256Hex(k.key))).toBe(true)
  })

  it('expiry is exact: a kept key stops at its expiresAt, not at the end of the TTL', async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'], { expiresAt: new Date(Date.now() + 1500).toISOString() })
    const ok = await me(k.key)
    expect(ok.status, ok.text).toBe(200)
    await sleep(1600)
    expectErrorEnvelope(await me(k.key), 401, 'API_KEY_EXPIRED')
  })

  it('an admin suspending the account refuses its kept keys at once; reactivating lets them in again', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const k = await createApiKey(u, ['account:read'])
    expect((await me(k.key)).status).toBe(200)

    const suspended = await callApp(`/api/v1/admin/users/${u.id}/suspend`, { app, token: admin.accessToken, method: 'PUT', body: { reason: 'Chargeback under review' } })
    expect(suspended.status, suspended.text).toBe(200)
    expectErrorEnvelope(await me(k.key), 403, 'FORBIDDEN')

    const back = await callApp(`/api/v1/admin/users/${u.id}/reactivate`, { app, token: admin.accessToken, method: 'PUT', body: { reason: 'Resolved with the bank' } })
    expect(back.status, back.text).toBe(200)
    const ok = await me(k.key)
    expect(ok.status, ok.text).toBe(200)
  })

  it('keys that were never accepted are not kept', async () => {
    expectErrorEnvelope(await me(`sk_live_${'Z'.repeat(44)}`), 401, 'INVALID_API_KEY')
    expect(apiKeyCache.entries.size).toBe(0)
  })

  it('keeps rows, never a lookup in flight: concurrent first uses each read D1, and the cache holds a finished row', async () => {
    const u = await registerUser()
    const key = await createApiKey(u, ['account:read'])
    const hash = await sha256Hex(key.key)
    const answers = await Promise.all(Array.from({ length: 5 }, () => me(key.key)))
    for (const r of answers) expect(r.status, r.text).toBe(200)
    const entry = apiKeyCache.entries.get(hash)
    // A promise kept here would be awaited by later requests: work another request owns, which
    // workerd cancels (or refuses as I/O on behalf of a different request) once that request ends.
    expect(entry?.row).toBeDefined()
    expect(entry!.row instanceof Promise, 'the cache holds the row itself').toBe(false)
    expect(entry!.row).toMatchObject({ userId: u.id })
  })
})

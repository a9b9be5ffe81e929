/**
 * GET /api/admin/providers and POST /api/admin/providers/{id}/sync (and their /api/v1 aliases):
 * shapes, admin-only access, 404 for an unknown provider, and no secret in any answer.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import { auditRowsFor } from '../../helpers/db'
import { call, expectErrorEnvelope, registerAdmin, registerUser, type TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sandboxProvider } from '../../helpers/catalog'
import { insertProvider, providerRow } from '../../helpers/providers'

const PREFIXES = ['/api/admin/providers', '/api/v1/admin/providers']
const OFFER = (service: string, cost: number, stock: number) => ({ service, serviceName: service, country: 'us', countryName: 'United States', cost, stock })

let admin: TestUser | undefined
const adminToken = async () => {
  admin ??= await registerAdmin()
  return admin.accessToken
}

describe('GET /api/admin/providers', () => {
  it('lists providers with status, health, last sync, stock, priority, margin and a secret-free config', async () => {
    const sbx = await sandboxProvider({ did: { countries: [] } }, { priority: 5, marginBps: 2500, marginFixed: 50_000 })
    const hero = await insertProvider({
      adapter: 'herosms',
      kinds: ['activation'],
      priority: 7,
      config: { baseUrl: 'https://hero.test', apiKeySecret: 'HEROSMS_API_KEY', timeoutMs: 5000, nested: { token: 't0k3n', region: 'eu', apiKey: 'k' } },
    })
    for (const prefix of PREFIXES) {
      const res = await call(prefix, { token: await adminToken() })
      expect(res.status, res.text).toBe(200)
      expect(res.body.success, res.text).toBe(true)
      expect(res.body.pagination, res.text).toMatchObject({ page: 1, limit: 100, hasPrevious: false })
      const list = res.body.data as Record<string, any>[]
      const s = list.find((p) => p.id === sbx.id)
      expect(s, res.text).toEqual({
        id: sbx.id,
        code: sbx.code,
        name: `Sandbox ${sbx.code}`,
        adapter: 'sandbox',
        kinds: ['activation', 'did'],
        status: 'active',
        healthy: true,
        health: 'healthy',
        lastSyncAt: null,
        lastError: null,
        stock: { offers: 0, numbers: 0 },
        priority: 5,
        margin: { percent: 25, fixed: 0.05 },
        config: { did: { countries: [] } },
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      })
      const h = list.find((p) => p.id === hero.id)
      expect(h?.config, res.text).toEqual({ baseUrl: 'https://hero.test', timeoutMs: 5000, nested: { region: 'eu' } })
      expect(res.text).not.toContain('HEROSMS_API_KEY')
      expect(res.text).not.toContain('t0k3n')
      // By priority.
      expect(
        list.findIndex((p) => p.id === sbx.id),
        res.text,
      ).toBeLessThan(list.findIndex((p) => p.id === hero.id))
    }
  })

  it('pages with page and limit', async () => {
    await sandboxProvider({ did: { countries: [] } })
    const res = await call('/api/admin/providers?page=1&limit=1', { token: await adminToken() })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toHaveLength(1)
    expect(res.body.pagination, res.text).toMatchObject({ page: 1, limit: 1, hasNext: true })
    expect(res.body.pagination.total, res.text).toBeGreaterThanOrEqual(2)
    expectErrorEnvelope(await call('/api/admin/providers?limit=1000', { token: await adminToken() }), 400, 'VALIDATION_ERROR')
  })

  it('is for admins only', async () => {
    const user = await registerUser()
    for (const prefix of PREFIXES) {
      expectErrorEnvelope(await call(prefix, { token: user.accessToken }), 403, 'FORBIDDEN')
      expectErrorEnvelope(await call(prefix), 401, 'UNAUTHORIZED')
    }
  })
})

describe('POST /api/admin/providers/{id}/sync', () => {
  it('syncs now and answers the counts; the list then shows the stock and last sync', async () => {
    const p = await sandboxProvider({ activation: { offers: [OFFER('telegram', 0.5, 3), OFFER('uber', 0.5, 0)] }, did: { countries: ['us'], perCountry: 8 } })
    const res = await call(`/api/admin/providers/${p.id}/sync`, { method: 'POST', token: await adminToken() })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toEqual({
      providerId: p.id,
      code: p.code,
      healthy: true,
      health: 'healthy',
      error: null,
      syncedAt: expect.any(String),
      durationMs: expect.any(Number),
      offers: { listed: 2, retired: 0 },
      numbers: { listed: 8, gone: 0 },
      stock: { offers: 1, numbers: 8 },
    })

    const list = await call('/api/v1/admin/providers', { token: await adminToken() })
    const view = (list.body.data as any[]).find((x) => x.id === p.id)
    expect(view, list.text).toMatchObject({ healthy: true, health: 'healthy', lastSyncAt: res.body.data.syncedAt, lastError: null, stock: { offers: 1, numbers: 8 } })

    const audit = await auditRowsFor(p.id)
    expect(
      audit.map((a) => a.action),
      JSON.stringify(audit),
    ).toEqual(['provider.sync'])
    expect(audit[0]!.details).toMatchObject({ healthy: true, error: null })
  })

  it('accepts the provider code and the /api/v1 alias', async () => {
    const p = await sandboxProvider({ activation: { offers: [OFFER('google', 0.5, 3)] }, did: { countries: [] } })
    const res = await call(`/api/v1/admin/providers/${p.code}/sync`, { method: 'POST', token: await adminToken() })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ providerId: p.id, healthy: true, stock: { offers: 1, numbers: 0 } })
  })

  it('a failing upstream answers 200 with healthy false and the reason; the list shows it unhealthy', async () => {
    const p = await sandboxProvider({ activation: { failure: 'upstream_error' }, did: { countries: [] } })
    const res = await call(`/api/admin/providers/${p.id}/sync`, { method: 'POST', token: await adminToken() })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ healthy: false, health: 'unhealthy', error: 'sandbox: simulated upstream failure' })
    const list = await call('/api/admin/providers', { token: await adminToken() })
    expect(
      (list.body.data as any[]).find((x) => x.id === p.id),
      list.text,
    ).toMatchObject({
      healthy: false,
      health: 'unhealthy',
      lastSyncAt: null,
      lastError: 'sandbox: simulated upstream failure',
    })
  })

  it('never answers the upstream credential, wherever the upstream echoes it', async () => {
    const SECRET = 'herosms-live-key-0f1e2d3c4b5a69788796a5b4'
    const p = await insertProvider({ adapter: 'herosms', kinds: ['activation'], config: { baseUrl: 'https://hero.test' } })
    // The app's real fetch dependency, stubbed: the adapter gets the key from the env secret.
    const seen: string[] = []
    const answers = [
      () => new Response(`BANNED:${SECRET}`),
      () => new Response(`<pre>debug ${SECRET}</pre>`, { status: 500 }),
      () => Promise.reject(new TypeError(`Network connection lost: https://hero.test/stubs/handler_api.php?api_key=${SECRET}`)),
    ]
    let next = 0
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      seen.push(String(input instanceof Request ? input.url : input))
      return answers[next++]!()
    })
    try {
      for (const expected of [/getPrices: BANNED: the provider account is blocked \(\*\*\*\)/, /getPrices: HTTP 500$/, /getPrices: network error \(TypeError\)$/]) {
        const res = await callApp(`/api/admin/providers/${p.id}/sync`, { method: 'POST', token: await adminToken(), env: { HEROSMS_API_KEY: SECRET } as Record<string, unknown> })
        expect(res.status, res.text).toBe(200)
        expect(res.body.data.healthy, res.text).toBe(false)
        expect(res.body.data.error, res.text).toMatch(expected)
        expect(res.text).not.toContain(SECRET)
        expect(JSON.stringify(await providerRow(p.id))).not.toContain(SECRET)
      }
    } finally {
      spy.mockRestore()
    }
    expect(seen[0], 'the key was read from the named secret and sent upstream').toContain(`api_key=${SECRET}`)
    const list = await call('/api/admin/providers', { token: await adminToken() })
    expect(list.text).not.toContain(SECRET)
    expect(JSON.stringify(await auditRowsFor(p.id))).not.toContain(SECRET)
  })

  it('404 for an unknown provider; admins only', async () => {
    expectErrorEnvelope(await call('/api/admin/providers/prv_nope/sync', { method: 'POST', token: await adminToken() }), 404, 'NOT_FOUND')
    const p = await sandboxProvider({ did: { countries: [] } })
    const user = await registerUser()
    for (const prefix of PREFIXES) {
      expectErrorEnvelope(await call(`${prefix}/${p.id}/sync`, { method: 'POST', token: user.accessToken }), 403, 'FORBIDDEN')
      expectErrorEnvelope(await call(`${prefix}/${p.id}/sync`, { method: 'POST' }), 401, 'UNAUTHORIZED')
    }
    expect((await providerRow(p.id)).last_sync_at).toBeNull()
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM offers WHERE provider_id = ?`).bind(p.id).first<{ n: number }>()).toEqual({ n: 0 })
  })
})

import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { newId } from '../../../src/lib/ids'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { fund } from '../../helpers/catalog'

const wallet = (userId: string) => env.WALLET.get(env.WALLET.idFromName(userId))

const PATHS = ['/api/wallet/balance', '/api/v1/balance'] as const

describe('GET /api/wallet/balance and GET /api/v1/balance', () => {
  it("a new account has an empty wallet, in the activation API's shape plus available", async () => {
    const u = await registerUser()
    for (const path of PATHS) {
      const res = await call(path, { token: u.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(res.body.success, res.text).toBe(true)
      expect(res.body.data, res.text).toEqual({ balance: 0, currency: 'USD', reserved: 0, available: 0 })
      expect(typeof res.body.meta?.requestId, res.text).toBe('string')
    }
  })

  it('shows decimals exactly: 25.5, and reserved money stays in the balance', async () => {
    const u = await registerUser()
    await fund(u.id, 25.5)
    const hold = await wallet(u.id).hold(u.id, { opId: newId('op'), amount: 1_500_000, ttlMs: 3_600_000 })
    expect(hold.ok, JSON.stringify(hold)).toBe(true)
    for (const path of PATHS) {
      const res = await call(path, { token: u.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(res.body.data, res.text).toEqual({ balance: 25.5, currency: 'USD', reserved: 1.5, available: 24 })
      expect(res.text).toContain('"balance":25.5')
    }
  })

  it('keeps sub-cent amounts exact (0.001) and never shows float noise (0.1 + 0.2 = 0.3)', async () => {
    const a = await registerUser()
    await fund(a.id, 0.001)
    const resA = await call('/api/wallet/balance', { token: a.accessToken })
    expect(resA.body.data, resA.text).toMatchObject({ balance: 0.001, available: 0.001 })
    expect(resA.text).toContain('"balance":0.001')

    const b = await registerUser()
    await fund(b.id, 0.1)
    await fund(b.id, 0.2)
    const resB = await call('/api/wallet/balance', { token: b.accessToken })
    expect(resB.body.data.balance, resB.text).toBe(0.3)
    expect(resB.text).toContain('"balance":0.3,')
  })

  it('each caller sees only their own wallet', async () => {
    const rich = await registerUser()
    const poor = await registerUser()
    await fund(rich.id, 100)
    const res = await call('/api/wallet/balance', { token: poor.accessToken })
    expect(res.body.data.balance, res.text).toBe(0)
    const mine = await call('/api/v1/balance', { token: rich.accessToken })
    expect(mine.body.data.balance, mine.text).toBe(100)
  })

  it("answers an API key with 'wallet:read' (or '*') on both paths", async () => {
    const u = await registerUser()
    await fund(u.id, 7.25)
    for (const perms of [['wallet:read'], ['*']]) {
      const k = await createApiKey(u, perms)
      for (const path of PATHS) {
        const res = await call(path, { apiKey: k.key })
        expect(res.status, `${perms} ${path}: ${res.text}`).toBe(200)
        expect(res.body.data, res.text).toEqual({ balance: 7.25, currency: 'USD', reserved: 0, available: 7.25 })
      }
    }
    const k = await createApiKey(u, ['wallet:read'])
    const bearer = await call('/api/v1/balance', { headers: { authorization: `Bearer ${k.key}` } })
    expect(bearer.status, bearer.text).toBe(200)
  })

  it("refuses an API key without 'wallet:read' (403), no credentials (401) and a bad key (401)", async () => {
    const u = await registerUser()
    const k = await createApiKey(u, ['numbers:read'])
    for (const path of PATHS) {
      expectErrorEnvelope(await call(path, { apiKey: k.key }), 403, 'FORBIDDEN')
      expectErrorEnvelope(await call(path), 401, 'UNAUTHORIZED')
      expectErrorEnvelope(await call(path, { apiKey: 'sk_live_notarealkey0000000000000000000000' }), 401, 'INVALID_API_KEY')
      expectErrorEnvelope(await call(path, { token: 'not-a-jwt' }), 401, 'INVALID_TOKEN')
    }
  })

  it('is documented in the OpenAPI document with the balance fields', async () => {
    const res = await call('/openapi.json')
    for (const path of PATHS) {
      const op = res.body.paths?.[path]?.get
      expect(op, path).toBeTruthy()
      expect(op.description, path).toMatch(/includes `reserved`/)
    }
    const schema = res.body.components?.schemas?.WalletBalance
    expect(Object.keys(schema?.properties ?? {}).sort(), JSON.stringify(schema)).toEqual(['available', 'balance', 'currency', 'reserved'])
  })
})

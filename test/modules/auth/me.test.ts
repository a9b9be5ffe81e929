import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, PASSWORD, registerUser } from '../../helpers/api'
import { login, me, setUserStatus } from './helpers'

describe('GET /api/v1/auth/me', () => {
  it('answers the profile flat (snake_case aliases) and wrapped in user', async () => {
    const u = await registerUser({ firstName: 'John', lastName: 'Doe' })
    const res = await me(u.accessToken)
    expect(res.status, res.text).toBe(200)
    expect(res.body.success, res.text).toBe(true)
    const d = res.body.data
    // the profile itself, with snake_case aliases
    expect(d.id, res.text).toBe(u.id)
    expect(d.email, res.text).toBe(u.email)
    expect(d.username, res.text).toBe(u.email)
    expect(d.full_name, res.text).toBe('John Doe')
    expect(d.is_active, res.text).toBe(true)
    expect(d.role, res.text).toBe('user')
    expect(Number.isNaN(Date.parse(d.created_at)), res.text).toBe(false)
    // the same profile wrapped in `user`
    expect(d.user.id, res.text).toBe(u.id)
    expect(d.user.email, res.text).toBe(u.email)
    expect(d.user.name, res.text).toBe('John Doe')
    expect(d.user.createdAt, res.text).toBe(d.created_at)
    expect(Number.isNaN(Date.parse(d.user.lastLogin)), res.text).toBe(false)
    // camelCase names
    expect(d.firstName, res.text).toBe('John')
    expect(d.lastName, res.text).toBe('Doe')
    expect(d.emailVerified, res.text).toBe(false)
    // Nothing secret leaks.
    expect(res.text, res.text).not.toContain('pbkdf2')
    expect(res.text.toLowerCase(), res.text).not.toContain('password')
  })

  it('answers 401 UNAUTHORIZED without credentials', async () => {
    const res = await call('/api/v1/auth/me')
    expectErrorEnvelope(res, 401, 'UNAUTHORIZED')
  })

  it('answers 401 INVALID_TOKEN for a Bearer header that is not a token', async () => {
    const res = await call('/api/v1/auth/me', { headers: { authorization: 'Bearer definitely-not-a-jwt' } })
    expectErrorEnvelope(res, 401, 'INVALID_TOKEN')
  })

  it('answers an API key with account:read, and refuses one without it (403 FORBIDDEN)', async () => {
    const u = await registerUser()
    const reader = await createApiKey(u, ['account:read'])
    const ok = await call('/api/v1/auth/me', { apiKey: reader.key })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.body.data.id, ok.text).toBe(u.id)
    const other = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await call('/api/v1/auth/me', { apiKey: other.key }), 403, 'FORBIDDEN')
  })

  it('reads the role from the account on every request', async () => {
    const u = await registerUser()
    await env.DB.prepare(`UPDATE users SET role = 'admin' WHERE id = ?`).bind(u.id).run()
    const res = await me(u.accessToken)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.role, res.text).toBe('admin')
  })
})

describe('suspended and banned accounts', () => {
  for (const status of ['suspended', 'banned'] as const) {
    it(`${status}: a token issued before is refused with 403 FORBIDDEN, and login gives 403`, async () => {
      const u = await registerUser()
      const before = await me(u.accessToken)
      expect(before.status, before.text).toBe(200)

      await setUserStatus(u.id, status)
      const res = await me(u.accessToken)
      expectErrorEnvelope(res, 403, 'FORBIDDEN')

      const again = await call('/api/v1/auth/login', { body: { email: u.email, password: PASSWORD } })
      expectErrorEnvelope(again, 403, 'FORBIDDEN')
      // The wrong password still says nothing about the account's state.
      const wrong = await call('/api/v1/auth/login', { body: { email: u.email, password: 'Wrong-Password-9' } })
      expectErrorEnvelope(wrong, 401, 'INVALID_CREDENTIALS')

      const refreshed = await call('/api/v1/auth/refresh', { body: { refreshToken: u.refreshToken } })
      expectErrorEnvelope(refreshed, 403, 'FORBIDDEN')
    })
  }

  it('an inactive account is refused too', async () => {
    const u = await registerUser()
    await setUserStatus(u.id, 'inactive')
    expectErrorEnvelope(await me(u.accessToken), 403, 'FORBIDDEN')
  })

  it('a suspension whose end date has passed no longer applies', async () => {
    const u = await registerUser()
    await setUserStatus(u.id, 'suspended', Date.now() - 60_000)
    const res = await me(u.accessToken)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.is_active, res.text).toBe(true)
    const s = await login(u.email)
    expect(typeof s.accessToken).toBe('string')
  })

  it('a suspension with a future end date applies', async () => {
    const u = await registerUser()
    await setUserStatus(u.id, 'suspended', Date.now() + 3_600_000)
    expectErrorEnvelope(await me(u.accessToken), 403, 'FORBIDDEN')
  })

  it('reactivating the account lets the same token in again', async () => {
    const u = await registerUser()
    await setUserStatus(u.id, 'suspended')
    expectErrorEnvelope(await me(u.accessToken), 403, 'FORBIDDEN')
    await setUserStatus(u.id, 'active')
    const res = await me(u.accessToken)
    expect(res.status, res.text).toBe(200)
  })
})

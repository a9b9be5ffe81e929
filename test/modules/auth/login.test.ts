import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, freshIp, PASSWORD, registerUser, uniqueEmail } from '../../helpers/api'
import { issueFields, me, sessionIdOf } from './helpers'

const LOGIN = '/api/v1/auth/login'

describe('POST /api/v1/auth/login', () => {
  it('logs in by email with every field of the answer', async () => {
    const u = await registerUser({ firstName: 'Grace', lastName: 'Hopper' })
    const res = await call(LOGIN, { body: { email: u.email, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.success, res.text).toBe(true)
    const d = res.body.data
    expect(d.user.id, res.text).toBe(u.id)
    expect(d.user.email, res.text).toBe(u.email)
    expect(d.user.username, res.text).toBe(u.email)
    expect(d.user.firstName, res.text).toBe('Grace')
    expect(d.user.lastName, res.text).toBe('Hopper')
    expect(d.user.name, res.text).toBe('Grace Hopper')
    expect(d.user.role, res.text).toBe('user')
    expect(typeof d.user.preferences, res.text).toBe('object')
    expect(typeof d.user.lastLoginAt, res.text).toBe('string')
    expect(typeof d.tokens.accessToken, res.text).toBe('string')
    expect(typeof d.tokens.refreshToken, res.text).toBe('string')
    expect(d.tokens.expiresIn, res.text).toBe(Number(env.ACCESS_TOKEN_TTL_SECONDS))
    expect(typeof d.account.billingStatus, res.text).toBe('string')
    expect(Array.isArray(d.account.featuresEnabled), res.text).toBe(true)
    expect(d.access_token, res.text).toBe(d.tokens.accessToken)
    expect(d.token_type, res.text).toBe('bearer')
    expect(d.expires_in, res.text).toBe(d.tokens.expiresIn)
    expect(d.token, res.text).toBe(d.tokens.accessToken)
    expect(d.refreshToken, res.text).toBe(d.tokens.refreshToken)

    // A new session, distinct from the registration's.
    expect(sessionIdOf(d.tokens.accessToken), res.text).not.toBe(sessionIdOf(u.accessToken))
    expect(d.tokens.refreshToken, res.text).not.toBe(u.refreshToken)
    const profile = await me(d.access_token)
    expect(profile.status, profile.text).toBe(200)
    expect(profile.body.data.id, profile.text).toBe(u.id)
  })

  it('logs in by username (OAuth2 style) and answers access_token, token_type, expires_in and user.username', async () => {
    const u = await registerUser()
    const res = await call(LOGIN, { body: { username: u.email, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    const d = res.body.data
    expect(typeof d.access_token, res.text).toBe('string')
    expect(d.token_type, res.text).toBe('bearer')
    expect(d.expires_in, res.text).toBe(Number(env.ACCESS_TOKEN_TTL_SECONDS))
    expect(d.user.username, res.text).toBe(u.email)
    expect(d.user.id, res.text).toBe(u.id)
    expect(d.user.role, res.text).toBe('user')
    const profile = await me(d.access_token)
    expect(profile.status, profile.text).toBe(200)
  })

  it('matches the email whatever its case and surrounding spaces', async () => {
    const u = await registerUser()
    const res = await call(LOGIN, { body: { email: `  ${u.email.toUpperCase()} `, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.user.id, res.text).toBe(u.id)
  })

  it('gives the same 401 INVALID_CREDENTIALS for a wrong password and an unknown email', async () => {
    const u = await registerUser()
    const wrong = await call(LOGIN, { body: { email: u.email, password: 'Wrong-Password-1' } })
    expectErrorEnvelope(wrong, 401, 'INVALID_CREDENTIALS')
    const unknown = await call(LOGIN, { body: { email: uniqueEmail('nobody'), password: PASSWORD } })
    expectErrorEnvelope(unknown, 401, 'INVALID_CREDENTIALS')
    expect(unknown.body.error.message, unknown.text).toBe(wrong.body.error.message)
    expect(unknown.body.error.details, unknown.text).toEqual(wrong.body.error.details)
    const byUsername = await call(LOGIN, { body: { username: u.email, password: 'Wrong-Password-1' } })
    expectErrorEnvelope(byUsername, 401, 'INVALID_CREDENTIALS')
  })

  it('does not accept the password of another account', async () => {
    const a = await registerUser()
    const b = await registerUser({ password: 'Other-Password-77' })
    const res = await call(LOGIN, { body: { email: a.email, password: 'Other-Password-77' } })
    expectErrorEnvelope(res, 401, 'INVALID_CREDENTIALS')
    const ok = await call(LOGIN, { body: { email: b.email, password: 'Other-Password-77' } })
    expect(ok.status, ok.text).toBe(200)
  })

  it('answers 401 INVALID_CREDENTIALS, not a crash, when the stored hash is corrupt', async () => {
    const u = await registerUser()
    for (const stored of ['pbkdf2_sha256$0$AAAA$AAAA', 'pbkdf2_sha256$100000$not*base64$AAAA', 'garbage']) {
      await env.DB.prepare('UPDATE users SET password_hash = ? WHERE id = ?').bind(stored, u.id).run()
      const res = await call(LOGIN, { body: { email: u.email, password: PASSWORD } })
      expectErrorEnvelope(res, 401, 'INVALID_CREDENTIALS')
    }
  })

  it('updates lastLoginAt', async () => {
    const u = await registerUser()
    const old = Date.UTC(2020, 0, 1)
    await env.DB.prepare('UPDATE users SET last_login_at = ? WHERE id = ?').bind(old, u.id).run()
    const before = await me(u.accessToken)
    expect(before.body.data.lastLoginAt, before.text).toBe(new Date(old).toISOString())

    const startedAt = Date.now()
    const res = await call(LOGIN, { body: { email: u.email, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    const reported = Date.parse(res.body.data.user.lastLoginAt)
    expect(reported, res.text).toBeGreaterThanOrEqual(startedAt - 1000)
    const row = await env.DB.prepare('SELECT last_login_at AS t FROM users WHERE id = ?').bind(u.id).first<{ t: number }>()
    expect(row?.t, res.text).toBe(reported)
    const after = await me(u.accessToken)
    expect(after.body.data.lastLoginAt, after.text).toBe(res.body.data.user.lastLoginAt)
    expect(after.body.data.user.lastLogin, after.text).toBe(res.body.data.user.lastLoginAt)
  })

  it('records the session with the client IP and user agent', async () => {
    const u = await registerUser()
    const ip = freshIp()
    const deviceInfo = { platform: 'linux', browser: 'firefox', version: '140' }
    const res = await call(LOGIN, {
      ip,
      headers: { 'user-agent': 'auth-tests/1.0' },
      body: { email: u.email, password: PASSWORD, deviceInfo },
    })
    expect(res.status, res.text).toBe(200)
    const row = await env.DB.prepare('SELECT ip, user_agent, device_info, revoked_at FROM sessions WHERE id = ?')
      .bind(sessionIdOf(res.body.data.tokens.accessToken))
      .first<{ ip: string; user_agent: string; device_info: string; revoked_at: number | null }>()
    expect(row, res.text).toEqual({ ip, user_agent: 'auth-tests/1.0', device_info: JSON.stringify(deviceInfo), revoked_at: null })
  })

  it('gives rememberMe: false a short session', async () => {
    const u = await registerUser()
    const res = await call(LOGIN, { body: { email: u.email, password: PASSWORD, rememberMe: false } })
    expect(res.status, res.text).toBe(200)
    const s = await env.DB.prepare('SELECT expires_at, created_at FROM sessions WHERE id = ?').bind(sessionIdOf(res.body.data.tokens.accessToken)).first<{ expires_at: number; created_at: number }>()
    expect(s!.expires_at - s!.created_at, res.text).toBe(86_400_000)
  })

  describe('validation', () => {
    it('needs email or username', async () => {
      const res = await call(LOGIN, { body: { password: PASSWORD } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(issueFields(res), res.text).toContain('email')
    })
    it('needs a password', async () => {
      const res = await call(LOGIN, { body: { email: uniqueEmail() } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(issueFields(res), res.text).toContain('password')
    })
    it('refuses malformed JSON', async () => {
      const res = await call(LOGIN, { method: 'POST', rawBody: '{"email":', headers: { 'content-type': 'application/json' } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    })
  })

  it('is limited to 5 attempts per 15 minutes per client IP', async () => {
    const ip = freshIp()
    const email = uniqueEmail('brute')
    for (let i = 0; i < 5; i++) {
      const res = await call(LOGIN, { ip, body: { email, password: `Guess-${i}-password` } })
      expectErrorEnvelope(res, 401, 'INVALID_CREDENTIALS')
    }
    const blocked = await call(LOGIN, { ip, body: { email, password: 'Guess-6-password' } })
    expectErrorEnvelope(blocked, 429, 'RATE_LIMIT_EXCEEDED')
    expect(Number(blocked.headers.get('retry-after')), blocked.text).toBeGreaterThan(0)
    // Another IP is not affected.
    const other = await call(LOGIN, { body: { email, password: 'Guess-7-password' } })
    expectErrorEnvelope(other, 401, 'INVALID_CREDENTIALS')
  })
})

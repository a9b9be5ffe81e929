import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { expectStatus, issueFields, login, me, refresh, sessionIdOf, sessionRow } from './helpers'

const REFRESH = '/api/v1/auth/refresh'
const LOGOUT = '/api/v1/auth/logout'

describe('POST /api/v1/auth/refresh', () => {
  it('rotates with `refreshToken`', async () => {
    const u = await registerUser()
    const res = await call(REFRESH, { body: { refreshToken: u.refreshToken } })
    expect(res.status, res.text).toBe(200)
    const d = res.body.data
    expect(typeof d.accessToken, res.text).toBe('string')
    expect(d.refreshToken, res.text).toMatch(/^rt_/)
    expect(d.refreshToken, res.text).not.toBe(u.refreshToken)
    expect(d.expiresIn, res.text).toBe(Number(env.ACCESS_TOKEN_TTL_SECONDS))
    expect(d.access_token, res.text).toBe(d.accessToken)
    expect(d.refresh_token, res.text).toBe(d.refreshToken)
    expect(d.token_type, res.text).toBe('bearer')
    expect(d.expires_in, res.text).toBe(d.expiresIn)
    // Same session (token family), and the new access token works.
    expect(sessionIdOf(d.accessToken), res.text).toBe(sessionIdOf(u.accessToken))
    const profile = await me(d.accessToken)
    expect(profile.status, profile.text).toBe(200)
    expect(profile.body.data.id, profile.text).toBe(u.id)
  })

  it('rotates with `refresh_token` (OAuth2 style), and the chain goes on', async () => {
    const u = await registerUser()
    const first = await call(REFRESH, { body: { refresh_token: u.refreshToken } })
    expect(first.status, first.text).toBe(200)
    expect(typeof first.body.data.access_token, first.text).toBe('string')
    expect(first.body.data.token_type, first.text).toBe('bearer')
    const second = await call(REFRESH, { body: { refresh_token: first.body.data.refresh_token } })
    expect(second.status, second.text).toBe(200)
    expect(second.body.data.refresh_token, second.text).not.toBe(first.body.data.refresh_token)
    const profile = await me(second.body.data.access_token)
    expect(profile.status, profile.text).toBe(200)
  })

  it('needs a refresh token: 400 VALIDATION_ERROR', async () => {
    const res = await call(REFRESH, { body: {} })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(issueFields(res), res.text).toContain('refreshToken')
  })

  it('refuses an unknown refresh token with 401 INVALID_TOKEN', async () => {
    const res = await refresh('rt_this-token-was-never-issued')
    expectErrorEnvelope(res, 401, 'INVALID_TOKEN')
  })

  it('refuses an access token presented as a refresh token', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await refresh(u.accessToken), 401, 'INVALID_TOKEN')
  })

  it('refuses an expired refresh token with 401 TOKEN_EXPIRED', async () => {
    const u = await registerUser()
    await env.DB.prepare('UPDATE refresh_tokens SET expires_at = ? WHERE user_id = ?')
      .bind(Date.now() - 1000, u.id)
      .run()
    expectErrorEnvelope(await refresh(u.refreshToken), 401, 'TOKEN_EXPIRED')
  })

  it('reuse of a rotated token is refused and revokes the whole family', async () => {
    const u = await registerUser()
    const r1 = await refresh(u.refreshToken)
    expect(r1.status, r1.text).toBe(200)
    const r2 = await refresh(r1.body.data.refreshToken)
    expect(r2.status, r2.text).toBe(200)
    const newest = r2.body.data
    expectStatus(await me(newest.accessToken), 200)

    // The first token again (a stolen copy): refused ...
    const reuse = await refresh(u.refreshToken)
    expectErrorEnvelope(reuse, 401, 'INVALID_TOKEN')

    // ... and the family is gone: the newest refresh token no longer works ...
    const afterwards = await refresh(newest.refreshToken)
    expectErrorEnvelope(afterwards, 401, 'INVALID_TOKEN')
    // ... nor any access token of that session.
    expectErrorEnvelope(await me(newest.accessToken), 401, 'INVALID_TOKEN')
    expectErrorEnvelope(await me(r1.body.data.accessToken), 401, 'INVALID_TOKEN')
    expectErrorEnvelope(await me(u.accessToken), 401, 'INVALID_TOKEN')
    const s = await sessionRow(sessionIdOf(u.accessToken))
    expect(s?.revoked_at, JSON.stringify(s)).not.toBeNull()
    expect(s?.revoke_reason, JSON.stringify(s)).toBe('refresh_token_reuse')
  })

  it('reuse revokes only that session: another login of the same user is unaffected', async () => {
    const u = await registerUser()
    const other = await login(u.email)

    const r1 = await refresh(u.refreshToken)
    expect(r1.status, r1.text).toBe(200)
    expectErrorEnvelope(await refresh(u.refreshToken), 401, 'INVALID_TOKEN')
    expectErrorEnvelope(await me(r1.body.data.accessToken), 401, 'INVALID_TOKEN')

    const stillIn = await me(other.accessToken)
    expect(stillIn.status, stillIn.text).toBe(200)
    const rotated = await refresh(other.refreshToken)
    expect(rotated.status, rotated.text).toBe(200)
    expectStatus(await me(rotated.body.data.accessToken), 200)
  })

  it('two concurrent refreshes with the same token: at most one succeeds', async () => {
    const u = await registerUser()
    const results = await Promise.all([refresh(u.refreshToken), refresh(u.refreshToken)])
    const wins = results.filter((r) => r.status === 200)
    const all = results.map((r) => `${r.status} ${r.text}`).join('\n')
    expect(wins.length, all).toBeLessThanOrEqual(1)
    for (const r of results) if (r.status !== 200) expectErrorEnvelope(r, 401, 'INVALID_TOKEN')
    // Exactly one successor token was ever minted for the presented one.
    const rows = await env.DB.prepare('SELECT COUNT(*) AS n FROM refresh_tokens WHERE user_id = ?').bind(u.id).first<{ n: number }>()
    expect(rows?.n, all).toBe(1 + wins.length)
    // The presented token is spent either way.
    expectErrorEnvelope(await refresh(u.refreshToken), 401, 'INVALID_TOKEN')
  })

  it('five concurrent refreshes with the same token: at most one succeeds', async () => {
    const u = await registerUser()
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(u.refreshToken)))
    const all = results.map((r) => `${r.status} ${r.text}`).join('\n')
    expect(results.filter((r) => r.status === 200).length, all).toBeLessThanOrEqual(1)
    for (const r of results) if (r.status !== 200) expectErrorEnvelope(r, 401, 'INVALID_TOKEN')
  })

  it('a refresh token of a logged-out session is refused', async () => {
    const u = await registerUser()
    const out = await call(LOGOUT, { token: u.accessToken, body: {} })
    expect(out.status, out.text).toBe(200)
    expectErrorEnvelope(await refresh(u.refreshToken), 401, 'INVALID_TOKEN')
  })
})

describe('POST /api/v1/auth/logout', () => {
  it('ends the current session: its access and refresh tokens are refused afterwards', async () => {
    const u = await registerUser()
    const other = await login(u.email)
    const res = await call(LOGOUT, { method: 'POST', token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.loggedOut, res.text).toBe(true)
    expect(res.body.data.sessionsRevoked, res.text).toBe(1)
    expectErrorEnvelope(await me(u.accessToken), 401, 'INVALID_TOKEN')
    expectErrorEnvelope(await refresh(u.refreshToken), 401, 'INVALID_TOKEN')
    // Only that session.
    const still = await me(other.accessToken)
    expect(still.status, still.text).toBe(200)
  })

  it('ends the session of a refresh token sent without an access token', async () => {
    const u = await registerUser()
    const res = await call(LOGOUT, { body: { refreshToken: u.refreshToken } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.sessionsRevoked, res.text).toBe(1)
    expectErrorEnvelope(await me(u.accessToken), 401, 'INVALID_TOKEN')
    expectErrorEnvelope(await refresh(u.refreshToken), 401, 'INVALID_TOKEN')
  })

  it('accepts `refresh_token` too', async () => {
    const u = await registerUser()
    const res = await call(LOGOUT, { body: { refresh_token: u.refreshToken } })
    expect(res.status, res.text).toBe(200)
    expectErrorEnvelope(await me(u.accessToken), 401, 'INVALID_TOKEN')
  })

  it('logs out with a refresh token even when the access token sent is no longer valid', async () => {
    const u = await registerUser()
    const second = await login(u.email)
    const out = await call(LOGOUT, { token: u.accessToken, body: {} })
    expect(out.status, out.text).toBe(200)
    // u.accessToken is now refused, yet the other session's refresh token still logs out.
    const res = await call(LOGOUT, { token: u.accessToken, body: { refreshToken: second.refreshToken } })
    expect(res.status, res.text).toBe(200)
    expectErrorEnvelope(await me(second.accessToken), 401, 'INVALID_TOKEN')
  })

  it('with allDevices ends every session of the user and no one else’s', async () => {
    const u = await registerUser()
    const a = await login(u.email)
    const b = await login(u.email)
    const stranger = await registerUser()

    const res = await call(LOGOUT, { token: a.accessToken, body: { allDevices: true } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.sessionsRevoked, res.text).toBe(3)
    for (const t of [u.accessToken, a.accessToken, b.accessToken]) expectErrorEnvelope(await me(t), 401, 'INVALID_TOKEN')
    for (const t of [u.refreshToken, a.refreshToken, b.refreshToken]) expectErrorEnvelope(await refresh(t), 401, 'INVALID_TOKEN')

    const ok = await me(stranger.accessToken)
    expect(ok.status, ok.text).toBe(200)
    const rotated = await refresh(stranger.refreshToken)
    expect(rotated.status, rotated.text).toBe(200)
    // A new login works again.
    const fresh = await login(u.email)
    expectStatus(await me(fresh.accessToken), 200)
  })

  it('allDevices needs an access token: 401 UNAUTHORIZED with only a refresh token', async () => {
    const u = await registerUser()
    const res = await call(LOGOUT, { body: { refreshToken: u.refreshToken, allDevices: true } })
    expectErrorEnvelope(res, 401, 'UNAUTHORIZED')
    expectStatus(await me(u.accessToken), 200)
  })

  it('without any credential: 401 UNAUTHORIZED', async () => {
    const res = await call(LOGOUT, { body: {} })
    expectErrorEnvelope(res, 401, 'UNAUTHORIZED')
  })

  it('with an invalid access token and no refresh token: 401 INVALID_TOKEN', async () => {
    const res = await call(LOGOUT, { token: 'not-a-token', body: {} })
    expectErrorEnvelope(res, 401, 'INVALID_TOKEN')
  })

  it('refuses an unknown refresh token with 401 INVALID_TOKEN', async () => {
    const res = await call(LOGOUT, { body: { refreshToken: 'rt_unknown-token' } })
    expectErrorEnvelope(res, 401, 'INVALID_TOKEN')
  })

  it('an API key cannot log the user out of every device', async () => {
    const u = await registerUser()
    const other = await login(u.email)
    for (const permissions of [['numbers:read'], ['*']]) {
      const key = await createApiKey(u, permissions)
      const res = await call(LOGOUT, { apiKey: key.key, body: { allDevices: true } })
      expectErrorEnvelope(res, 403, 'FORBIDDEN')
    }
    expectStatus(await me(u.accessToken), 200)
    expectStatus(await me(other.accessToken), 200)
  })

  it("refuses another user's refresh token sent with an access token, and ends nothing", async () => {
    const a = await registerUser()
    const b = await registerUser()
    const res = await call(LOGOUT, { token: a.accessToken, body: { refreshToken: b.refreshToken } })
    expectErrorEnvelope(res, 401, 'INVALID_TOKEN')
    expectStatus(await me(a.accessToken), 200)
    expectStatus(await me(b.accessToken), 200)
  })
})

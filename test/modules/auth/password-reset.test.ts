import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, PASSWORD, registerUser, uniqueEmail } from '../../helpers/api'
import { expectEmailVerified, expectStatus, issueFields, login, mailedToken, mailsTo, me, refresh, sessionIdOf, sessionRow } from './helpers'

const FORGOT = '/api/v1/auth/forgot-password'
const RESET = '/api/v1/auth/reset-password'
const VERIFY = '/api/v1/auth/verify-email'
const NEW_PASSWORD = 'Brand-New-Secret-2026'

async function forgot(email: string, resetUrl?: string) {
  return call(FORGOT, { body: resetUrl === undefined ? { email } : { email, resetUrl } })
}

describe('POST /api/v1/auth/forgot-password', () => {
  it('answers 200 with the same message for an existing and an unknown email, and mails only the existing one', async () => {
    const u = await registerUser()
    const unknownEmail = uniqueEmail('ghost')
    const known = await forgot(u.email)
    const unknown = await forgot(unknownEmail)
    expect(known.status, known.text).toBe(200)
    expect(unknown.status, unknown.text).toBe(200)
    expect(known.body.success, known.text).toBe(true)
    expect(typeof known.body.data.message, known.text).toBe('string')
    expect(unknown.body.data, unknown.text).toEqual(known.body.data)

    const mails = await mailsTo(u.email, 'password_reset')
    expect(mails.length, known.text).toBe(1)
    expect(mails[0]!.user_id, known.text).toBe(u.id)
    expect(mails[0]!.text, known.text).toContain(`${env.APP_URL}/reset-password?token=`)
    expect((await mailsTo(unknownEmail)).length, unknown.text).toBe(0)
  })

  it('finds the account whatever the case of the email', async () => {
    const u = await registerUser()
    const res = await forgot(u.email.toUpperCase())
    expect(res.status, res.text).toBe(200)
    expect((await mailsTo(u.email, 'password_reset')).length, res.text).toBe(1)
  })

  it('uses a resetUrl on the app origin', async () => {
    const u = await registerUser()
    const res = await forgot(u.email, `${env.APP_URL}/account/new-password?lang=en`)
    expect(res.status, res.text).toBe(200)
    const [mail] = await mailsTo(u.email, 'password_reset')
    expect(mail?.text, res.text).toMatch(new RegExp(`${env.APP_URL}/account/new-password\\?lang=en&token=[A-Za-z0-9]+`))
  })

  for (const url of ['https://evil.example/reset-password', 'http://localhost:9999/reset-password', 'not a url', 'javascript:alert(1)', `${env.APP_URL}@evil.example/reset`, '//evil.example/reset']) {
    it(`refuses resetUrl ${JSON.stringify(url)} with 400 VALIDATION_ERROR and mails nothing`, async () => {
      const u = await registerUser()
      const res = await forgot(u.email, url)
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(issueFields(res), res.text).toContain('resetUrl')
      expect((await mailsTo(u.email, 'password_reset')).length, res.text).toBe(0)
    })
  }

  it('refuses a malformed email with 400 VALIDATION_ERROR', async () => {
    const res = await call(FORGOT, { body: { email: 'nope' } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(issueFields(res), res.text).toContain('email')
  })

  it('a newer link supersedes an earlier unused one', async () => {
    const u = await registerUser()
    expectStatus(await forgot(u.email), 200)
    const first = await mailedToken(u.email, 'password_reset')
    expectStatus(await forgot(u.email), 200)
    const second = await mailedToken(u.email, 'password_reset')
    expect(second).not.toBe(first)
    expectErrorEnvelope(await call(RESET, { body: { token: first, newPassword: NEW_PASSWORD } }), 400, 'VALIDATION_ERROR')
    const ok = await call(RESET, { body: { token: second, newPassword: NEW_PASSWORD } })
    expect(ok.status, ok.text).toBe(200)
  })
})

describe('POST /api/v1/auth/reset-password', () => {
  it('sets the new password with the mailed token and ends every old session', async () => {
    const u = await registerUser()
    const other = await login(u.email)
    expectStatus(await forgot(u.email), 200)
    const token = await mailedToken(u.email, 'password_reset')

    const res = await call(RESET, { body: { token, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD } })
    expect(res.status, res.text).toBe(200)
    expect(typeof res.body.data.message, res.text).toBe('string')

    const oldPw = await call('/api/v1/auth/login', { body: { email: u.email, password: PASSWORD } })
    expectErrorEnvelope(oldPw, 401, 'INVALID_CREDENTIALS')
    const fresh = await login(u.email, NEW_PASSWORD)
    const profile = await me(fresh.accessToken)
    expect(profile.status, profile.text).toBe(200)
    // Following the mailed link proved control of the mailbox.
    expect(profile.body.data.emailVerified, profile.text).toBe(true)

    for (const t of [u.accessToken, other.accessToken]) expectErrorEnvelope(await me(t), 401, 'INVALID_TOKEN')
    for (const t of [u.refreshToken, other.refreshToken]) expectErrorEnvelope(await refresh(t), 401, 'INVALID_TOKEN')
    const s = await sessionRow(sessionIdOf(other.accessToken))
    expect(s?.revoke_reason, JSON.stringify(s)).toBe('password_reset')

    const hash = await env.DB.prepare('SELECT password_hash AS h FROM users WHERE id = ?').bind(u.id).first<{ h: string }>()
    expect(hash?.h.startsWith('pbkdf2_sha256$100000$'), hash?.h).toBe(true)
  })

  it('works without confirmPassword (some clients send it, others omit it)', async () => {
    const u = await registerUser()
    expectStatus(await forgot(u.email), 200)
    const res = await call(RESET, { body: { token: await mailedToken(u.email, 'password_reset'), newPassword: NEW_PASSWORD } })
    expect(res.status, res.text).toBe(200)
    await login(u.email, NEW_PASSWORD)
  })

  it('a token works once: a second use is 400 and changes nothing', async () => {
    const u = await registerUser()
    expectStatus(await forgot(u.email), 200)
    const token = await mailedToken(u.email, 'password_reset')
    const first = await call(RESET, { body: { token, newPassword: NEW_PASSWORD } })
    expect(first.status, first.text).toBe(200)
    const s = await login(u.email, NEW_PASSWORD)

    const second = await call(RESET, { body: { token, newPassword: 'Attacker-Choice-99' } })
    expectErrorEnvelope(second, 400, 'VALIDATION_ERROR')
    expect(issueFields(second), second.text).toContain('token')
    expectErrorEnvelope(await call('/api/v1/auth/login', { body: { email: u.email, password: 'Attacker-Choice-99' } }), 401, 'INVALID_CREDENTIALS')
    // The session opened after the reset survives the refused second use.
    expectStatus(await me(s.accessToken), 200)
  })

  it('two concurrent resets with one token: exactly one wins, and its password is the one set', async () => {
    const u = await registerUser()
    expectStatus(await forgot(u.email), 200)
    const token = await mailedToken(u.email, 'password_reset')
    const passwords = ['Racer-One-Password-1', 'Racer-Two-Password-2']
    const results = await Promise.all(passwords.map((newPassword) => call(RESET, { body: { token, newPassword } })))
    const all = results.map((r) => `${r.status} ${r.text}`).join('\n')
    const winners = results.flatMap((r, i) => (r.status === 200 ? [passwords[i]!] : []))
    expect(winners.length, all).toBe(1)
    for (const r of results) if (r.status !== 200) expectErrorEnvelope(r, 400, 'VALIDATION_ERROR')
    await login(u.email, winners[0]!)
    const loser = passwords.find((p) => p !== winners[0])!
    expectErrorEnvelope(await call('/api/v1/auth/login', { body: { email: u.email, password: loser } }), 401, 'INVALID_CREDENTIALS')
  })

  it('refuses a confirmPassword that does not match, naming confirmPassword', async () => {
    const u = await registerUser()
    expectStatus(await forgot(u.email), 200)
    const token = await mailedToken(u.email, 'password_reset')
    const res = await call(RESET, { body: { token, newPassword: NEW_PASSWORD, confirmPassword: `${NEW_PASSWORD}x` } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(issueFields(res), res.text).toContain('confirmPassword')
    // The token was not consumed and the old password still works.
    await login(u.email, PASSWORD)
    const ok = await call(RESET, { body: { token, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD } })
    expect(ok.status, ok.text).toBe(200)
  })

  it('refuses a weak new password, naming newPassword', async () => {
    const u = await registerUser()
    expectStatus(await forgot(u.email), 200)
    const res = await call(RESET, { body: { token: await mailedToken(u.email, 'password_reset'), newPassword: 'short' } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(issueFields(res), res.text).toContain('newPassword')
  })

  it('refuses an expired token', async () => {
    const u = await registerUser()
    const s = await login(u.email)
    expectStatus(await forgot(u.email), 200)
    const token = await mailedToken(u.email, 'password_reset')
    await env.DB.prepare(`UPDATE auth_tokens SET expires_at = ? WHERE user_id = ? AND kind = 'password_reset'`)
      .bind(Date.now() - 1000, u.id)
      .run()
    const res = await call(RESET, { body: { token, newPassword: NEW_PASSWORD } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(issueFields(res), res.text).toContain('token')
    // Nothing changed: old password, old sessions.
    await login(u.email, PASSWORD)
    expectStatus(await me(s.accessToken), 200)
  })

  it('refuses an unknown token', async () => {
    const res = await call(RESET, { body: { token: 'never-issued-token', newPassword: NEW_PASSWORD } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
  })

  it('refuses an email-verification token', async () => {
    const u = await registerUser()
    const verifyToken = await mailedToken(u.email, 'verify_email')
    const res = await call(RESET, { body: { token: verifyToken, newPassword: NEW_PASSWORD } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    await login(u.email, PASSWORD)
  })
})

describe('GET /api/v1/auth/verify-email', () => {
  it('verifies with the token from the registration mail, once', async () => {
    const u = await registerUser()
    await expectEmailVerified(u.accessToken, false)
    const token = await mailedToken(u.email, 'verify_email')

    const res = await call(`${VERIFY}?token=${encodeURIComponent(token)}`)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.verified, res.text).toBe(true)
    const profile = await me(u.accessToken)
    expect(profile.body.data.emailVerified, profile.text).toBe(true)

    const again = await call(`${VERIFY}?token=${encodeURIComponent(token)}`)
    expectErrorEnvelope(again, 400, 'VALIDATION_ERROR')
    expect(issueFields(again), again.text).toContain('token')
  })

  it('two concurrent uses of one token: exactly one succeeds', async () => {
    const u = await registerUser()
    const token = await mailedToken(u.email, 'verify_email')
    const results = await Promise.all([0, 1, 2].map(() => call(`${VERIFY}?token=${token}`)))
    const all = results.map((r) => `${r.status} ${r.text}`).join('\n')
    expect(results.filter((r) => r.status === 200).length, all).toBe(1)
    for (const r of results) if (r.status !== 200) expectErrorEnvelope(r, 400, 'VALIDATION_ERROR')
  })

  it("verifies only the token's own account", async () => {
    const a = await registerUser()
    const b = await registerUser()
    const res = await call(`${VERIFY}?token=${encodeURIComponent(await mailedToken(a.email, 'verify_email'))}`)
    expect(res.status, res.text).toBe(200)
    await expectEmailVerified(a.accessToken, true)
    await expectEmailVerified(b.accessToken, false)
  })

  it('refuses an expired token', async () => {
    const u = await registerUser()
    const token = await mailedToken(u.email, 'verify_email')
    await env.DB.prepare(`UPDATE auth_tokens SET expires_at = ? WHERE user_id = ? AND kind = 'verify_email'`)
      .bind(Date.now() - 1000, u.id)
      .run()
    expectErrorEnvelope(await call(`${VERIFY}?token=${token}`), 400, 'VALIDATION_ERROR')
    await expectEmailVerified(u.accessToken, false)
  })

  it('refuses an unknown token and a missing one', async () => {
    expectErrorEnvelope(await call(`${VERIFY}?token=not-a-real-token`), 400, 'VALIDATION_ERROR')
    const missing = await call(VERIFY)
    expectErrorEnvelope(missing, 400, 'VALIDATION_ERROR')
    expect(issueFields(missing), missing.text).toContain('token')
  })

  it('refuses a password-reset token', async () => {
    const u = await registerUser()
    expectStatus(await forgot(u.email), 200)
    const token = await mailedToken(u.email, 'password_reset')
    expectErrorEnvelope(await call(`${VERIFY}?token=${token}`), 400, 'VALIDATION_ERROR')
  })
})

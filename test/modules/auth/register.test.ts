import { env } from 'cloudflare:test'
import { decodeJwt } from 'jose'
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, PASSWORD, uniqueEmail } from '../../helpers/api'
import { issueFields, mailedToken, mailsTo, me } from './helpers'

const REGISTER = '/api/v1/auth/register'

function splitNameBody(email = uniqueEmail('reg')) {
  return { email, password: PASSWORD, firstName: 'Ada', lastName: 'Lovelace', acceptTerms: true }
}

describe('POST /api/v1/auth/register', () => {
  it('accepts firstName + lastName and answers every field', async () => {
    const body = { ...splitNameBody(), company: 'Analytical Engines', phone: '+15550100', timezone: 'Europe/London', marketingConsent: true }
    const res = await call(REGISTER, { body })
    expect(res.status, res.text).toBe(201)
    expect(res.body.success, res.text).toBe(true)
    expect(typeof res.body.meta?.requestId, res.text).toBe('string')
    expect(typeof res.body.meta?.timestamp, res.text).toBe('string')
    const d = res.body.data

    // the user
    expect(d.user.id, res.text).toMatch(/^usr_/)
    expect(d.user.email, res.text).toBe(body.email)
    expect(d.user.firstName, res.text).toBe('Ada')
    expect(d.user.lastName, res.text).toBe('Lovelace')
    expect(d.user.name, res.text).toBe('Ada Lovelace')
    expect(d.user.emailVerified, res.text).toBe(false)
    expect(d.user.role, res.text).toBe('user')
    expect(d.user.company, res.text).toBe('Analytical Engines')
    expect(d.user.phone, res.text).toBe('+15550100')
    expect(d.user.timezone, res.text).toBe('Europe/London')
    expect(typeof d.user.createdAt, res.text).toBe('string')

    // tokens + onboarding
    expect(typeof d.tokens.accessToken, res.text).toBe('string')
    expect(d.tokens.refreshToken, res.text).toMatch(/^rt_/)
    expect(d.tokens.expiresIn, res.text).toBe(Number(env.ACCESS_TOKEN_TTL_SECONDS))
    expect(typeof d.onboarding.nextStep, res.text).toBe('string')
    expect(d.onboarding.nextStep.length, res.text).toBeGreaterThan(0)
    expect(typeof d.onboarding.completionUrl, res.text).toBe('string')

    // the OAuth2 fields and the short token/refreshToken aliases
    expect(d.access_token, res.text).toBe(d.tokens.accessToken)
    expect(d.token_type, res.text).toBe('bearer')
    expect(d.expires_in, res.text).toBe(d.tokens.expiresIn)
    expect(d.token, res.text).toBe(d.tokens.accessToken)
    expect(d.refreshToken, res.text).toBe(d.tokens.refreshToken)
    expect(d.refresh_token, res.text).toBe(d.tokens.refreshToken)

    // The access token belongs to the new user and works.
    expect(decodeJwt(d.tokens.accessToken).sub, res.text).toBe(d.user.id)
    const profile = await me(d.tokens.accessToken)
    expect(profile.status, profile.text).toBe(200)
    expect(profile.body.data.id, profile.text).toBe(d.user.id)
  })

  it('accepts a single name and splits it into first and last name', async () => {
    const email = uniqueEmail('fullname')
    const res = await call(REGISTER, { body: { email, password: 'SecurePassword123!', name: 'John Doe' } })
    expect(res.status, res.text).toBe(201)
    const u = res.body.data.user
    expect(u.firstName, res.text).toBe('John')
    expect(u.lastName, res.text).toBe('Doe')
    expect(u.name, res.text).toBe('John Doe')
    expect(u.email, res.text).toBe(email)
    expect(u.emailVerified, res.text).toBe(false)
    expect(u.role, res.text).toBe('user')
    expect(typeof res.body.data.token, res.text).toBe('string')
    expect(typeof res.body.data.refreshToken, res.text).toBe('string')
  })

  it('splits a multi-word name at the first space only', async () => {
    const res = await call(REGISTER, { body: { email: uniqueEmail('multi'), password: PASSWORD, name: '  Mary   Ann Smith ' } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.user.firstName, res.text).toBe('Mary')
    expect(res.body.data.user.lastName, res.text).toBe('Ann Smith')
  })

  it('stores the email lower-cased', async () => {
    const email = uniqueEmail('Mixed')
    const res = await call(REGISTER, { body: splitNameBody(email.toUpperCase()) })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.user.email, res.text).toBe(email.toLowerCase())
  })

  it('trims spaces around the email before checking it, as login does', async () => {
    const email = uniqueEmail('trim')
    const res = await call(REGISTER, { body: splitNameBody(`  ${email.toUpperCase()} `) })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.user.email, res.text).toBe(email)
    const login = await call('/api/v1/auth/login', { body: { email: ` ${email} `, password: PASSWORD } })
    expect(login.status, login.text).toBe(200)
  })

  it('refuses a taken email with 409 EMAIL_ALREADY_EXISTS', async () => {
    const email = uniqueEmail('dup')
    const first = await call(REGISTER, { body: splitNameBody(email) })
    expect(first.status, first.text).toBe(201)
    const second = await call(REGISTER, { body: splitNameBody(email) })
    expectErrorEnvelope(second, 409, 'EMAIL_ALREADY_EXISTS')
    const count = await env.DB.prepare('SELECT COUNT(*) AS n FROM users WHERE email = ?').bind(email).first<{ n: number }>()
    expect(count?.n, second.text).toBe(1)
  })

  it('refuses an email that differs only in case with 409 EMAIL_ALREADY_EXISTS', async () => {
    const email = uniqueEmail('case')
    const first = await call(REGISTER, { body: splitNameBody(email) })
    expect(first.status, first.text).toBe(201)
    const upper = await call(REGISTER, { body: splitNameBody(email.toUpperCase()) })
    expectErrorEnvelope(upper, 409, 'EMAIL_ALREADY_EXISTS')
  })

  it('two concurrent registrations of one email: exactly one account', async () => {
    const email = uniqueEmail('race')
    const results = await Promise.all([call(REGISTER, { body: splitNameBody(email) }), call(REGISTER, { body: splitNameBody(email) })])
    const all = results.map((r) => `${r.status} ${r.text}`).join('\n')
    expect(results.filter((r) => r.status === 201).length, all).toBe(1)
    for (const r of results) if (r.status !== 201) expectErrorEnvelope(r, 409, 'EMAIL_ALREADY_EXISTS')
    const count = await env.DB.prepare('SELECT COUNT(*) AS n FROM users WHERE email = ?').bind(email).first<{ n: number }>()
    expect(count?.n, all).toBe(1)
  })

  it('writes no second session or mail for a refused duplicate', async () => {
    const email = uniqueEmail('dupmail')
    const first = await call(REGISTER, { body: splitNameBody(email) })
    expect(first.status, first.text).toBe(201)
    const second = await call(REGISTER, { body: splitNameBody(email) })
    expectErrorEnvelope(second, 409, 'EMAIL_ALREADY_EXISTS')
    expect((await mailsTo(email, 'verify_email')).length, second.text).toBe(1)
  })

  describe('validation', () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['a malformed email', { email: 'not-an-email' }, 'email'],
      ['a missing email', { email: undefined }, 'email'],
      ['a password shorter than 8 characters', { password: 'abc1' }, 'password'],
      ['a password without a digit', { password: 'NoDigitsHere!' }, 'password'],
      ['a password without a letter', { password: '1234567890' }, 'password'],
      ['a missing password', { password: undefined }, 'password'],
      ['neither firstName nor name', { firstName: undefined, lastName: undefined }, 'firstName'],
      ['an empty firstName and no name', { firstName: '' }, 'firstName'],
      ['acceptTerms: false', { acceptTerms: false }, 'acceptTerms'],
    ]
    for (const [what, patch, field] of cases) {
      it(`refuses ${what} with 400 VALIDATION_ERROR naming ${field}`, async () => {
        const email = uniqueEmail('invalid')
        const res = await call(REGISTER, { body: { ...splitNameBody(email), ...patch } })
        expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
        expect(issueFields(res), res.text).toContain(field)
        const row = await env.DB.prepare('SELECT id FROM users WHERE email = ?').bind(email).first()
        expect(row, res.text).toBeNull()
      })
    }

    it('refuses a malformed JSON body with 400 VALIDATION_ERROR', async () => {
      const res = await call(REGISTER, {
        method: 'POST',
        rawBody: '{"email": "broken@example.com", "password": ',
        headers: { 'content-type': 'application/json' },
      })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    })

    it('refuses a body that is not an object with 400 VALIDATION_ERROR', async () => {
      const res = await call(REGISTER, { body: ['nope'] })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    })
  })

  it('mails a verification link with a token to the new address', async () => {
    const email = uniqueEmail('mail')
    const res = await call(REGISTER, { body: splitNameBody(email) })
    expect(res.status, res.text).toBe(201)
    const mails = await mailsTo(email, 'verify_email')
    expect(mails.length, res.text).toBe(1)
    expect(mails[0]!.user_id, res.text).toBe(res.body.data.user.id)
    expect(mails[0]!.text, res.text).toContain(`${env.APP_URL}/verify-email?token=`)
    const token = await mailedToken(email, 'verify_email')
    expect(token.length, mails[0]!.text).toBeGreaterThanOrEqual(32)
    // Stored hashed, never in clear.
    const clear = await env.DB.prepare('SELECT id FROM auth_tokens WHERE token_hash = ?').bind(token).first()
    expect(clear, mails[0]!.text).toBeNull()
  })

  it('stores the refresh token hashed, never in clear', async () => {
    const res = await call(REGISTER, { body: splitNameBody() })
    expect(res.status, res.text).toBe(201)
    const clear = await env.DB.prepare('SELECT id FROM refresh_tokens WHERE token_hash = ?').bind(res.body.data.tokens.refreshToken).first()
    expect(clear, res.text).toBeNull()
    const rows = await env.DB.prepare('SELECT COUNT(*) AS n FROM refresh_tokens WHERE user_id = ?').bind(res.body.data.user.id).first<{ n: number }>()
    expect(rows?.n, res.text).toBe(1)
  })
})

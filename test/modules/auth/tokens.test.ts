/**
 * Access tokens crafted by hand with jose: only an HS256 token signed with our secret and carrying
 * our iss, aud, exp, iat, sub, sid and role, for a live session of its subject, is accepted.
 */
import { env } from 'cloudflare:test'
import { decodeJwt, decodeProtectedHeader, SignJWT, UnsecuredJWT, type JWTPayload } from 'jose'
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { jwtSettings, me } from './helpers'

const now = () => Math.floor(Date.now() / 1000)

interface Craft {
  claims?: Record<string, unknown>
  omit?: Array<'sub' | 'sid' | 'role' | 'iat' | 'exp' | 'iss' | 'aud'>
  alg?: 'HS256' | 'HS384' | 'HS512'
  secret?: string
}

async function latestSessionId(userId: string): Promise<string> {
  const row = await env.DB.prepare('SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL ORDER BY rowid DESC LIMIT 1').bind(userId).first<{ id: string }>()
  if (!row) throw new Error(`no live session for ${userId}`)
  return row.id
}

/** A token for `u` with every required claim, minus `omit`, plus `claims` overrides. */
async function craft(u: TestUser, opts: Craft = {}): Promise<string> {
  const s = jwtSettings()
  const iat = now()
  const payload: JWTPayload & Record<string, unknown> = {
    sub: u.id,
    sid: await latestSessionId(u.id),
    role: 'user',
    iat,
    exp: iat + 600,
    iss: s.issuer,
    aud: s.audience,
    ...opts.claims,
  }
  for (const k of opts.omit ?? []) delete payload[k]
  const key = opts.secret ? new TextEncoder().encode(opts.secret) : s.secret
  return new SignJWT(payload).setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' }).sign(key)
}

describe('access tokens', () => {
  it('issued tokens are HS256 with the configured iss, aud and lifetime', async () => {
    const u = await registerUser()
    expect(decodeProtectedHeader(u.accessToken).alg).toBe('HS256')
    const c = decodeJwt(u.accessToken)
    expect(c.iss).toBe(env.JWT_ISSUER)
    expect(c.aud).toBe(env.JWT_AUDIENCE)
    expect(c.sub).toBe(u.id)
    expect(c.role).toBe('user')
    expect(c.sid).toBe(await latestSessionId(u.id))
    expect(c.exp! - c.iat!).toBe(Number(env.ACCESS_TOKEN_TTL_SECONDS))
  })

  it('a correctly crafted token for a real user and session is accepted', async () => {
    const u = await registerUser()
    const token = await craft(u)
    const res = await me(token)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.id, res.text).toBe(u.id)
  })

  const refused: Array<[string, Craft | ((u: TestUser) => Promise<string>), string]> = [
    ['an expired token', { claims: { iat: now() - 3600, exp: now() - 60 } }, 'TOKEN_EXPIRED'],
    ['a token signed with another secret', { secret: 'another-secret-0123456789abcdefghijklmnopq' }, 'INVALID_TOKEN'],
    [
      'an expired token signed with another secret (the signature is checked first)',
      { secret: 'another-secret-0123456789abcdefghijklmnopq', claims: { iat: now() - 3600, exp: now() - 60 } },
      'INVALID_TOKEN',
    ],
    ['an HS512 token signed with our secret (HS256 is pinned)', { alg: 'HS512' }, 'INVALID_TOKEN'],
    ['an HS384 token signed with our secret (HS256 is pinned)', { alg: 'HS384' }, 'INVALID_TOKEN'],
    ['a token without exp', { omit: ['exp'] }, 'INVALID_TOKEN'],
    ['a token without iss', { omit: ['iss'] }, 'INVALID_TOKEN'],
    ['a token without aud', { omit: ['aud'] }, 'INVALID_TOKEN'],
    ['a token without iat', { omit: ['iat'] }, 'INVALID_TOKEN'],
    ['a token without sub', { omit: ['sub'] }, 'INVALID_TOKEN'],
    ['a token without sid', { omit: ['sid'] }, 'INVALID_TOKEN'],
    ['a token without role', { omit: ['role'] }, 'INVALID_TOKEN'],
    ['a token with a wrong iss', { claims: { iss: 'https://evil.example' } }, 'INVALID_TOKEN'],
    ['a token with a wrong aud', { claims: { aud: 'some-other-api' } }, 'INVALID_TOKEN'],
    ['a token not valid before a future time', { claims: { nbf: now() + 3600 } }, 'INVALID_TOKEN'],
    ['a token for a session that does not exist', { claims: { sid: 'ses_00000000000000000000000000' } }, 'INVALID_TOKEN'],
    ['a token for a user that does not exist', { claims: { sub: 'usr_00000000000000000000000000' } }, 'INVALID_TOKEN'],
    [
      'an alg none token',
      async (u) => {
        const s = jwtSettings()
        return new UnsecuredJWT({ sid: await latestSessionId(u.id), role: 'user' }).setSubject(u.id).setIssuer(s.issuer).setAudience(s.audience).setIssuedAt().setExpirationTime('10m').encode()
      },
      'INVALID_TOKEN',
    ],
    [
      'an alg none token made from a valid one (signature stripped)',
      async (u) => {
        const [, payload] = u.accessToken.split('.')
        const header = btoa(JSON.stringify({ alg: 'none', typ: 'JWT' }))
          .replace(/=+$/, '')
          .replace(/\+/g, '-')
          .replace(/\//g, '_')
        return `${header}.${payload}.`
      },
      'INVALID_TOKEN',
    ],
    ['a garbage string', async () => 'garbage.garbage.garbage', 'INVALID_TOKEN'],
    ['a random word', async () => 'hello', 'INVALID_TOKEN'],
    [
      'a valid token with one payload character changed',
      async (u) => {
        const [h, p, sig] = u.accessToken.split('.')
        const tampered = p!.slice(0, -2) + (p!.at(-2) === 'A' ? 'B' : 'A') + p!.at(-1)
        return `${h}.${tampered}.${sig}`
      },
      'INVALID_TOKEN',
    ],
  ]

  for (const [what, how, code] of refused) {
    it(`refuses ${what} with 401 ${code}`, async () => {
      const u = await registerUser()
      const token = typeof how === 'function' ? await how(u) : await craft(u, how)
      const res = await me(token)
      expectErrorEnvelope(res, 401, code)
      // The user's real token still works: the refusal is about the token, not the account.
      const ok = await me(u.accessToken)
      expect(ok.status, ok.text).toBe(200)
    })
  }

  it("refuses a token naming another user's session", async () => {
    const a = await registerUser()
    const b = await registerUser()
    const token = await craft(a, { claims: { sid: await latestSessionId(b.id) } })
    expectErrorEnvelope(await me(token), 401, 'INVALID_TOKEN')
  })

  it('takes the role from the account, not from the token', async () => {
    const u = await registerUser()
    const token = await craft(u, { claims: { role: 'admin' } })
    const res = await me(token)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.role, res.text).toBe('user')
    const admin = await call('/api/v1/admin/users', { token })
    expectErrorEnvelope(admin, 403, 'FORBIDDEN')
  })
})

import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, PASSWORD, registerAdmin, registerUser, type TestUser } from '../../helpers/api'
import { auditRowsFor, emailsFor, userRow } from '../../helpers/db'

/** The user's session and API key both work (200 on /auth/me). */
async function expectAccess(u: TestUser, key: string, why: string) {
  const byToken = await call('/api/v1/auth/me', { token: u.accessToken })
  expect(byToken.status, `${why} (token): ${byToken.text}`).toBe(200)
  const byKey = await call('/api/v1/auth/me', { apiKey: key })
  expect(byKey.status, `${why} (key): ${byKey.text}`).toBe(200)
}

/** The user's session and API key are both refused with 403 FORBIDDEN. */
async function expectRefused(u: TestUser, key: string, status: string) {
  for (const res of [
    await call('/api/v1/auth/me', { token: u.accessToken }),
    await call('/api/v1/auth/me', { apiKey: key }),
    await call('/api/v1/auth/me', { headers: { authorization: `Bearer ${key}` } }),
    await call(`/api/v1/auth/me?api_key=${key}`),
    await call('/api/v1/api-keys', { token: u.accessToken }),
  ]) {
    expectErrorEnvelope(res, 403, 'FORBIDDEN')
    expect(res.body.error.details?.status, res.text).toBe(status)
  }
}

describe('PUT …/users/{id}/suspend', () => {
  it("refuses the user's existing access token and API key with 403 FORBIDDEN on the very next request", async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = await createApiKey(u, ['*'])
    await expectAccess(u, key.key, 'before suspension')

    const res = await call(`/api/v1/admin/users/${u.id}/suspend`, {
      method: 'PUT',
      token: admin.accessToken,
      body: { reason: 'Suspicious activity', notifyUser: false },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ id: u.id, status: 'suspended', isActive: false, statusReason: 'Suspicious activity', suspendedUntil: null })

    await expectRefused(u, key.key, 'suspended')
    const me = await call('/api/v1/auth/me', { token: u.accessToken })
    expect(me.body.error.details.reason).toBe('Suspicious activity')

    // login and refresh are refused too
    const login = await call('/api/v1/auth/login', { body: { email: u.email, password: PASSWORD } })
    expectErrorEnvelope(login, 403, 'FORBIDDEN')
    const refresh = await call('/api/v1/auth/refresh', { body: { refreshToken: u.refreshToken } })
    expectErrorEnvelope(refresh, 403, 'FORBIDDEN')

    const row = await userRow(u.id)
    expect(row).toMatchObject({ status: 'suspended', status_reason: 'Suspicious activity', suspended_until: null })
    expect(await emailsFor(u.id, 'account_notice'), 'no mail without notifyUser').toEqual([])
  })

  it('works at the seed-000 prefix too', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await call(`/api/admin/users/${u.id}/suspend`, { method: 'PUT', token: admin.accessToken, body: { reason: 'spam reports' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status).toBe('suspended')
    expectErrorEnvelope(await call('/api/v1/auth/me', { token: u.accessToken }), 403, 'FORBIDDEN')
  })

  it('with notifyUser a mail lands in the emails table', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await call(`/api/v1/admin/users/${u.id}/suspend`, {
      method: 'PUT',
      token: admin.accessToken,
      body: { reason: 'Unpaid invoices', duration: 7, notifyUser: true },
    })
    expect(res.status, res.text).toBe(200)
    const mails = await emailsFor(u.id, 'account_notice')
    expect(mails, JSON.stringify(mails)).toHaveLength(1)
    expect(mails[0]!.to).toBe(u.email)
    expect(mails[0]!.subject).toMatch(/suspended/i)
    expect(mails[0]!.text).toContain('Unpaid invoices')
    expect(mails[0]!.text).toContain(res.body.data.suspendedUntil)
  })

  it('with a duration: suspendedUntil is that many days ahead, and once it has passed the user is let in again', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = await createApiKey(u, ['account:read'])
    const t0 = Date.now()
    const res = await call(`/api/v1/admin/users/${u.id}/suspend`, {
      method: 'PUT',
      token: admin.accessToken,
      body: { reason: 'Cooling-off period', duration: 3, notifyUser: false },
    })
    expect(res.status, res.text).toBe(200)
    const until = Date.parse(res.body.data.suspendedUntil)
    expect(until - t0).toBeGreaterThanOrEqual(3 * 86_400_000 - 5_000)
    expect(until - t0).toBeLessThanOrEqual(3 * 86_400_000 + 5_000)
    expect((await userRow(u.id))!.suspended_until).toBe(until)
    await expectRefused(u, key.key, 'suspended')

    await env.DB.prepare('UPDATE users SET suspended_until = ? WHERE id = ?')
      .bind(Date.now() - 1000, u.id)
      .run()
    await expectAccess(u, key.key, 'after the suspension ended')
    const login = await call('/api/v1/auth/login', { body: { email: u.email, password: PASSWORD } })
    expect(login.status, login.text).toBe(200)

    const details = await call(`/api/v1/admin/users/${u.id}`, { token: admin.accessToken })
    expect(details.status, details.text).toBe(200)
    expect(details.body.data.user.status).toBe('active')
  })

  it('refuses an invalid body with 400 VALIDATION_ERROR naming the field, and changes nothing', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const cases: [unknown, string][] = [
      [{ notifyUser: true }, 'reason'],
      [{ reason: 'no' }, 'reason'],
      [{ reason: '   ab   ' }, 'reason'],
      [{ reason: 'x'.repeat(501) }, 'reason'],
      [{ reason: 42 }, 'reason'],
      [{ reason: 'valid reason', duration: 0 }, 'duration'],
      [{ reason: 'valid reason', duration: 1.5 }, 'duration'],
      [{ reason: 'valid reason', duration: '7' }, 'duration'],
      [{ reason: 'valid reason', notifyUser: 'yes' }, 'notifyUser'],
    ]
    for (const [body, field] of cases) {
      const res = await call(`/api/v1/admin/users/${u.id}/suspend`, { method: 'PUT', token: admin.accessToken, body })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(
        res.body.error.details.map((d: { field: string }) => d.field),
        `${JSON.stringify(body)} → ${res.text}`,
      ).toContain(field)
    }
    const noBody = await call(`/api/v1/admin/users/${u.id}/suspend`, { method: 'PUT', token: admin.accessToken })
    expectErrorEnvelope(noBody, 400, 'VALIDATION_ERROR')
    const notJson = await call(`/api/v1/admin/users/${u.id}/suspend`, {
      method: 'PUT',
      token: admin.accessToken,
      rawBody: '{"reason": ',
      headers: { 'content-type': 'application/json' },
    })
    expectErrorEnvelope(notJson, 400, 'VALIDATION_ERROR')
    expect((await userRow(u.id))!.status).toBe('active')
  })

  it('refuses to turn a ban into a suspension (409 USER_BANNED), and the ban stays', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const ban = await call(`/api/v1/admin/users/${u.id}/ban`, { token: admin.accessToken, body: { reason: 'Fraud confirmed' } })
    expect(ban.status, ban.text).toBe(200)
    const res = await call(`/api/v1/admin/users/${u.id}/suspend`, {
      method: 'PUT',
      token: admin.accessToken,
      body: { reason: 'Try to shorten the ban', duration: 1 },
    })
    expectErrorEnvelope(res, 409, 'USER_BANNED')
    const row = await userRow(u.id)
    expect(row?.status).toBe('banned')
    expect(row?.suspended_until ?? null).toBeNull()
  })

  it('an unknown user → 404 NOT_FOUND', async () => {
    const admin = await registerAdmin()
    const res = await call('/api/v1/admin/users/usr_doesnotexist00000000000000/suspend', { method: 'PUT', token: admin.accessToken, body: { reason: 'whatever it is' } })
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
  })
})

describe('PUT …/users/{id}/reactivate', () => {
  it('restores access to the existing token and key after a suspension', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = await createApiKey(u, ['account:read'])
    const s = await call(`/api/v1/admin/users/${u.id}/suspend`, { method: 'PUT', token: admin.accessToken, body: { reason: 'pending review' } })
    expect(s.status, s.text).toBe(200)
    await expectRefused(u, key.key, 'suspended')

    const r = await call(`/api/v1/admin/users/${u.id}/reactivate`, { method: 'PUT', token: admin.accessToken, body: { reason: 'review passed' } })
    expect(r.status, r.text).toBe(200)
    expect(r.body.data).toMatchObject({ id: u.id, status: 'active', isActive: true, statusReason: null, suspendedUntil: null })
    await expectAccess(u, key.key, 'after reactivation')
  })

  it('lifts a ban too (seed-000 prefix)', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = await createApiKey(u, ['account:read'])
    const b = await call(`/api/admin/users/${u.id}/ban`, { method: 'POST', token: admin.accessToken, body: { reason: 'mistaken fraud flag' } })
    expect(b.status, b.text).toBe(200)
    await expectRefused(u, key.key, 'banned')
    const r = await call(`/api/admin/users/${u.id}/reactivate`, { method: 'PUT', token: admin.accessToken, body: { reason: 'false positive' } })
    expect(r.status, r.text).toBe(200)
    await expectAccess(u, key.key, 'after the ban was lifted')
  })

  it('needs a reason', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await call(`/api/v1/admin/users/${u.id}/reactivate`, { method: 'PUT', token: admin.accessToken, body: {} })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.body.error.field, res.text).toBe('reason')
  })
})

describe('POST …/users/{id}/ban', () => {
  it('blocks the existing token, the API key and login (403)', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = await createApiKey(u, ['*'])
    await expectAccess(u, key.key, 'before the ban')

    const res = await call(`/api/v1/admin/users/${u.id}/ban`, { method: 'POST', token: admin.accessToken, body: { reason: 'Fraudulent payments' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ id: u.id, status: 'banned', isActive: false, statusReason: 'Fraudulent payments', suspendedUntil: null })

    await expectRefused(u, key.key, 'banned')
    const login = await call('/api/v1/auth/login', { body: { email: u.email, password: PASSWORD } })
    expectErrorEnvelope(login, 403, 'FORBIDDEN')
    expect(login.text).not.toContain('accessToken')
    const wrongPassword = await call('/api/v1/auth/login', { body: { email: u.email, password: 'Wrong-Password-1' } })
    expectErrorEnvelope(wrongPassword, 401, 'INVALID_CREDENTIALS')
    expect(await emailsFor(u.id, 'account_notice')).toEqual([])
  })

  it('a ban replaces a timed suspension: it does not end when the suspension would have', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const s = await call(`/api/v1/admin/users/${u.id}/suspend`, { method: 'PUT', token: admin.accessToken, body: { reason: 'first strike', duration: 1 } })
    expect(s.status, s.text).toBe(200)
    const b = await call(`/api/v1/admin/users/${u.id}/ban`, { method: 'POST', token: admin.accessToken, body: { reason: 'second strike' } })
    expect(b.status, b.text).toBe(200)
    expect(b.body.data.suspendedUntil).toBeNull()
    await env.DB.prepare('UPDATE users SET suspended_until = ? WHERE id = ?')
      .bind(Date.now() - 1000, u.id)
      .run()
    expectErrorEnvelope(await call('/api/v1/auth/me', { token: u.accessToken }), 403, 'FORBIDDEN')
  })

  it('with notifyUser mails the user', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await call(`/api/admin/users/${u.id}/ban`, { method: 'POST', token: admin.accessToken, body: { reason: 'Terms violation', notifyUser: true } })
    expect(res.status, res.text).toBe(200)
    const mails = await emailsFor(u.id, 'account_notice')
    expect(mails, JSON.stringify(mails)).toHaveLength(1)
    expect(mails[0]!.to).toBe(u.email)
    expect(mails[0]!.text).toContain('Terms violation')
  })

  it('works with no body at all, at both prefixes: the reason is optional', async () => {
    const admin = await registerAdmin()
    for (const prefix of ['/api/admin/users', '/api/v1/admin/users']) {
      const u = await registerUser()
      const key = await createApiKey(u, ['*'])
      const res = await call(`${prefix}/${u.id}/ban`, { method: 'POST', token: admin.accessToken })
      expect(res.status, `${prefix}: ${res.text}`).toBe(200)
      expect(res.body.data, res.text).toMatchObject({ id: u.id, status: 'banned', isActive: false, statusReason: null, suspendedUntil: null })
      await expectRefused(u, key.key, 'banned')
      expect((await userRow(u.id))!).toMatchObject({ status: 'banned', status_reason: null })
      const [audit] = await auditRowsFor(u.id)
      expect(audit, 'audit row').toMatchObject({ action: 'user.banned', details: { reason: null } })
      expect(await emailsFor(u.id, 'account_notice')).toEqual([])
    }
  })

  it('takes an empty body, with or without Content-Type: application/json, and {} or {notifyUser} alone', async () => {
    const admin = await registerAdmin()
    const variants: { headers?: Record<string, string>; rawBody?: string; body?: unknown }[] = [
      { headers: { 'content-type': 'application/json' } },
      { headers: { 'content-type': 'application/json' }, rawBody: '  ' },
      { body: {} },
      { body: { notifyUser: true } },
    ]
    for (const v of variants) {
      const u = await registerUser()
      const res = await call(`/api/v1/admin/users/${u.id}/ban`, { method: 'POST', token: admin.accessToken, ...v })
      expect(res.status, `${JSON.stringify(v)}: ${res.text}`).toBe(200)
      expect(res.body.data, res.text).toMatchObject({ status: 'banned', statusReason: null })
    }
  })

  it('with notifyUser and no reason, the mail names no reason', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await call(`/api/admin/users/${u.id}/ban`, { method: 'POST', token: admin.accessToken, body: { notifyUser: true } })
    expect(res.status, res.text).toBe(200)
    const mails = await emailsFor(u.id, 'account_notice')
    expect(mails, JSON.stringify(mails)).toHaveLength(1)
    expect(mails[0]!.text).not.toMatch(/Reason:/)
  })

  it('refuses a reason that is given but too short, malformed JSON and a non-JSON body (nothing changes)', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const short = await call(`/api/v1/admin/users/${u.id}/ban`, { method: 'POST', token: admin.accessToken, body: { reason: 'x' } })
    expectErrorEnvelope(short, 400, 'VALIDATION_ERROR')
    expect(short.body.error.field, short.text).toBe('reason')
    const malformed = await call(`/api/v1/admin/users/${u.id}/ban`, {
      method: 'POST',
      token: admin.accessToken,
      headers: { 'content-type': 'application/json' },
      rawBody: '{"reason":',
    })
    expectErrorEnvelope(malformed, 400, 'VALIDATION_ERROR')
    const text = await call(`/api/v1/admin/users/${u.id}/ban`, {
      method: 'POST',
      token: admin.accessToken,
      headers: { 'content-type': 'text/plain' },
      rawBody: 'reason: spam',
    })
    expectErrorEnvelope(text, 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect((await userRow(u.id))!.status).toBe('active')
  })

  it('the wrong method is not a ban (PUT …/ban → 404)', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await call(`/api/v1/admin/users/${u.id}/ban`, { method: 'PUT', token: admin.accessToken, body: { reason: 'wrong verb' } })
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
    expect((await userRow(u.id))!.status).toBe('active')
  })
})

import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'

describe('GET /api/v1/admin/emails (the sandbox inbox)', () => {
  it('shows the verification mail of a new account, filtered by recipient, newest first', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await call(`/api/v1/admin/emails?to=${encodeURIComponent(u.email.toUpperCase())}`, { token: admin.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toHaveLength(1)
    const mail = res.body.data[0]
    expect(mail.to).toBe(u.email)
    expect(mail.kind).toBe('verify_email')
    expect(mail.transport).toBe('sandbox')
    expect(mail.text).toMatch(/verify-email\?token=[A-Za-z0-9]+/)
    expect(res.body.pagination, res.text).toMatchObject({ page: 1, total: 1, hasNext: false })
  })

  it('filters by kind and pages', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const forgot = await call('/api/v1/auth/forgot-password', { body: { email: u.email } })
    expect(forgot.status, forgot.text).toBe(200)
    const all = await call(`/api/v1/admin/emails?to=${encodeURIComponent(u.email)}&limit=1`, { token: admin.accessToken })
    expect(all.status, all.text).toBe(200)
    expect(all.body.data[0].kind, all.text).toBe('password_reset')
    expect(all.body.pagination, all.text).toMatchObject({ total: 2, totalPages: 2, hasNext: true })
    const verifies = await call(`/api/v1/admin/emails?to=${encodeURIComponent(u.email)}&kind=verify_email`, { token: admin.accessToken })
    expect(
      verifies.body.data.map((m: { kind: string }) => m.kind),
      verifies.text,
    ).toEqual(['verify_email'])
  })

  it('is for admins only', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await call('/api/v1/admin/emails', { token: u.accessToken }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/v1/admin/emails'), 401, 'UNAUTHORIZED')
  })
})

describe('GET /api/v1/admin/audit-log', () => {
  it('lists admin actions with actor, target and reason, filterable by target and actor', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const suspend = await call(`/api/v1/admin/users/${u.id}/suspend`, {
      method: 'PUT',
      token: admin.accessToken,
      body: { reason: 'Chargeback investigation' },
    })
    expect(suspend.status, suspend.text).toBe(200)
    const res = await call(`/api/v1/admin/audit-log?targetType=user&targetId=${u.id}`, { token: admin.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toHaveLength(1)
    expect(res.body.data[0]).toMatchObject({
      actorId: admin.id,
      actorType: 'user',
      action: 'user.suspended',
      targetType: 'user',
      targetId: u.id,
      details: { reason: 'Chargeback investigation' },
    })
    const byOther = await call(`/api/v1/admin/audit-log?actorId=${u.id}`, { token: admin.accessToken })
    expect(byOther.body.data, byOther.text).toHaveLength(0)
  })

  it('is for admins only, and refuses bad paging', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    expectErrorEnvelope(await call('/api/v1/admin/audit-log', { token: u.accessToken }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/v1/admin/audit-log?limit=1000', { token: admin.accessToken }), 400, 'VALIDATION_ERROR')
  })
})

import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, PASSWORD, registerAdmin, registerUser } from '../../helpers/api'

const STAT_FIELDS = ['totalNumbers', 'activeNumbers', 'totalCalls', 'totalMinutes', 'totalSms', 'totalSpent', 'averageMonthlySpend', 'activeApiKeys', 'activeSessions']

describe('GET /api/(v1/)admin/users/{id}: details', () => {
  it('answers the user, statistics and recent activity at both prefixes', async () => {
    const admin = await registerAdmin()
    const u = await registerUser({ firstName: 'Ada', lastName: 'Lovelace', company: 'Analytical Engines' })
    for (const prefix of ['/api/admin/users', '/api/v1/admin/users']) {
      const res = await call(`${prefix}/${u.id}`, { token: admin.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(res.body.success).toBe(true)
      const { user, statistics, recentActivity } = res.body.data
      expect(user).toMatchObject({
        id: u.id,
        email: u.email,
        firstName: 'Ada',
        lastName: 'Lovelace',
        company: 'Analytical Engines',
        role: 'user',
        status: 'active',
        isActive: true,
        statusReason: null,
        suspendedUntil: null,
      })
      expect(Date.parse(user.updatedAt)).not.toBeNaN()
      expect(res.text).not.toMatch(/password/i)
      expect(Object.keys(statistics).sort()).toEqual([...STAT_FIELDS].sort())
      for (const f of STAT_FIELDS) expect(typeof statistics[f], f).toBe('number')
      expect(Array.isArray(recentActivity)).toBe(true)
      for (const a of recentActivity) {
        expect(typeof a.type).toBe('string')
        expect(typeof a.description).toBe('string')
        expect(Date.parse(a.timestamp)).not.toBeNaN()
      }
    }
  })

  it('counts active API keys (not revoked, not expired) and active sessions (not logged out, not expired)', async () => {
    const admin = await registerAdmin()
    const u = await registerUser() // session 1
    const login = await call('/api/v1/auth/login', { body: { email: u.email, password: PASSWORD } }) // session 2
    expect(login.status, login.text).toBe(200)
    const login2 = await call('/api/v1/auth/login', { body: { email: u.email, password: PASSWORD } }) // session 3
    expect(login2.status, login2.text).toBe(200)

    const keep1 = await createApiKey(u)
    await createApiKey(u, ['account:read'])
    const revoked = await createApiKey(u)
    const expired = await createApiKey(u, ['*'], { expiresAt: new Date(Date.now() + 3600_000).toISOString() })

    const before = await call(`/api/v1/admin/users/${u.id}`, { token: admin.accessToken })
    expect(before.status, before.text).toBe(200)
    expect(before.body.data.statistics.activeApiKeys, before.text).toBe(4)
    expect(before.body.data.statistics.activeSessions, before.text).toBe(3)

    const del = await call(`/api/v1/api-keys/${revoked.id}`, { method: 'DELETE', token: u.accessToken })
    expect(del.status, del.text).toBe(200)
    await env.DB.prepare('UPDATE api_keys SET expires_at = ? WHERE id = ?')
      .bind(Date.now() - 1000, expired.id)
      .run()
    const out = await call('/api/v1/auth/logout', { method: 'POST', token: login.body.data.tokens.accessToken, body: {} })
    expect(out.status, out.text).toBe(200)
    await env.DB.prepare('UPDATE sessions SET expires_at = ? WHERE id = (SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1)')
      .bind(Date.now() - 1000, u.id)
      .run()

    const after = await call(`/api/v1/admin/users/${u.id}`, { token: admin.accessToken })
    expect(after.status, after.text).toBe(200)
    expect(after.body.data.statistics.activeApiKeys, after.text).toBe(2)
    expect(after.body.data.statistics.activeSessions, after.text).toBe(1)
    expect(keep1.id).toBeTruthy()
  })

  it('recent activity shows the audit entries about the user, newest first, with their reasons', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const steps: [string, string, unknown, string][] = [
      ['PUT', 'suspend', { reason: 'chargeback investigation' }, 'user.suspended'],
      ['PUT', 'reactivate', { reason: 'chargeback resolved' }, 'user.reactivated'],
      ['PUT', 'role', { role: 'admin', reason: 'joined support team' }, 'user.role_changed'],
    ]
    for (const [method, action, body] of steps) {
      const res = await call(`/api/v1/admin/users/${u.id}/${action}`, { method, token: admin.accessToken, body })
      expect(res.status, res.text).toBe(200)
      await new Promise((r) => setTimeout(r, 3))
    }
    const res = await call(`/api/admin/users/${u.id}`, { token: admin.accessToken })
    expect(res.status, res.text).toBe(200)
    const activity = res.body.data.recentActivity as { type: string; description: string; timestamp: string }[]
    const audit = activity.filter((a) => a.type !== 'user.login')
    expect(
      audit.map((a) => a.type),
      res.text,
    ).toEqual(['user.role_changed', 'user.reactivated', 'user.suspended'])
    expect(audit[0]!.description).toContain('joined support team')
    expect(audit[1]!.description).toContain('chargeback resolved')
    expect(audit[2]!.description).toContain('chargeback investigation')
    const times = activity.map((a) => Date.parse(a.timestamp))
    expect(times, 'newest first').toEqual([...times].sort((a, b) => b - a))
    expect(
      activity.some((a) => a.type === 'user.login'),
      'the last login is listed',
    ).toBe(true)
    expect(res.body.data.user.role).toBe('admin')

    // another user's entries do not show up here
    const other = await registerUser()
    const otherRes = await call(`/api/admin/users/${other.id}`, { token: admin.accessToken })
    expect(otherRes.status, otherRes.text).toBe(200)
    expect(otherRes.body.data.recentActivity.filter((a: { type: string }) => a.type !== 'user.login')).toEqual([])
  })

  it('an unknown id → 404 NOT_FOUND at both prefixes', async () => {
    const admin = await registerAdmin()
    for (const prefix of ['/api/admin/users', '/api/v1/admin/users']) {
      expectErrorEnvelope(await call(`${prefix}/usr_doesnotexist00000000000000`, { token: admin.accessToken }), 404, 'NOT_FOUND')
    }
  })
})

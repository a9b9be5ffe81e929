import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser, type CallOptions } from '../../helpers/api'
import { auditRowsFor, userRow } from '../../helpers/db'

const PREFIXES = ['/api/admin/users', '/api/v1/admin/users'] as const

/** Every admin user route at one prefix, with a body that would be valid. */
function routes(prefix: string, id: string): [string, CallOptions][] {
  return [
    [prefix, {}],
    [`${prefix}/${id}`, {}],
    [`${prefix}/${id}/suspend`, { method: 'PUT', body: { reason: 'policy violation', notifyUser: false } }],
    [`${prefix}/${id}/reactivate`, { method: 'PUT', body: { reason: 'appeal granted' } }],
    [`${prefix}/${id}/ban`, { method: 'POST', body: { reason: 'fraud detected' } }],
    [`${prefix}/${id}/role`, { method: 'PUT', body: { role: 'admin', reason: 'self promotion' } }],
  ]
}

describe('admin user routes: access', () => {
  it('without credentials → 401 UNAUTHORIZED on every route at both prefixes', async () => {
    const target = await registerUser()
    for (const prefix of PREFIXES) {
      for (const [path, opts] of routes(prefix, target.id)) {
        const res = await call(path, opts)
        try {
          expectErrorEnvelope(res, 401, 'UNAUTHORIZED')
        } catch (e) {
          throw new Error(`${opts.method ?? 'GET'} ${path}: ${(e as Error).message}`)
        }
      }
    }
  })

  it('with a bad token → 401 INVALID_TOKEN', async () => {
    for (const prefix of PREFIXES) {
      expectErrorEnvelope(await call(prefix, { token: 'eyJhbGciOiJub25lIn0.e30.' }), 401, 'INVALID_TOKEN')
    }
  })

  it('a non-admin → 403 FORBIDDEN on every route at both prefixes, and nothing changes', async () => {
    const user = await registerUser()
    const target = await registerUser()
    for (const prefix of PREFIXES) {
      for (const [path, opts] of routes(prefix, target.id)) {
        const res = await call(path, { ...opts, token: user.accessToken })
        try {
          expectErrorEnvelope(res, 403, 'FORBIDDEN')
        } catch (e) {
          throw new Error(`${opts.method ?? 'GET'} ${path}: ${(e as Error).message}`)
        }
      }
    }
    // not even on their own account
    const self = await call(`/api/v1/admin/users/${user.id}/role`, { method: 'PUT', token: user.accessToken, body: { role: 'admin', reason: 'let me in' } })
    expectErrorEnvelope(self, 403, 'FORBIDDEN')
    expect((await userRow(user.id))!.role).toBe('user')
    expect((await userRow(target.id))!).toMatchObject({ role: 'user', status: 'active' })
    expect(await auditRowsFor(target.id)).toEqual([])
    expect(await auditRowsFor(user.id)).toEqual([])
  })

  it('an admin session works at both prefixes', async () => {
    const admin = await registerAdmin()
    const target = await registerUser()
    for (const prefix of PREFIXES) {
      const list = await call(`${prefix}?limit=1`, { token: admin.accessToken })
      expect(list.status, list.text).toBe(200)
      expect(list.body.success).toBe(true)
      const one = await call(`${prefix}/${target.id}`, { token: admin.accessToken })
      expect(one.status, one.text).toBe(200)
      expect(one.body.data.user.id).toBe(target.id)
    }
  })

  it("an admin's API key with 'admin' acts as that admin, and is recorded as an API-key actor", async () => {
    const admin = await registerAdmin()
    const target = await registerUser()
    const key = await createApiKey(admin, ['admin'])
    const res = await call(`/api/admin/users/${target.id}/suspend`, { method: 'PUT', apiKey: key.key, body: { reason: 'automated fraud rule' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status).toBe('suspended')
    const [row] = await auditRowsFor(target.id)
    expect(row, 'audit row').toBeDefined()
    expect(row!.actor_type).toBe('api_key')
    expect(row!.actor_id).toBe(key.id)
    expect(row!.details.actorUserId).toBe(admin.id)
  })

  it("an admin's API key stops working on admin routes once the admin is demoted", async () => {
    const admin = await registerAdmin()
    const other = await registerAdmin()
    const key = await createApiKey(admin, ['*', 'admin'])
    const before = await call('/api/v1/admin/users?limit=1', { apiKey: key.key })
    expect(before.status, before.text).toBe(200)

    const demote = await call(`/api/v1/admin/users/${admin.id}/role`, { method: 'PUT', token: other.accessToken, body: { role: 'user', reason: 'left the ops team' } })
    expect(demote.status, demote.text).toBe(200)
    expect(demote.body.data.role).toBe('user')

    expectErrorEnvelope(await call('/api/v1/admin/users?limit=1', { apiKey: key.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/v1/admin/users?limit=1', { token: admin.accessToken }), 403, 'FORBIDDEN')
    // the key still works where a user may go
    const me = await call('/api/v1/auth/me', { apiKey: key.key })
    expect(me.status, me.text).toBe(200)
  })
})

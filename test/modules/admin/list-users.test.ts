import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, PASSWORD, registerAdmin, registerUser } from '../../helpers/api'
import { sleep } from '../../helpers/db'

const SUMMARY_FIELDS = [
  'id',
  'email',
  'firstName',
  'lastName',
  'company',
  'role',
  'status',
  'isActive',
  'isSuspended',
  'isBanned',
  'emailVerified',
  'totalNumbers',
  'totalOrders',
  'totalSpent',
  'lastLoginAt',
  'createdAt',
]

let tagCounter = 0
/** A string no other test's users contain, to scope `search` to one test's users. */
function uniqueTag() {
  tagCounter += 1
  return `zq${tagCounter}x${Math.random().toString(36).slice(2, 7)}`
}

interface Made {
  id: string
  email: string
}

/** Registers users whose company carries `tag`, one after another (distinct creation instants). */
async function makeUsers(tag: string, specs: { email?: string; firstName?: string; lastName?: string; company?: string }[]): Promise<Made[]> {
  const out: Made[] = []
  for (const [i, spec] of specs.entries()) {
    const email = spec.email ?? `${tag}-${i}@example.com`
    const u = await registerUser({ email, company: `${tag} Corp`, ...spec })
    out.push({ id: u.id, email: email.toLowerCase() })
    await sleep(3)
  }
  return out
}

const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((u) => u.id)

describe('GET /api/admin/users and /api/v1/admin/users: list', () => {
  it('answers AdminUserSummary items with the documented fields', async () => {
    const admin = await registerAdmin()
    const tag = uniqueTag()
    const [u] = await makeUsers(tag, [{ firstName: 'Grace', lastName: 'Hopper', company: `${tag} Navy` }])
    for (const prefix of ['/api/admin/users', '/api/v1/admin/users']) {
      const res = await call(`${prefix}?search=${tag}`, { token: admin.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(res.body.success).toBe(true)
      expect(res.body.data).toHaveLength(1)
      const s = res.body.data[0]
      expect(Object.keys(s).sort(), res.text).toEqual([...SUMMARY_FIELDS].sort())
      expect(s).toMatchObject({
        id: u!.id,
        email: u!.email,
        firstName: 'Grace',
        lastName: 'Hopper',
        company: `${tag} Navy`,
        role: 'user',
        status: 'active',
        isActive: true,
        isSuspended: false,
        isBanned: false,
        emailVerified: false,
        totalNumbers: 0,
        totalOrders: 0,
        totalSpent: 0,
      })
      expect(Date.parse(s.createdAt)).not.toBeNaN()
      expect(Date.parse(s.lastLoginAt)).not.toBeNaN()
      expect(res.text).not.toMatch(/password/i)
    }
  })

  it('paginates with page/limit/total/totalPages/hasNext/hasPrevious, newest first by default', async () => {
    const admin = await registerAdmin()
    const tag = uniqueTag()
    const made = await makeUsers(tag, [{}, {}, {}, {}, {}])
    const newestFirst = made.map((u) => u.id).reverse()

    const p1 = await call(`/api/v1/admin/users?search=${tag}&limit=2`, { token: admin.accessToken })
    expect(p1.status, p1.text).toBe(200)
    expect(ids(p1), p1.text).toEqual(newestFirst.slice(0, 2))
    expect(p1.body.pagination).toEqual({ page: 1, limit: 2, total: 5, totalPages: 3, hasNext: true, hasPrevious: false })

    const p2 = await call(`/api/v1/admin/users?search=${tag}&limit=2&page=2`, { token: admin.accessToken })
    expect(p2.status, p2.text).toBe(200)
    expect(ids(p2), p2.text).toEqual(newestFirst.slice(2, 4))
    expect(p2.body.pagination).toEqual({ page: 2, limit: 2, total: 5, totalPages: 3, hasNext: true, hasPrevious: true })

    const p3 = await call(`/api/admin/users?search=${tag}&limit=2&page=3`, { token: admin.accessToken })
    expect(p3.status, p3.text).toBe(200)
    expect(ids(p3), p3.text).toEqual(newestFirst.slice(4))
    expect(p3.body.pagination).toEqual({ page: 3, limit: 2, total: 5, totalPages: 3, hasNext: false, hasPrevious: true })

    const asc = await call(`/api/admin/users?search=${tag}&sortOrder=asc`, { token: admin.accessToken })
    expect(asc.status, asc.text).toBe(200)
    expect(ids(asc)).toEqual(made.map((u) => u.id))

    // without a filter the list holds every account, the admin included
    const all = await call('/api/v1/admin/users?limit=100', { token: admin.accessToken })
    expect(all.status, all.text).toBe(200)
    const { n } = (await env.DB.prepare('SELECT count(*) AS n FROM users').first<{ n: number }>())!
    expect(all.body.pagination.total).toBe(n)
    expect(ids(all)).toContain(admin.id)
  })

  it('search matches a substring of email, first name, last name or company, case-insensitively', async () => {
    const admin = await registerAdmin()
    const tag = uniqueTag()
    const [byEmail, byFirst, byLast, byCompany] = await makeUsers(tag, [
      { email: `${tag}-Mailmatch@example.com` },
      { firstName: `Firstmatch${tag}` },
      { lastName: `Lastmatch${tag}` },
      { company: `Companymatch ${tag} Ltd` },
    ])
    const cases: [string, string[]][] = [
      [`${tag}-mailMATCH`, [byEmail!.id]],
      [`FIRSTMATCH${tag}`, [byFirst!.id]],
      [`lastmatch${tag.toUpperCase()}`, [byLast!.id]],
      [`companyMatch ${tag}`, [byCompany!.id]],
      [tag.toUpperCase(), [byEmail!.id, byFirst!.id, byLast!.id, byCompany!.id]],
      [`nobody-${tag}`, []],
    ]
    for (const [search, expected] of cases) {
      const res = await call(`/api/v1/admin/users?search=${encodeURIComponent(search)}&limit=100`, { token: admin.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(ids(res).sort(), `search=${search} → ${res.text}`).toEqual([...expected].sort())
      expect(res.body.pagination.total).toBe(expected.length)
    }
  })

  it('search treats % and _ literally', async () => {
    const admin = await registerAdmin()
    const tag = uniqueTag()
    const [underscore] = await makeUsers(tag, [{ company: `${tag}_under` }, { company: `${tag}Xunder` }])
    const res = await call(`/api/v1/admin/users?search=${encodeURIComponent(`${tag}_under`)}`, { token: admin.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(ids(res), res.text).toEqual([underscore!.id])
    const pct = await call(`/api/v1/admin/users?search=${encodeURIComponent(`${tag}%under`)}`, { token: admin.accessToken })
    expect(pct.status, pct.text).toBe(200)
    expect(ids(pct), pct.text).toEqual([])
  })

  it('filters by role: single, repeated and comma-separated', async () => {
    const admin = await registerAdmin()
    const tag = uniqueTag()
    const made = await makeUsers(tag, [{}, {}, {}, {}])
    const admins = made.slice(0, 2).map((u) => u.id)
    const plain = made.slice(2).map((u) => u.id)
    for (const id of admins) await env.DB.prepare(`UPDATE users SET role = 'admin' WHERE id = ?`).bind(id).run()

    const cases: [string, string[]][] = [
      ['role=admin', admins],
      ['role=user', plain],
      ['role=admin&role=user', [...admins, ...plain]],
      ['role=admin,user', [...admins, ...plain]],
      ['role=user,%20admin', [...admins, ...plain]],
    ]
    for (const [query, expected] of cases) {
      const res = await call(`/api/admin/users?search=${tag}&${query}`, { token: admin.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(ids(res).sort(), `${query} → ${res.text}`).toEqual([...expected].sort())
      for (const item of res.body.data) expect(item.role).toBe(admins.includes(item.id) ? 'admin' : 'user')
    }
    for (const bad of ['role=superuser', 'role=admin,root', 'role=admin&role=root']) {
      const res = await call(`/api/admin/users?${bad}`, { token: admin.accessToken })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(JSON.stringify(res.body.error.details), `${bad} → ${res.text}`).toContain('role')
    }
  })

  it('filters by status; a suspension whose end has passed counts as active', async () => {
    const admin = await registerAdmin()
    const tag = uniqueTag()
    const [active, suspended, expired, banned, inactive] = await makeUsers(tag, [{}, {}, {}, {}, {}])
    const set = (id: string, status: string, until: number | null) => env.DB.prepare('UPDATE users SET status = ?, suspended_until = ? WHERE id = ?').bind(status, until, id).run()
    await set(suspended!.id, 'suspended', Date.now() + 86_400_000)
    await set(expired!.id, 'suspended', Date.now() - 1000)
    await set(banned!.id, 'banned', null)
    await set(inactive!.id, 'inactive', null)

    const cases: [string, string[]][] = [
      ['active', [active!.id, expired!.id]],
      ['suspended', [suspended!.id]],
      ['banned', [banned!.id]],
      ['inactive', [inactive!.id]],
    ]
    for (const [status, expected] of cases) {
      const res = await call(`/api/v1/admin/users?search=${tag}&status=${status}`, { token: admin.accessToken })
      expect(res.status, res.text).toBe(200)
      expect(ids(res).sort(), `status=${status} → ${res.text}`).toEqual([...expected].sort())
      for (const item of res.body.data) {
        expect(item.status).toBe(status)
        expect(item.isActive).toBe(status === 'active')
        expect(item.isSuspended).toBe(status === 'suspended')
        expect(item.isBanned).toBe(status === 'banned')
      }
    }
    const bad = await call('/api/v1/admin/users?status=deleted', { token: admin.accessToken })
    expectErrorEnvelope(bad, 400, 'VALIDATION_ERROR')
    expect(bad.body.error.field, bad.text).toBe('status')
  })

  it('sorts by email asc and desc, and by lastLoginAt', async () => {
    const admin = await registerAdmin()
    const tag = uniqueTag()
    const made = await makeUsers(tag, [{ email: `c-${tag}@example.com` }, { email: `A-${tag}@example.com` }, { email: `b-${tag}@example.com` }])
    const byEmail = [...made].sort((x, y) => x.email.localeCompare(y.email)).map((u) => u.id)
    const asc = await call(`/api/v1/admin/users?search=${tag}&sortBy=email&sortOrder=asc`, { token: admin.accessToken })
    expect(asc.status, asc.text).toBe(200)
    expect(
      asc.body.data.map((u: { email: string }) => u.email),
      asc.text,
    ).toEqual([`a-${tag}@example.com`, `b-${tag}@example.com`, `c-${tag}@example.com`])
    expect(ids(asc)).toEqual(byEmail)
    const desc = await call(`/api/admin/users?search=${tag}&sortBy=email&sortOrder=desc`, { token: admin.accessToken })
    expect(desc.status, desc.text).toBe(200)
    expect(ids(desc), desc.text).toEqual([...byEmail].reverse())
    const defaultOrder = await call(`/api/admin/users?search=${tag}&sortBy=email`, { token: admin.accessToken })
    expect(ids(defaultOrder), 'sortOrder defaults to desc').toEqual([...byEmail].reverse())

    // the first-registered user logs in again: now the most recent login
    await sleep(3)
    const login = await call('/api/v1/auth/login', { body: { email: made[0]!.email, password: PASSWORD } })
    expect(login.status, login.text).toBe(200)
    const recent = await call(`/api/v1/admin/users?search=${tag}&sortBy=lastLoginAt&sortOrder=desc`, { token: admin.accessToken })
    expect(recent.status, recent.text).toBe(200)
    expect(ids(recent), recent.text).toEqual([made[0]!.id, made[2]!.id, made[1]!.id])
  })

  it('refuses bad query parameters with 400 VALIDATION_ERROR naming the parameter', async () => {
    const admin = await registerAdmin()
    for (const [query, field] of [
      ['sortBy=password', 'sortBy'],
      ['sortOrder=up', 'sortOrder'],
      ['limit=0', 'limit'],
      ['limit=500', 'limit'],
      ['page=-1', 'page'],
      [`search=${'x'.repeat(101)}`, 'search'],
    ] as const) {
      const res = await call(`/api/admin/users?${query}`, { token: admin.accessToken })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(
        res.body.error.details.map((d: { field: string }) => d.field),
        `${query} → ${res.text}`,
      ).toContain(field)
    }
  })
})

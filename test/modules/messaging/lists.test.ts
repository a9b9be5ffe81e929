/**
 * The messaging lists: `GET /api/v1/messages` with `limit`/`offset` and its pagination
 * `{limit, offset, total, hasMore}` (in `data.pagination` and beside `data`), newest first, filters
 * `status` (`pending` = `queued`), `connector` (type), `from`/`to` (created); and the projects,
 * keys, connectors and templates lists with `limit`/`offset`.
 *
 * Messages are sent on the sandbox (delivered at once); one to an `unavailableRecipients` number stays
 * `queued` while the queue retries it. Rows of other channels and other days are written to D1
 * directly: a Telegram send needs its upstream, and a send cannot be dated in the past.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../../src/lib/ids'
import { type ApiResponse, call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { fund } from '../../helpers/catalog'
import { type MessagingSetup, messagingSetup, sendBody, untilStatus } from '../../helpers/messaging'

const UNAVAILABLE = '+14155550199'
const TELEGRAM_TOKEN = '7012345678:AAF4xq9-Zt_3kLmN0pQrStUvWxYz12345ab'

/** A message row written straight to D1 (a channel or a day a send cannot produce here). */
async function insertMessage(s: MessagingSetup, userId: string, m: { connectorId: string; connectorType: string; status: string; createdAt: string; to?: string }) {
  const id = newId('msg')
  const at = Date.parse(m.createdAt)
  await env.DB.prepare(
    `INSERT INTO messages (id, user_id, project_id, connector_id, connector_type, template_id, "to", text, status, price, metadata, attempts, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'inserted', ?, 0, '{}', 1, ?, ?)`,
  )
    .bind(id, userId, s.projectId, m.connectorId, m.connectorType, s.templateId, m.to ?? '+14155550123', m.status, at, at)
    .run()
  return id
}

function expectPage(res: ApiResponse, p: { limit: number; offset: number; total: number; hasMore: boolean }, count: number) {
  expect(res.status, res.text).toBe(200)
  expect(res.body.data.pagination, res.text).toEqual(p)
  expect(res.body.pagination, res.text).toEqual(p)
  expect(res.body.data.messages, res.text).toHaveLength(count)
}

const ids = (res: ApiResponse, key = 'messages'): string[] => res.body.data[key].map((x: { id: string }) => x.id)

describe('GET /api/v1/messages', () => {
  let u: TestUser
  let s: MessagingSetup
  const sent: string[] = []
  let queued: string
  let telegramOld: string
  let sandboxOld: string

  beforeAll(async () => {
    u = await registerUser()
    await fund(u.id, 1)
    s = await messagingSetup(u, { credentials: { deliverAfterMs: 0, unavailableRecipients: [UNAVAILABLE] } })
    for (let i = 0; i < 5; i++) {
      const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s, { variables: { name: `N${i}`, code: String(i) } }) })
      expect(res.status, res.text).toBe(202)
      sent.push(res.body.data.messageId)
    }
    for (const id of sent) await untilStatus(id, 'delivered')

    const telegram = await call(`/api/v1/projects/${s.projectId}/connectors`, { token: u.accessToken, body: { type: 'telegram', name: 'Bot', credentials: { botToken: TELEGRAM_TOKEN } } })
    expect(telegram.status, telegram.text).toBe(201)
    telegramOld = await insertMessage(s, u.id, { connectorId: telegram.body.data.id, connectorType: 'telegram', status: 'sent', createdAt: '2025-01-10T12:00:00.000Z', to: '123456789' })
    sandboxOld = await insertMessage(s, u.id, { connectorId: s.connectorId, connectorType: 'sandbox', status: 'failed', createdAt: '2025-01-20T08:00:00.000Z' })
    // Last, and checked first below: the queue retries it about once a second until it gives up and fails it.
    const held = await call('/api/v1/messages', { token: s.key, body: sendBody(s, { to: UNAVAILABLE }) })
    expect(held.status, held.text).toBe(202)
    queued = held.body.data.messageId
  })

  const list = (query: string, auth: { token?: string; apiKey?: string } = { apiKey: s.key }) => call(`/api/v1/messages${query}`, auth)

  it('filters by status: pending is queued', async () => {
    for (const status of ['pending', 'queued']) {
      const res = await list(`?status=${status}`)
      expectPage(res, { limit: 50, offset: 0, total: 1, hasMore: false }, 1)
      expect(ids(res)).toEqual([queued])
      expect(res.body.data.messages[0].status).toBe('queued')
    }
    const delivered = await list('?status=delivered&limit=2')
    expectPage(delivered, { limit: 2, offset: 0, total: 5, hasMore: true }, 2)
    expect(new Set(ids(await list('?status=delivered')))).toEqual(new Set(sent))
    expect(ids(await list('?status=failed'))).toEqual([sandboxOld])
    expect(ids(await list('?status=sent'))).toEqual([telegramOld])
    expectPage(await list('?status=read'), { limit: 50, offset: 0, total: 0, hasMore: false }, 0)
  })

  it('pages with limit/offset, newest first; pagination {limit, offset, total, hasMore} in data and beside it', async () => {
    const all = await list('?limit=100')
    expectPage(all, { limit: 100, offset: 0, total: 8, hasMore: false }, 8)
    const everything = ids(all)
    expect(new Set(everything)).toEqual(new Set([...sent, queued, telegramOld, sandboxOld]))
    const created = all.body.data.messages.map((m: { createdAt: string }) => Date.parse(m.createdAt))
    expect(created, all.text).toEqual([...created].sort((a, b) => b - a))
    expect(everything.slice(-2)).toEqual([sandboxOld, telegramOld])

    const pages: string[] = []
    for (const [offset, count, hasMore] of [
      [0, 3, true],
      [3, 3, true],
      [6, 2, false],
    ] as const) {
      const page = await list(`?limit=3&offset=${offset}`)
      expectPage(page, { limit: 3, offset, total: 8, hasMore }, count)
      pages.push(...ids(page))
    }
    expect(pages).toEqual(everything)
    expectPage(await list('?limit=3&offset=8'), { limit: 3, offset: 8, total: 8, hasMore: false }, 0)
    expectPage(await list('?offset=100'), { limit: 50, offset: 100, total: 8, hasMore: false }, 0)
    // The defaults: limit 50, offset 0.
    expectPage(await list(''), { limit: 50, offset: 0, total: 8, hasMore: false }, 8)
    // The account's session names the project and reads the same.
    const viaSession = await list(`?projectId=${s.projectId}&limit=3`, { token: u.accessToken })
    expectPage(viaSession, { limit: 3, offset: 0, total: 8, hasMore: true }, 3)
    expect(ids(viaSession)).toEqual(everything.slice(0, 3))
  })

  it('filters by connector type', async () => {
    const telegram = await list('?connector=telegram')
    expectPage(telegram, { limit: 50, offset: 0, total: 1, hasMore: false }, 1)
    expect(ids(telegram)).toEqual([telegramOld])
    expect(telegram.body.data.messages[0].connectorType).toBe('telegram')
    const sandbox = await list('?connector=sandbox')
    expectPage(sandbox, { limit: 50, offset: 0, total: 7, hasMore: false }, 7)
    expect(sandbox.body.data.messages.every((m: { connectorType: string }) => m.connectorType === 'sandbox')).toBe(true)
    expectPage(await list('?connector=whatsapp'), { limit: 50, offset: 0, total: 0, hasMore: false }, 0)
    // Filters combine.
    expect(ids(await list('?connector=sandbox&status=failed'))).toEqual([sandboxOld])
    expectPage(await list('?connector=telegram&status=delivered'), { limit: 50, offset: 0, total: 0, hasMore: false }, 0)
  })

  it('filters by created time: from (a date is its first instant), to (a date is its whole day)', async () => {
    expect(ids(await list('?to=2025-01-10'))).toEqual([telegramOld])
    expect(ids(await list('?from=2025-01-10&to=2025-01-10'))).toEqual([telegramOld])
    expect(ids(await list('?from=2025-01-11&to=2025-01-31'))).toEqual([sandboxOld])
    expect(ids(await list('?to=2025-01-31'))).toEqual([sandboxOld, telegramOld])
    expect(ids(await list('?from=2025-01-10T12:00:00Z&to=2025-01-10T12:00:00Z'))).toEqual([telegramOld])
    expectPage(await list('?from=2025-01-10T12:00:01Z&to=2025-01-20T07:59:59Z'), { limit: 50, offset: 0, total: 0, hasMore: false }, 0)
    const recent = await list('?from=2025-01-15')
    expectPage(recent, { limit: 50, offset: 0, total: 7, hasMore: false }, 7)
    expect(ids(recent)).not.toContain(telegramOld)
    const today = new Date().toISOString().slice(0, 10)
    expect(new Set(ids(await list(`?from=${today}`)))).toEqual(new Set([...sent, queued]))
    // With the other filters and paging.
    expectPage(await list('?from=2025-01-01&to=2025-01-31&connector=sandbox&limit=1'), { limit: 1, offset: 0, total: 1, hasMore: false }, 1)
  })

  it('refuses bad parameters with 400 VALIDATION_ERROR; a session must name the project', async () => {
    for (const q of ['?limit=0', '?limit=101', '?limit=abc', '?offset=-1', '?status=bogus', '?connector=email', '?from=2025-02-30', '?to=yesterday']) {
      expectErrorEnvelope(await list(q), 400, 'VALIDATION_ERROR')
    }
    const noProject = await list('', { token: u.accessToken })
    expectErrorEnvelope(noProject, 400, 'VALIDATION_ERROR')
    expect(noProject.body.error.field, noProject.text).toBe('projectId')
  })

  // `to` covers its whole day (or instant) and nothing after it.
  it('to is exclusive of the next instant: a message at the next midnight is not in to=<that day>', async () => {
    const boundary = await insertMessage(s, u.id, { connectorId: s.connectorId, connectorType: 'sandbox', status: 'failed', createdAt: '2025-01-11T00:00:00.000Z' })
    const justAfter = await insertMessage(s, u.id, { connectorId: s.connectorId, connectorType: 'sandbox', status: 'failed', createdAt: '2025-01-10T12:00:00.001Z' })
    try {
      expect(ids(await list('?to=2025-01-10'))).not.toContain(boundary)
      expect(ids(await list('?to=2025-01-10T12:00:00Z'))).not.toContain(justAfter)
    } finally {
      await env.DB.prepare('DELETE FROM messages WHERE id IN (?, ?)').bind(boundary, justAfter).run()
    }
  })
})

describe('projects, keys, connectors and templates lists', () => {
  /** Pages of `path` with limit 2: each page's pagination, the union in order, and the full list. */
  async function walk(u: TestUser, path: string, key: string, total: number) {
    const full = await call(`${path}?limit=100`, { token: u.accessToken })
    expect(full.status, full.text).toBe(200)
    expect(full.body.pagination, full.text).toEqual({ limit: 100, offset: 0, total, hasMore: false })
    const everything = ids(full, key)
    expect(everything).toHaveLength(total)
    const seen: string[] = []
    for (let offset = 0; offset < total + 2; offset += 2) {
      const page = await call(`${path}?limit=2&offset=${offset}`, { token: u.accessToken })
      expect(page.status, page.text).toBe(200)
      expect(page.body.pagination, page.text).toEqual({ limit: 2, offset, total, hasMore: offset + 2 < total })
      expect(page.body.data[key], page.text).toHaveLength(Math.max(0, Math.min(2, total - offset)))
      seen.push(...ids(page, key))
    }
    expect(seen).toEqual(everything)
    const defaults = await call(path, { token: u.accessToken })
    expect(defaults.body.pagination, defaults.text).toEqual({ limit: 50, offset: 0, total, hasMore: false })
    for (const q of ['?limit=0', '?limit=101', '?offset=-1']) expectErrorEnvelope(await call(`${path}${q}`, { token: u.accessToken }), 400, 'VALIDATION_ERROR')
    return everything
  }

  it('projects: limit/offset over the account, deleted ones not counted', async () => {
    const u = await registerUser()
    const made: string[] = []
    for (let i = 0; i < 4; i++) made.push((await call('/api/v1/projects', { token: u.accessToken, body: { name: `P${i}` } })).body.data.id)
    expect(new Set(await walk(u, '/api/v1/projects', 'projects', 4))).toEqual(new Set(made))
    expect((await call(`/api/v1/projects/${made[1]}`, { token: u.accessToken, method: 'DELETE' })).status).toBe(204)
    expect(new Set(await walk(u, '/api/v1/projects', 'projects', 3))).toEqual(new Set(made.filter((_, i) => i !== 1)))
    // Another account's projects are not counted.
    const other = await registerUser()
    await call('/api/v1/projects', { token: other.accessToken, body: { name: 'Theirs' } })
    expect((await call('/api/v1/projects', { token: u.accessToken })).body.pagination.total).toBe(3)
  })

  it('keys, connectors and templates: limit/offset within the project; revoked and deleted ones not counted', async () => {
    const u = await registerUser()
    const s = await messagingSetup(u)
    const t = { token: u.accessToken }
    const p = `/api/v1/projects/${s.projectId}`
    const keys = [s.keyId]
    const connectors = [s.connectorId]
    const templates = [s.templateId]
    for (let i = 0; i < 4; i++) {
      keys.push((await call(`${p}/keys`, { ...t, body: { name: `K${i}` } })).body.data.id)
      connectors.push((await call(`${p}/connectors`, { ...t, body: { type: 'sandbox', name: `C${i}`, credentials: {} } })).body.data.id)
      templates.push((await call(`${p}/templates`, { ...t, body: { name: `T${i}`, connectorType: 'sandbox', content: `Hi ${i}`, variables: [] } })).body.data.id)
    }
    expect(new Set(await walk(u, `${p}/keys`, 'keys', 5))).toEqual(new Set(keys))
    expect(new Set(await walk(u, `${p}/connectors`, 'connectors', 5))).toEqual(new Set(connectors))
    expect(new Set(await walk(u, `${p}/templates`, 'templates', 5))).toEqual(new Set(templates))

    expect((await call(`${p}/keys/${keys[2]}`, { ...t, method: 'DELETE' })).status).toBe(204)
    expect((await call(`${p}/connectors/${connectors[2]}`, { ...t, method: 'DELETE' })).status).toBe(204)
    expect((await call(`${p}/templates/${templates[2]}`, { ...t, method: 'DELETE' })).status).toBe(204)
    expect(await walk(u, `${p}/keys`, 'keys', 4)).not.toContain(keys[2])
    expect(await walk(u, `${p}/connectors`, 'connectors', 4)).not.toContain(connectors[2])
    expect(await walk(u, `${p}/templates`, 'templates', 4)).not.toContain(templates[2])

    // Another project's items are not in this one's lists.
    const other = await messagingSetup(u)
    const totals = await Promise.all(['keys', 'connectors', 'templates'].map(async (k) => (await call(`${p}/${k}`, t)).body.pagination.total))
    expect(totals).toEqual([4, 4, 4])
    expect(ids(await call(`/api/v1/projects/${other.projectId}/connectors`, t), 'connectors')).toEqual([other.connectorId])
  })
})

/**
 * Who may reach what in the messaging API: another account's projects, keys, connectors, templates
 * and messages are 404 on every route (never 403, which would say they exist); a project key
 * (`pk_…`) may only send and read its own project's messages (403 `ACCESS_DENIED` on every other
 * route, 404 for another project's connector, template or message); deleting a project or revoking
 * a key stops the key at once, even with the per-isolate key cache on; a key is shown once and
 * stored hashed.
 */
import { env } from 'cloudflare:test'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../../src/app'
import { sha256Hex } from '../../../src/lib/crypto'
import { API_KEY_CACHE_TTL_MS, apiKeyCache } from '../../../src/modules/auth/authn.service'
import { type ApiResponse, call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { fund } from '../../helpers/catalog'
import { messageRow, messagingSetup, sendBody, untilStatus } from '../../helpers/messaging'

/** A 404 with exactly this code (the body in the failure message). */
function expect404(res: ApiResponse, code: string, what: string) {
  expect(`${what}: ${res.status} ${res.body?.error?.code}`, res.text).toBe(`${what}: 404 ${code}`)
  expectErrorEnvelope(res, 404, code)
}

async function sendOne(key: string, s: Parameters<typeof sendBody>[0], extra: Record<string, unknown> = {}) {
  const res = await call('/api/v1/messages', { token: key, body: sendBody(s, extra) })
  expect(res.status, res.text).toBe(202)
  return res.body.data.messageId as string
}

/**
 * `key` on every registered route that refuses a request without credentials (401 UNAUTHORIZED), except the
 * three messages routes: the answers. Path parameters get a dummy id; bodies are `{}`.
 */
async function projectKeyOnEveryRoute(key: string) {
  const app = createApp()
  // Counting is not what this checks: every class high, so a few hundred calls of one key are not 429.
  const limits = Object.fromEntries(['general', 'purchase', 'admin', 'public', 'search', 'messages', 'sims_hourly'].map((k) => [k, { limit: 1_000_000 }]))
  const overrides = { RATE_LIMITS: JSON.stringify(limits) }
  const allowed = new Set(['POST /api/v1/messages', 'GET /api/v1/messages', 'GET /api/v1/messages/:id'])
  const seen = new Set<string>()
  const answers: { route: string; status: number; code: string; text: string }[] = []
  for (const r of app.routes) {
    if (r.method === 'ALL' || r.method === 'OPTIONS' || r.method === 'HEAD') continue
    const route = `${r.method} ${r.path}`
    if (seen.has(route) || allowed.has(route)) continue
    seen.add(route)
    const path = r.path.replace(/:(\w+)(\{[^}]*\})?/g, 'x_probe_1').replace(/\*/g, 'x')
    const body = ['POST', 'PUT', 'PATCH'].includes(r.method) ? {} : undefined
    // A route that a request without credentials reaches is public: a key changes nothing there.
    const anonymous = await callApp(path, { app, env: overrides, method: r.method, body })
    if (anonymous.status !== 401 || anonymous.body?.error?.code !== 'UNAUTHORIZED') continue
    const res = await callApp(path, { app, env: overrides, method: r.method, body, apiKey: key })
    answers.push({ route, status: res.status, code: res.body?.error?.code ?? '', text: res.text.slice(0, 160) })
  }
  return answers
}

afterEach(() => {
  apiKeyCache.ttlMs = null
  apiKeyCache.clear()
})

describe("another account's messaging resources", () => {
  it('are 404 on every route, with the code of what is missing, and stay untouched', async () => {
    const owner = await registerUser()
    const stranger = await registerUser()
    await fund(owner.id, 1)
    const s = await messagingSetup(owner)
    const mine = await messagingSetup(stranger)
    const messageId = await sendOne(s.key, s)
    const t = { token: stranger.accessToken }
    const p = `/api/v1/projects/${s.projectId}`

    // The owner's project path, with the stranger's session: the project is not found, whatever follows it.
    const underTheirProject: [string, string, unknown?][] = [
      ['GET', p],
      ['PUT', p, { name: 'Taken over' }],
      ['DELETE', p],
      ['GET', `${p}/keys`],
      ['POST', `${p}/keys`, { name: 'Mine now' }],
      ['DELETE', `${p}/keys/${s.keyId}`],
      ['GET', `${p}/connectors`],
      ['POST', `${p}/connectors`, { type: 'sandbox', name: 'Mine now', credentials: {} }],
      ['PUT', `${p}/connectors/${s.connectorId}`, { isActive: false }],
      ['DELETE', `${p}/connectors/${s.connectorId}`],
      ['POST', `${p}/connectors/${s.connectorId}/test`],
      ['GET', `${p}/templates`],
      ['POST', `${p}/templates`, { name: 'Mine now', connectorType: 'sandbox', content: 'Hi', variables: [] }],
      ['PUT', `${p}/templates/${s.templateId}`, { name: 'Taken over' }],
      ['DELETE', `${p}/templates/${s.templateId}`],
      ['GET', `/api/v1/messages?projectId=${s.projectId}`],
    ]
    for (const [method, path, body] of underTheirProject) expect404(await call(path, { ...t, method, body }), 'PROJECT_NOT_FOUND', `${method} ${path}`)

    // GET of one connector or template under their project: 404 either way (the exact code: see the skipped test below).
    for (const path of [`${p}/connectors/${s.connectorId}`, `${p}/templates/${s.templateId}`]) {
      const res = await call(path, t)
      expect(res.status, res.text).toBe(404)
      expect(['PROJECT_NOT_FOUND', 'CONNECTOR_NOT_FOUND', 'TEMPLATE_NOT_FOUND'], res.text).toContain(res.body.error.code)
    }

    // Their ids under the stranger's own project: not found as what they are.
    const q = `/api/v1/projects/${mine.projectId}`
    for (const method of ['GET', 'PUT', 'DELETE'] as const) {
      const body = method === 'PUT' ? { name: 'Renamed' } : undefined
      expect404(await call(`${q}/connectors/${s.connectorId}`, { ...t, method, body }), 'CONNECTOR_NOT_FOUND', `${method} connector`)
      expect404(await call(`${q}/templates/${s.templateId}`, { ...t, method, body }), 'TEMPLATE_NOT_FOUND', `${method} template`)
    }
    expect404(await call(`${q}/connectors/${s.connectorId}/test`, { ...t, method: 'POST' }), 'CONNECTOR_NOT_FOUND', 'test connector')
    expect404(await call(`${q}/keys/${s.keyId}`, { ...t, method: 'DELETE' }), 'NOT_FOUND', 'DELETE key')

    // Their message, by id: with the stranger's session and with the stranger's project key.
    expect404(await call(`/api/v1/messages/${messageId}`, t), 'NOT_FOUND', 'GET message (session)')
    expect404(await call(`/api/v1/messages/${messageId}`, { apiKey: mine.key }), 'NOT_FOUND', 'GET message (project key)')
    // Sending with their connector or template: the stranger's session and the stranger's key.
    for (const auth of [t, { apiKey: mine.key }]) {
      expect404(await call('/api/v1/messages', { ...auth, body: sendBody(mine, { connectorId: s.connectorId }) }), 'CONNECTOR_NOT_FOUND', 'send with their connector')
      expect404(await call('/api/v1/messages', { ...auth, body: sendBody(mine, { templateId: s.templateId }) }), 'TEMPLATE_NOT_FOUND', 'send with their template')
    }
    // Their lists do not show the owner's things.
    const projects = await call('/api/v1/projects', t)
    expect(projects.body.data.projects.map((x: { id: string }) => x.id)).toEqual([mine.projectId])
    const theirMessages = await call(`/api/v1/messages?projectId=${mine.projectId}`, t)
    expect(theirMessages.body.data.messages, theirMessages.text).toEqual([])

    // Nothing of the owner's moved: the project, connector, template and key are as they were.
    const own = { token: owner.accessToken }
    expect((await call(p, own)).body.data.name).toBe('Test project')
    expect((await call(`${p}/connectors/${s.connectorId}`, own)).body.data).toMatchObject({ isActive: true, name: 'sandbox connector' })
    expect((await call(`${p}/templates/${s.templateId}`, own)).body.data).toMatchObject({ isActive: true, name: 'Code' })
    expect((await call(`${p}/keys`, own)).body.data.keys.map((k: { id: string }) => k.id)).toEqual([s.keyId])
    expect((await call(`/api/v1/messages/${messageId}`, { apiKey: s.key })).status).toBe(200)
    await untilStatus(messageId, 'delivered')
  })

  // Every route under another account's project answers for the project first, GET included.
  it("GET of a connector or template under another account's project is PROJECT_NOT_FOUND, like PUT and DELETE", async () => {
    const owner = await registerUser()
    const stranger = await registerUser()
    const s = await messagingSetup(owner)
    const p = `/api/v1/projects/${s.projectId}`
    expect404(await call(`${p}/connectors/${s.connectorId}`, { token: stranger.accessToken }), 'PROJECT_NOT_FOUND', 'GET connector')
    expect404(await call(`${p}/templates/${s.templateId}`, { token: stranger.accessToken }), 'PROJECT_NOT_FOUND', 'GET template')
  })
})

describe('a project key', () => {
  it('is 403 ACCESS_DENIED on routes other than sending and reading messages', async () => {
    const u = await registerUser()
    const s = await messagingSetup(u)
    const p = `/api/v1/projects/${s.projectId}`
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/auth/me'],
      ['GET', '/api/wallet/balance'],
      ['GET', '/api/v1/balance'],
      ['GET', '/api/v1/projects'],
      ['POST', '/api/v1/projects', { name: 'Another' }],
      ['GET', p],
      ['PUT', p, { name: 'Renamed' }],
      ['DELETE', p],
      ['GET', `${p}/keys`],
      ['POST', `${p}/keys`, { name: 'A second key' }],
      ['DELETE', `${p}/keys/${s.keyId}`],
      ['GET', `${p}/connectors`],
      ['GET', `${p}/connectors/${s.connectorId}`],
      ['PUT', `${p}/connectors/${s.connectorId}`, { isActive: false }],
      ['POST', `${p}/connectors/${s.connectorId}/test`],
      ['GET', `${p}/templates`],
      ['GET', '/api/v1/sims'],
      ['GET', '/api/v1/analytics/dashboard'],
    ]
    for (const [method, path, body] of routes) {
      for (const auth of [{ apiKey: s.key }, { token: s.key }]) {
        const res = await call(path, { ...auth, method, body })
        expect(`${method} ${path}: ${res.status} ${res.body?.error?.code}`, res.text).toBe(`${method} ${path}: 403 ACCESS_DENIED`)
      }
    }
    // The refused calls changed nothing: still one key, the connector active, the project there.
    const keys = await call(`${p}/keys`, { token: u.accessToken })
    expect(keys.body.data.keys.map((k: { id: string }) => k.id)).toEqual([s.keyId])
    expect((await call(`${p}/connectors/${s.connectorId}`, { token: u.accessToken })).body.data.isActive).toBe(true)
    expect((await call('/api/v1/projects', { token: u.accessToken })).body.data.projects).toHaveLength(1)
  })

  it('is refused by every authenticated route that is not a messages route (a walk of the registered routes)', async () => {
    const u = await registerUser()
    const s = await messagingSetup(u)
    const answers = await projectKeyOnEveryRoute(s.key)
    expect(answers.length).toBeGreaterThan(50)
    // Refused before the handler: 403 (or the 401 of a route with its own credential, such as logout), never served.
    const served = answers.filter((a) => !(a.status === 403 && ['ACCESS_DENIED', 'FORBIDDEN'].includes(a.code)) && a.status !== 401)
    expect(served.map((a) => `${a.route} → ${a.status} ${a.text}`).join('\n')).toBe('')
  })

  // The project-key rule comes before the role and session checks: the same code on every route.
  it('is 403 ACCESS_DENIED on admin and session-only routes too', async () => {
    const u = await registerUser()
    const s = await messagingSetup(u)
    const answers = await projectKeyOnEveryRoute(s.key)
    const other = answers.filter((a) => a.status === 403 && a.code !== 'ACCESS_DENIED')
    expect(other.map((a) => `${a.route} → ${a.code}`).join('\n')).toBe('')
  })

  it("reads and sends only in its own project: another project's list is 403, its message, connector and template 404", async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const a = await messagingSetup(u)
    const b = await messagingSetup(u)
    const inB = await sendOne(b.key, b)
    const inA = await sendOne(a.key, a)

    const list = await call(`/api/v1/messages?projectId=${b.projectId}`, { apiKey: a.key })
    expectErrorEnvelope(list, 403, 'ACCESS_DENIED')
    expect404(await call(`/api/v1/messages/${inB}`, { apiKey: a.key }), 'NOT_FOUND', "GET the other project's message")
    expect404(await call('/api/v1/messages', { apiKey: a.key, body: sendBody(a, { connectorId: b.connectorId, templateId: b.templateId }) }), 'CONNECTOR_NOT_FOUND', "send with B's connector")
    expect404(await call('/api/v1/messages', { apiKey: a.key, body: sendBody(a, { connectorId: b.connectorId }) }), 'CONNECTOR_NOT_FOUND', "send with B's connector, A's template")
    expect404(await call('/api/v1/messages', { apiKey: a.key, body: sendBody(a, { templateId: b.templateId }) }), 'TEMPLATE_NOT_FOUND', "send with A's connector, B's template")

    // Its own project: without projectId, or naming it.
    for (const path of ['/api/v1/messages', `/api/v1/messages?projectId=${a.projectId}`]) {
      const own = await call(path, { apiKey: a.key })
      expect(own.status, own.text).toBe(200)
      expect(own.body.data.messages.map((m: { id: string }) => m.id)).toEqual([inA])
    }
    // The account's session sees both projects.
    expect((await call(`/api/v1/messages/${inB}`, { token: u.accessToken })).status).toBe(200)
    expect((await call(`/api/v1/messages/${inA}`, { token: u.accessToken })).status).toBe(200)
  })

  it('works as Authorization: Bearer pk_… and as X-API-Key', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    expect(s.key).toMatch(/^pk_live_[A-Za-z0-9]{24,64}$/)
    const viaBearer = await call('/api/v1/messages', { headers: { authorization: `Bearer ${s.key}` }, body: sendBody(s) })
    expect(viaBearer.status, viaBearer.text).toBe(202)
    const viaHeader = await call('/api/v1/messages', { headers: { 'x-api-key': s.key }, body: sendBody(s) })
    expect(viaHeader.status, viaHeader.text).toBe(202)
    for (const headers of [{ authorization: `Bearer ${s.key}` }, { 'x-api-key': s.key }] as Record<string, string>[]) {
      const list = await call('/api/v1/messages', { headers })
      expect(list.status, list.text).toBe(200)
      expect(list.body.data.pagination.total).toBe(2)
      const one = await call(`/api/v1/messages/${viaBearer.body.data.messageId}`, { headers })
      expect(one.status, one.text).toBe(200)
    }
    const row = await messageRow(viaHeader.body.data.messageId)
    expect(row?.api_key_id).toBe(s.keyId)
    // A key that is not one: 401 INVALID_API_KEY, both ways.
    const forged = `pk_live_${'A'.repeat(32)}`
    expectErrorEnvelope(await call('/api/v1/messages', { headers: { authorization: `Bearer ${forged}` } }), 401, 'INVALID_API_KEY')
    expectErrorEnvelope(await call('/api/v1/messages', { headers: { 'x-api-key': forged } }), 401, 'INVALID_API_KEY')
  })
})

describe('revoking project keys', () => {
  it("deleting the project stops its keys at once (even when kept in the isolate's cache), and the project is then 404", async () => {
    apiKeyCache.ttlMs = API_KEY_CACHE_TTL_MS
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const second = await call(`/api/v1/projects/${s.projectId}/keys`, { token: u.accessToken, body: { name: 'Second' } })
    const sent = await sendOne(s.key, s)
    expect((await call('/api/v1/messages', { apiKey: second.body.data.key })).status).toBe(200)
    // Both keys are now kept by this isolate: the check below is about the cache, not only D1.
    expect(apiKeyCache.entries.has(await sha256Hex(s.key))).toBe(true)
    expect(apiKeyCache.entries.has(await sha256Hex(second.body.data.key))).toBe(true)

    const del = await call(`/api/v1/projects/${s.projectId}`, { token: u.accessToken, method: 'DELETE' })
    expect(del.status, del.text).toBe(204)
    for (const key of [s.key, second.body.data.key]) {
      expectErrorEnvelope(await call('/api/v1/messages', { apiKey: key }), 401, 'INVALID_API_KEY')
      expectErrorEnvelope(await call('/api/v1/messages', { token: key, body: sendBody(s) }), 401, 'INVALID_API_KEY')
      expectErrorEnvelope(await call(`/api/v1/messages/${sent}`, { apiKey: key }), 401, 'INVALID_API_KEY')
    }
    const own = { token: u.accessToken }
    const p = `/api/v1/projects/${s.projectId}`
    for (const [method, path, body] of [
      ['GET', p],
      ['PUT', p, { name: 'Back' }],
      ['DELETE', p],
      ['GET', `${p}/keys`],
      ['POST', `${p}/keys`, { name: 'New' }],
      ['GET', `${p}/connectors`],
      ['GET', `${p}/templates`],
      ['GET', `/api/v1/messages?projectId=${s.projectId}`],
    ] as [string, string, unknown?][]) {
      expect404(await call(path, { ...own, method, body }), 'PROJECT_NOT_FOUND', `${method} ${path} after delete`)
    }
    expect((await call('/api/v1/projects', own)).body.data.projects).toEqual([])
    // The account's session cannot send on its connector any more either.
    expect404(await call('/api/v1/messages', { ...own, body: sendBody(s) }), 'CONNECTOR_NOT_FOUND', 'send on a deleted project')
    // Its messages stay on the record.
    expect(await messageRow(sent)).not.toBeNull()
  })

  it('DELETE …/keys/:keyId stops that key at once, not the others; a second revoke is 404', async () => {
    apiKeyCache.ttlMs = API_KEY_CACHE_TTL_MS
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const other = await call(`/api/v1/projects/${s.projectId}/keys`, { token: u.accessToken, body: { name: 'Other' } })
    await sendOne(s.key, s)
    expect(apiKeyCache.entries.has(await sha256Hex(s.key))).toBe(true)

    const del = await call(`/api/v1/projects/${s.projectId}/keys/${s.keyId}`, { token: u.accessToken, method: 'DELETE' })
    expect(del.status, del.text).toBe(204)
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s) }), 401, 'INVALID_API_KEY')
    expectErrorEnvelope(await call('/api/v1/messages', { apiKey: s.key }), 401, 'INVALID_API_KEY')
    // The other key of the project still sends.
    expect((await call('/api/v1/messages', { apiKey: other.body.data.key, body: sendBody(s) })).status).toBe(202)
    const keys = await call(`/api/v1/projects/${s.projectId}/keys`, { token: u.accessToken })
    expect(keys.body.data.keys.map((k: { id: string }) => k.id)).toEqual([other.body.data.id])
    expect404(await call(`/api/v1/projects/${s.projectId}/keys/${s.keyId}`, { token: u.accessToken, method: 'DELETE' }), 'NOT_FOUND', 'second revoke')
    expect404(await call(`/api/v1/projects/${s.projectId}/keys/key_nope`, { token: u.accessToken, method: 'DELETE' }), 'NOT_FOUND', 'unknown key')
  })

  it('a key is in its create answer only, and stored hashed: no D1 row holds it', async () => {
    const u = await registerUser()
    const s = await messagingSetup(u)
    const created = await call(`/api/v1/projects/${s.projectId}/keys`, { token: u.accessToken, body: { name: 'Shown once', rateLimit: 500, mode: 'test' } })
    expect(created.status, created.text).toBe(201)
    const d = created.body.data
    expect(d.key).toMatch(/^pk_test_[A-Za-z0-9]{24,64}$/)
    expect(d).toMatchObject({ name: 'Shown once', rateLimit: 500, isActive: true, prefix: d.key.slice(0, 12) })
    // Use both keys once, so whatever a use writes (last used, audit, rate limits) is in D1 too.
    expect((await call('/api/v1/messages', { apiKey: d.key })).status).toBe(200)
    expect((await call('/api/v1/messages', { apiKey: s.key })).status).toBe(200)

    const list = await call(`/api/v1/projects/${s.projectId}/keys`, { token: u.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(list.body.data.keys).toHaveLength(2)
    for (const k of list.body.data.keys) expect(k, list.text).not.toHaveProperty('key')
    const secrets = [d.key, d.key.slice(12), s.key, s.key.slice(12)]
    for (const secret of secrets) expect(list.text).not.toContain(secret)

    const row = await env.DB.prepare('SELECT key_hash, key_prefix, project_id FROM api_keys WHERE id = ?').bind(d.id).first<{ key_hash: string; key_prefix: string; project_id: string }>()
    expect(row).toEqual({ key_hash: await sha256Hex(d.key), key_prefix: d.key.slice(0, 12), project_id: s.projectId })

    // Every row of every table: neither key, nor its secret part after the shown prefix.
    const tables = await env.DB.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'`).all<{ name: string }>()
    expect(tables.results.length).toBeGreaterThan(10)
    for (const { name } of tables.results) {
      const rows = await env.DB.prepare(`SELECT * FROM "${name}"`).all()
      const dump = JSON.stringify(rows.results)
      for (const secret of secrets) expect(dump.includes(secret), `table ${name} holds a key`).toBe(false)
    }
  })
})

/**
 * Idempotency-Key: through the real top-up route, and through a small app that
 * mounts the same middleware on test routes (a crash, a slow handler, refusals).
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { AppError, Forbidden, ValidationError } from '../../src/lib/errors'
import { createRouter } from '../../src/http/router'
import { createApp, onError } from '../../src/app'
import { authenticate } from '../../src/http/authenticate'
import { canonicalJson, idempotency, IDEMPOTENCY_TTL_MS, IN_PROGRESS_LEASE_MS, MAX_CANONICAL_DEPTH, requestFingerprint as fingerprintOf } from '../../src/http/idempotency'
import { idempotent } from '../../src/http/policy'
import { requestId } from '../../src/http/request-id'
import { purgeIdempotencyKeys } from '../../src/modules/maintenance/idempotency.job'
import { runSweeper } from '../../src/modules/maintenance/sweeper.job'
import { createServices } from '../../src/services'
import { buildRequest, call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser, type ApiResponse, type CallOptions, type TestUser } from '../helpers/api'
import { send } from '../helpers/app'
import { walletAudit } from '../helpers/catalog'
import { routeDeclarations } from '../helpers/policy'
import { auditRowsFor, sha256Hex } from '../helpers/db'

let n = 0
const newKey = (tag = 'k') => `${tag}-${Date.now().toString(36)}-${++n}-${Math.random().toString(36).slice(2, 8)}`

interface KeyRow {
  scope: string
  key: string
  method: string
  path: string
  request_hash: string
  status: string
  response_status: number | null
  response_body: string | null
  created_at: number
  expires_at: number
}

/** What a record stores of a JSON body: `v2:` and the SHA-256 of its canonical form (keys sorted, no whitespace). */
const requestFingerprint = async (body: Record<string, unknown>) => `v2:${await sha256Hex(JSON.stringify(Object.fromEntries(Object.entries(body).sort(([a], [b]) => (a < b ? -1 : 1)))))}`

const keyRows = async (key: string) => (await env.DB.prepare(`SELECT * FROM idempotency_keys WHERE key = ? ORDER BY scope`).bind(key).all<KeyRow>()).results

const topup = (admin: TestUser, key: string | undefined, body: unknown) => call('/api/wallet/topup', { token: admin.accessToken, body, headers: key === undefined ? {} : { 'Idempotency-Key': key } })

const topupsAudited = async (userId: string) => (await auditRowsFor(userId)).filter((r) => r.action === 'wallet.topup')

describe('Idempotency-Key on POST /api/wallet/topup', () => {
  it('the same key and body replay the first answer (Idempotent-Replayed: true) and credit once', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = newKey()
    const body = { userId: u.id, amount: 10.5, reason: 'replay test' }
    const first = await topup(admin, key, body)
    expect(first.status, first.text).toBe(200)
    expect(first.headers.get('Idempotent-Replayed'), first.text).toBeNull()

    for (let i = 0; i < 2; i++) {
      const again = await topup(admin, key, body)
      expect(again.status, again.text).toBe(200)
      expect(again.headers.get('Idempotent-Replayed'), again.text).toBe('true')
      expect(again.headers.get('content-type')).toMatch(/application\/json/)
      expect(again.text).toBe(first.text)
    }
    expect((await walletAudit(u.id)).balance).toBe(10_500_000)
    expect((await topupsAudited(u.id)).length).toBe(1)

    const [row] = await keyRows(key)
    expect(row, JSON.stringify(row)).toMatchObject({ scope: `user:${admin.id}`, method: 'POST', path: '/api/wallet/topup', status: 'done', response_status: 200 })
    expect(row!.request_hash).toBe(await requestFingerprint(body))
    expect(row!.response_body).toBe(first.text)
    expect(row!.expires_at - row!.created_at).toBe(IDEMPOTENCY_TTL_MS)
  })

  it('the same key with another body is 422 IDEMPOTENCY_KEY_REUSED and moves nothing', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = newKey()
    const first = await topup(admin, key, { userId: u.id, amount: 1, reason: 'first use' })
    expect(first.status, first.text).toBe(200)
    const other = await topup(admin, key, { userId: u.id, amount: 2, reason: 'first use' })
    expectErrorEnvelope(other, 422, 'IDEMPOTENCY_KEY_REUSED')
    expect((await walletAudit(u.id)).balance).toBe(1_000_000)
  })

  it('the same JSON written differently (whitespace, key order, escapes) is the same request: it replays, never a 422', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = newKey()
    const raw = (text: string) => call('/api/wallet/topup', { token: admin.accessToken, rawBody: text, headers: { 'Idempotency-Key': key, 'content-type': 'application/json' } })
    const first = await raw(`{"userId":"${u.id}","amount":1,"reason":"café"}`)
    expect(first.status, first.text).toBe(200)
    for (const text of [`{ "userId" : "${u.id}", "amount" : 1, "reason" : "café" }`, `{\n  "reason": "caf\\u00e9",\n  "amount": 1.0,\n  "userId": "${u.id}"\n}\n`]) {
      const again = await raw(text)
      expect(again.status, `${text}: ${again.text}`).toBe(200)
      expect(again.headers.get('Idempotent-Replayed'), again.text).toBe('true')
      expect(again.text).toBe(first.text)
    }
    expectErrorEnvelope(await raw(`{"userId":"${u.id}","amount":1,"reason":"cafe"}`), 422, 'IDEMPOTENCY_KEY_REUSED')
    expect((await walletAudit(u.id)).balance).toBe(1_000_000)
    const [row] = await keyRows(key)
    expect(row!.request_hash).toBe(await requestFingerprint({ userId: u.id, amount: 1, reason: 'café' }))
  })

  it('10 concurrent requests with one key credit once: one runs, the others replay or get 409 IDEMPOTENCY_KEY_IN_USE', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = newKey()
    const body = { userId: u.id, amount: 3, reason: 'double click' }
    const results = await Promise.all(Array.from({ length: 10 }, () => topup(admin, key, body)))
    const ran = results.filter((r) => r.status === 200 && r.headers.get('Idempotent-Replayed') === null)
    const replayed = results.filter((r) => r.status === 200 && r.headers.get('Idempotent-Replayed') === 'true')
    const busy = results.filter((r) => r.status === 409)
    const all = results.map((r) => `${r.status} ${r.text}`).join('\n')
    expect(ran.length, all).toBe(1)
    expect(ran.length + replayed.length + busy.length, all).toBe(10)
    for (const r of busy) {
      expectErrorEnvelope(r, 409, 'IDEMPOTENCY_KEY_IN_USE')
      expect(r.headers.get('Retry-After')).toBe('1')
    }
    for (const r of replayed) expect(r.text).toBe(ran[0]!.text)
    expect((await walletAudit(u.id)).balance).toBe(3_000_000)
    expect((await topupsAudited(u.id)).length).toBe(1)
  })

  it('different admins may use the same key independently', async () => {
    const a = await registerAdmin()
    const b = await registerAdmin()
    const u = await registerUser()
    const key = newKey('shared')
    const body = { userId: u.id, amount: 2, reason: 'same key, two admins' }
    const ra = await topup(a, key, body)
    const rb = await topup(b, key, body)
    expect(ra.status, ra.text).toBe(200)
    expect(rb.status, rb.text).toBe(200)
    expect(rb.headers.get('Idempotent-Replayed')).toBeNull()
    expect(rb.body.data.transaction.id).not.toBe(ra.body.data.transaction.id)
    expect((await walletAudit(u.id)).balance).toBe(4_000_000)
    expect((await keyRows(key)).map((r) => r.scope).sort()).toEqual([`user:${a.id}`, `user:${b.id}`].sort())
  })

  it('an expired key (24 h) is used afresh; the wallet still refuses to credit the same request twice', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const key = newKey()
    const body = { userId: u.id, amount: 5, reason: 'expiry' }
    const first = await topup(admin, key, body)
    expect(first.status, first.text).toBe(200)
    await env.DB.prepare(`UPDATE idempotency_keys SET expires_at = ? WHERE key = ?`)
      .bind(Date.now() - 1, key)
      .run()

    // Same request after expiry: not a replay of the record, but the wallet op id (derived from the
    // key and the request) is the same, so no second credit and no second audit entry.
    const same = await topup(admin, key, body)
    expect(same.status, same.text).toBe(200)
    expect(same.headers.get('Idempotent-Replayed')).toBeNull()
    expect(same.body.data.transaction.id).toBe(first.body.data.transaction.id)
    expect((await walletAudit(u.id)).balance).toBe(5_000_000)
    expect((await topupsAudited(u.id)).length).toBe(1)

    // Another body with the expired key is a new request, not a 422.
    await env.DB.prepare(`UPDATE idempotency_keys SET expires_at = ? WHERE key = ?`)
      .bind(Date.now() - 1, key)
      .run()
    const other = await topup(admin, key, { ...body, amount: 7 })
    expect(other.status, other.text).toBe(200)
    expect((await walletAudit(u.id)).balance).toBe(12_000_000)
    const [row] = await keyRows(key)
    expect(row!.request_hash).toBe(await requestFingerprint({ ...body, amount: 7 }))
    expect(row!.expires_at).toBeGreaterThan(Date.now())
  })

  it('a 4xx decision is stored and replayed (404 for an unknown user)', async () => {
    const admin = await registerAdmin()
    const key = newKey()
    const body = { userId: 'usr_nobody_here', amount: 1, reason: 'unknown user' }
    const first = await topup(admin, key, body)
    expectErrorEnvelope(first, 404, 'NOT_FOUND')
    const again = await topup(admin, key, body)
    expectErrorEnvelope(again, 404, 'NOT_FOUND')
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
    expect(again.text).toBe(first.text)
  })

  it('403 is not stored: the key stays usable (the role may change)', async () => {
    const u = await registerUser()
    const target = await registerUser()
    const key = newKey()
    const body = { userId: target.id, amount: 1, reason: 'not yet admin' }
    expectErrorEnvelope(await topup(u, key, body), 403, 'FORBIDDEN')
    expect(await keyRows(key)).toEqual([])
    await env.DB.prepare(`UPDATE users SET role = 'admin' WHERE id = ?`).bind(u.id).run()
    const ok = await topup(u, key, body)
    expect(ok.status, ok.text).toBe(200)
    expect(ok.headers.get('Idempotent-Replayed')).toBeNull()
  })

  it('refuses a malformed key with 400 VALIDATION_ERROR before anything runs', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const body = { userId: u.id, amount: 1, reason: 'bad key' }
    for (const key of ['', 'x'.repeat(256), 'has space', 'tab\there', 'ünïcödé']) {
      const res = await call('/api/wallet/topup', { token: admin.accessToken, body, headers: { 'Idempotency-Key': key } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, res.text).toBe('Idempotency-Key')
    }
    const longest = await topup(admin, 'y'.repeat(255), body)
    expect(longest.status, longest.text).toBe(200)
    expect((await walletAudit(u.id)).balance).toBe(1_000_000)
  })

  it('without credentials the key is ignored and the route answers 401; nothing is recorded', async () => {
    const u = await registerUser()
    const key = newKey()
    const res = await call('/api/wallet/topup', { body: { userId: u.id, amount: 1, reason: 'anonymous' }, headers: { 'Idempotency-Key': key } })
    expectErrorEnvelope(res, 401, 'UNAUTHORIZED')
    expect(await keyRows(key)).toEqual([])
  })

  it('POSTs outside the list and other methods ignore the key', async () => {
    const u = await registerUser()
    const key = newKey()
    const a = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'one', permissions: ['wallet:read'] }, headers: { 'Idempotency-Key': key } })
    const b = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'one', permissions: ['wallet:read'] }, headers: { 'Idempotency-Key': key } })
    expect(a.status, a.text).toBe(201)
    expect(b.status, b.text).toBe(201)
    expect(b.body.data.id).not.toBe(a.body.data.id)
    const get = await call('/api/wallet/balance', { token: u.accessToken, headers: { 'Idempotency-Key': 'has space' } })
    expect(get.status, get.text).toBe(200)
    expect(await keyRows(key)).toEqual([])
  })

  it('documents the header and its 409/422 answers on the route', async () => {
    const res = await call('/openapi.json')
    const op = res.body.paths?.['/api/wallet/topup']?.post
    expect(
      op?.parameters?.find((p: any) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key'),
      JSON.stringify(op),
    ).toBeTruthy()
    expect(Object.keys(op?.responses ?? {}), JSON.stringify(op)).toEqual(expect.arrayContaining(['200', '409', '422']))
  })
})

// ---- which routes honour the key: declared on each route, checked by walking them --------------

/** `METHOD path` → { idempotent, class } of every registered route. */
function declaredRoutes() {
  const out = new Map<string, { idempotent: boolean; rateClass: string | undefined }>()
  for (const [route, ds] of routeDeclarations(createApp())) {
    out.set(route, {
      idempotent: ds.some((d) => d.kind === 'idempotent'),
      rateClass: ds.flatMap((d) => (d.kind === 'rateClass' ? [d.rateClass] : []))[0],
    })
  }
  return out
}

const idempotentRoutes = () => [...declaredRoutes()].flatMap(([route, p]) => (p.idempotent ? [route] : [])).sort()

/**
 * Routes that do not meet an invariant below today. Each is pinned so that it changes only on
 * purpose: making one idempotent, or documenting the header, changes behaviour or /openapi.json.
 */
const KNOWN_GAPS = {
  /** A money route (class `purchase`) that is a POST but does not honour the key. */
  purchaseNotIdempotent: ['POST /api/subscription'],
  /** Routes that honour the key without documenting the header in /openapi.json (none: the document adds it from the declaration). */
  idempotentUndocumented: [] as string[],
}

describe('routes that declare idempotent()', () => {
  it('are exactly these POST routes', () => {
    expect(idempotentRoutes()).toEqual(
      [
        'POST /api/numbers/purchase',
        'POST /api/v1/numbers',
        'POST /api/v1/numbers/purchase',
        'POST /api/v1/orders',
        'POST /api/v1/orders/:id/retry-payment',
        'POST /api/wallet/topup',
        'POST /api/usage',
        'POST /api/invoices',
        'POST /api/v1/billing/invoices/:id/pay',
        'POST /api/v1/billing/payment-methods',
        'POST /api/v1/billing/top-up',
        'POST /api/v1/sims/:iccid/topup',
        'POST /api/v1/sims/:iccid/sms',
        'POST /api/v1/sims/topup',
        'POST /api/v1/messages',
      ].sort(),
    )
  })

  it('are all POSTs', () => {
    for (const route of idempotentRoutes()) expect(route, route).toMatch(/^POST /)
  })

  it('include every POST that moves money or buys (class purchase)', () => {
    const missing = [...declaredRoutes()].flatMap(([route, p]) => (p.rateClass === 'purchase' && route.startsWith('POST ') && !p.idempotent ? [route] : []))
    expect(missing.sort()).toEqual(KNOWN_GAPS.purchaseNotIdempotent)
  })

  it('are the routes whose request documents the Idempotency-Key header', async () => {
    const doc = (await call('/openapi.json')).body
    const documented: string[] = []
    for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        if (op?.parameters?.some((p: any) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key')) {
          documented.push(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`)
        }
      }
    }
    const idem = idempotentRoutes()
    for (const route of documented) expect(idem, `${route} documents Idempotency-Key but does not declare idempotent()`).toContain(route)
    expect(idem.filter((r) => !documented.includes(r))).toEqual(KNOWN_GAPS.idempotentUndocumented)
  })
})

// ---- the middleware on test routes ------------------------------------------------------------

const hits = new Map<string, number>()
const gates = new Map<string, { opened: Promise<void>; open: () => void; entered: Promise<void>; enter: () => void }>()

function gate(name: string) {
  let open!: () => void
  let enter!: () => void
  const opened = new Promise<void>((r) => (open = r))
  const entered = new Promise<void>((r) => (enter = r))
  const g = { opened, open, entered, enter }
  gates.set(name, g)
  return g
}

/** The production middleware chain up to idempotency, and routes that declare idempotent() and count their runs. */
function testApp() {
  const app = createRouter()
  app.use('*', requestId)
  app.use('*', async (c, next) => {
    c.set('services', createServices(c.env, c.executionCtx))
    await next()
  })
  app.use('*', authenticate)
  app.use('*', idempotency)
  app.post('/t/charge/:mode', idempotent(), async (c) => {
    const tag = c.req.query('tag') ?? ''
    const count = (hits.get(tag) ?? 0) + 1
    hits.set(tag, count)
    const p = c.get('principal')
    if (!p) throw new AppError(401, 'UNAUTHORIZED', 'no')
    switch (c.req.param('mode')) {
      case 'crash-once':
        if (count === 1) throw new Error('boom')
        break
      case 'upstream':
        throw new AppError(502, 'UPSTREAM_ERROR', 'upstream down')
      case 'invalid':
        throw ValidationError.field('thing', 'bad thing')
      case 'forbidden':
        throw new Forbidden()
      case 'slow': {
        const g = gates.get(tag)!
        g.enter()
        await g.opened
        break
      }
    }
    return c.json({ success: true, data: { run: count, body: await c.req.json() } }, 201)
  })
  app.post('/t/other', idempotent(), (c) => c.json({ success: true, data: 'other' }, 201))
  app.post('/t/orders/:id/retry', idempotent(), (c) => c.json({ success: true, data: c.req.param('id') }, 200))
  app.onError(onError)
  return app
}

const app = testApp()
const post = (path: string, key: string | undefined, opts: CallOptions & { body?: unknown } = {}): Promise<ApiResponse> =>
  send(app, buildRequest(path, { ...opts, method: 'POST', body: opts.body ?? { x: 1 }, headers: { ...(key ? { 'Idempotency-Key': key } : {}), ...opts.headers } }))
/** POST with the body text exactly as given. */
const postRaw = (path: string, key: string, token: string, text: string, contentType = 'application/json'): Promise<ApiResponse> =>
  send(app, buildRequest(path, { method: 'POST', token, rawBody: text, headers: { 'Idempotency-Key': key, 'content-type': contentType } }))

describe('the Idempotency-Key middleware', () => {
  it('a 5xx is not stored: the key is released and the retry runs the handler again', async () => {
    const u = await registerUser()
    const key = newKey()
    const tag = newKey('crash')
    const crash = await post(`/t/charge/crash-once?tag=${tag}`, key, { token: u.accessToken })
    expectErrorEnvelope(crash, 500, 'INTERNAL_ERROR')
    expect(await keyRows(key)).toEqual([])
    const retry = await post(`/t/charge/crash-once?tag=${tag}`, key, { token: u.accessToken })
    expect(retry.status, retry.text).toBe(201)
    expect(retry.body.data.run).toBe(2)
    const replay = await post(`/t/charge/crash-once?tag=${tag}`, key, { token: u.accessToken })
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true')
    expect(replay.body.data.run).toBe(2)
    expect(hits.get(tag)).toBe(2)

    const tag2 = newKey('upstream')
    const key2 = newKey()
    expectErrorEnvelope(await post(`/t/charge/upstream?tag=${tag2}`, key2, { token: u.accessToken }), 502, 'UPSTREAM_ERROR')
    expectErrorEnvelope(await post(`/t/charge/upstream?tag=${tag2}`, key2, { token: u.accessToken }), 502, 'UPSTREAM_ERROR')
    expect(hits.get(tag2)).toBe(2)
    expect(await keyRows(key2)).toEqual([])
  })

  it('a 400 is stored and replayed; a 403 is not', async () => {
    const u = await registerUser()
    const tag = newKey('invalid')
    const key = newKey()
    const first = await post(`/t/charge/invalid?tag=${tag}`, key, { token: u.accessToken })
    expectErrorEnvelope(first, 400, 'VALIDATION_ERROR')
    const again = await post(`/t/charge/invalid?tag=${tag}`, key, { token: u.accessToken })
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
    expect(again.text).toBe(first.text)
    expect(hits.get(tag)).toBe(1)

    const tag2 = newKey('forbidden')
    const key2 = newKey()
    expectErrorEnvelope(await post(`/t/charge/forbidden?tag=${tag2}`, key2, { token: u.accessToken }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await post(`/t/charge/forbidden?tag=${tag2}`, key2, { token: u.accessToken }), 403, 'FORBIDDEN')
    expect(hits.get(tag2)).toBe(2)
  })

  it('a duplicate arriving while the first is running gets 409 IDEMPOTENCY_KEY_IN_USE; afterwards it replays', async () => {
    const u = await registerUser()
    const tag = newKey('slow')
    const key = newKey()
    const g = gate(tag)
    const firstP = post(`/t/charge/slow?tag=${tag}`, key, { token: u.accessToken })
    await g.entered
    const [row] = await keyRows(key)
    expect(row?.status).toBe('in_progress')
    const dup = await post(`/t/charge/slow?tag=${tag}`, key, { token: u.accessToken })
    expectErrorEnvelope(dup, 409, 'IDEMPOTENCY_KEY_IN_USE')
    // A different body while the first runs is still a misuse of the key.
    expectErrorEnvelope(await post(`/t/charge/slow?tag=${tag}`, key, { token: u.accessToken, body: { x: 2 } }), 422, 'IDEMPOTENCY_KEY_REUSED')
    g.open()
    const first = await firstP
    expect(first.status, first.text).toBe(201)
    const replay = await post(`/t/charge/slow?tag=${tag}`, key, { token: u.accessToken })
    expect(replay.status, replay.text).toBe(201)
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true')
    expect(hits.get(tag)).toBe(1)
  })

  it('a record left in progress by a dead request is taken over once its lease is over', async () => {
    const u = await registerUser()
    const tag = newKey('dead')
    const key = newKey()
    const body = { x: 1 }
    const now = Date.now()
    await env.DB.prepare(`INSERT INTO idempotency_keys (scope, key, method, path, request_hash, status, created_at, expires_at) VALUES (?, ?, 'POST', ?, ?, 'in_progress', ?, ?)`)
      .bind(`user:${u.id}`, key, '/t/charge/ok', await sha256Hex(JSON.stringify(body)), now - 1000, now + IDEMPOTENCY_TTL_MS)
      .run()
    expectErrorEnvelope(await post(`/t/charge/ok?tag=${tag}`, key, { token: u.accessToken, body }), 409, 'IDEMPOTENCY_KEY_IN_USE')
    await env.DB.prepare(`UPDATE idempotency_keys SET created_at = ? WHERE key = ?`)
      .bind(now - IN_PROGRESS_LEASE_MS - 1, key)
      .run()
    const res = await post(`/t/charge/ok?tag=${tag}`, key, { token: u.accessToken, body })
    expect(res.status, res.text).toBe(201)
    expect(hits.get(tag)).toBe(1)
  })

  it('the same key on another path is 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const u = await registerUser()
    const key = newKey()
    expect((await post(`/t/charge/ok?tag=${newKey()}`, key, { token: u.accessToken })).status).toBe(201)
    expectErrorEnvelope(await post('/t/other', key, { token: u.accessToken }), 422, 'IDEMPOTENCY_KEY_REUSED')
    expectErrorEnvelope(await post('/t/orders/ord_1/retry', key, { token: u.accessToken }), 422, 'IDEMPOTENCY_KEY_REUSED')
  })

  it('compares JSON bodies as parsed values: nested key order and whitespace do not matter, array order and values do', async () => {
    const u = await registerUser()
    const key = newKey()
    const tag = newKey('canon')
    const postText = (text: string) => postRaw(`/t/charge/ok?tag=${tag}`, key, u.accessToken, text)
    const first = await postText('{"a":{"y":1,"x":[{"b":1,"a":2},null,true,"s"]},"n":-0}')
    expect(first.status, first.text).toBe(201)
    const again = await postText(' { "n" : 0 , "a" : { "x" : [ { "a" : 2 , "b" : 1 } , null , true , "\\u0073" ] , "y" : 1 } } ')
    expect(again.status, again.text).toBe(201)
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
    expect(hits.get(tag)).toBe(1)
    expectErrorEnvelope(await postText('{"a":{"y":1,"x":[null,{"b":1,"a":2},true,"s"]},"n":0}'), 422, 'IDEMPOTENCY_KEY_REUSED')
    expectErrorEnvelope(await postText('{"a":{"y":1,"x":[{"b":1,"a":2},null,true,"s"]},"n":0,"extra":null}'), 422, 'IDEMPOTENCY_KEY_REUSED')
    expectErrorEnvelope(await postText('{"a":{"y":"1","x":[{"b":1,"a":2},null,true,"s"]},"n":0}'), 422, 'IDEMPOTENCY_KEY_REUSED')
  })

  it('a body that is not JSON is compared byte for byte', async () => {
    const u = await registerUser()
    const key = newKey()
    const postText = (text: string) => postRaw('/t/other', key, u.accessToken, text, 'application/x-www-form-urlencoded')
    const first = await postText('a=1&b=2')
    expect(first.status, first.text).toBe(201)
    const [row] = await keyRows(key)
    expect(row!.request_hash).toBe(await sha256Hex('a=1&b=2'))
    const again = await postText('a=1&b=2')
    expect(again.headers.get('Idempotent-Replayed'), again.text).toBe('true')
    expectErrorEnvelope(await postText('b=2&a=1'), 422, 'IDEMPOTENCY_KEY_REUSED')
    // A JSON body under a key first used with a non-JSON one is another request.
    expectErrorEnvelope(await post('/t/other', key, { token: u.accessToken, body: { a: 1, b: 2 } }), 422, 'IDEMPOTENCY_KEY_REUSED')
  })

  it('records stored before bodies were compared as JSON (a raw-bytes hash) still replay the exact same bytes', async () => {
    const u = await registerUser()
    const tag = newKey('legacy')
    const now = Date.now()
    const bodyText = JSON.stringify({ x: 1, y: 'two' })
    const stored = JSON.stringify({ success: true, data: { run: 1, body: { x: 1, y: 'two' } } })
    const insert = async (key: string, status: 'done' | 'in_progress') =>
      env.DB.prepare(`INSERT INTO idempotency_keys (scope, key, method, path, request_hash, status, response_status, response_body, created_at, expires_at) VALUES (?, ?, 'POST', ?, ?, ?, ?, ?, ?, ?)`)
        .bind(`user:${u.id}`, key, `/t/charge/ok`, await sha256Hex(bodyText), status, status === 'done' ? 201 : null, status === 'done' ? stored : null, now - 1000, now + IDEMPOTENCY_TTL_MS)
        .run()
    const key = newKey()
    await insert(key, 'done')
    const postText = (k: string, text: string) => postRaw(`/t/charge/ok?tag=${tag}`, k, u.accessToken, text)
    const replay = await postText(key, bodyText)
    expect(replay.status, replay.text).toBe(201)
    expect(replay.headers.get('Idempotent-Replayed'), replay.text).toBe('true')
    expect(replay.text).toBe(stored)
    // Another body is still another request.
    expectErrorEnvelope(await postText(key, JSON.stringify({ x: 2, y: 'two' })), 422, 'IDEMPOTENCY_KEY_REUSED')
    // A duplicate of an old request still running is told to wait, not that it is another request.
    const running = newKey()
    await insert(running, 'in_progress')
    expectErrorEnvelope(await postText(running, bodyText), 409, 'IDEMPOTENCY_KEY_IN_USE')
    expect(hits.get(tag)).toBeUndefined()
  })

  it('matches path parameters (/…/:id/retry) and records the concrete path', async () => {
    const u = await registerUser()
    const key = newKey()
    const a = await post('/t/orders/ord_42/retry', key, { token: u.accessToken })
    expect(a.status, a.text).toBe(200)
    const [row] = await keyRows(key)
    expect(row).toMatchObject({ path: '/t/orders/ord_42/retry', status: 'done' })
    expectErrorEnvelope(await post('/t/orders/ord_43/retry', key, { token: u.accessToken }), 422, 'IDEMPOTENCY_KEY_REUSED')
  })

  it('keys are per credential: different users, and a user session and an API key, do not share them', async () => {
    const a = await registerUser()
    const b = await registerUser()
    const k = await createApiKey(a, ['*'])
    const key = newKey('shared')
    const tag = newKey('scopes')
    for (const auth of [{ token: a.accessToken }, { token: b.accessToken }, { apiKey: k.key }]) {
      const res = await post(`/t/charge/ok?tag=${tag}`, key, auth)
      expect(res.status, res.text).toBe(201)
      expect(res.headers.get('Idempotent-Replayed')).toBeNull()
    }
    expect(hits.get(tag)).toBe(3)
    expect((await keyRows(key)).map((r) => r.scope).sort()).toEqual([`key:${k.id}`, `user:${a.id}`, `user:${b.id}`].sort())
    // The same user's other session shares the user's keys.
    const again = await post(`/t/charge/ok?tag=${tag}`, key, { token: a.accessToken })
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
  })
})

describe('purging expired keys (sweeper step)', () => {
  it('purgeIdempotencyKeys deletes records past their expiry and keeps live ones', async () => {
    const now = Date.now()
    const expired = [newKey('old'), newKey('old')]
    const live = newKey('live')
    for (const [key, expiresAt] of [
      [expired[0]!, now - 1],
      [expired[1]!, now - IDEMPOTENCY_TTL_MS],
      [live, now + 60_000],
    ] as const) {
      await env.DB.prepare(
        `INSERT INTO idempotency_keys (scope, key, method, path, request_hash, status, response_status, response_body, created_at, expires_at) VALUES ('user:purge', ?, 'POST', '/x', 'h', 'done', 200, '{}', ?, ?)`,
      )
        .bind(key, expiresAt - IDEMPOTENCY_TTL_MS, expiresAt)
        .run()
    }
    const services = createServices(env, createExecutionContext())
    const r = await purgeIdempotencyKeys(services, now)
    expect(r.idempotencyKeysDeleted).toBeGreaterThanOrEqual(2)
    for (const k of expired) expect(await keyRows(k)).toEqual([])
    expect((await keyRows(live)).length).toBe(1)
    expect((await purgeIdempotencyKeys(services, now)).idempotencyKeysDeleted).toBe(0)
  })

  it('runs as the sweeper step `idempotency`', async () => {
    const key = newKey('sweep')
    const now = Date.now()
    await env.DB.prepare(`INSERT INTO idempotency_keys (scope, key, method, path, request_hash, status, created_at, expires_at) VALUES ('user:sweep', ?, 'POST', '/x', 'h', 'done', ?, ?)`)
      .bind(key, now - IDEMPOTENCY_TTL_MS - 5, now - 5)
      .run()
    const ctx = createExecutionContext()
    const out = (await runSweeper(createServices(env, ctx), now)) as Record<string, any>
    await waitOnExecutionContext(ctx)
    expect(out.idempotency, JSON.stringify(out)).toMatchObject({ idempotencyKeysDeleted: 1 })
    expect(await keyRows(key)).toEqual([])
  })
})

describe('body fingerprints', () => {
  it('canonical JSON sorts keys at every depth, keeps array order, and keeps __proto__ an ordinary key', () => {
    expect(canonicalJson(JSON.parse('{ "b" : [3, {"z":1,"a":null}], "a" : "\\u00e9", "c": 1.50 }'))).toBe('{"a":"é","b":[3,{"a":null,"z":1}],"c":1.5}')
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2}')
    expect(canonicalJson(JSON.parse('"text"'))).toBe('"text"')
  })

  it('JSON nested deeper than the limit, and non-JSON text, are fingerprinted by their bytes', async () => {
    const deep = `${'['.repeat(MAX_CANONICAL_DEPTH + 1)}${']'.repeat(MAX_CANONICAL_DEPTH + 1)}`
    expect(await fingerprintOf(deep)).toBe(await sha256Hex(deep))
    expect(await fingerprintOf('not json')).toBe(await sha256Hex('not json'))
    expect(await fingerprintOf('')).toBe(await sha256Hex(''))
    const shallow = `${'['.repeat(MAX_CANONICAL_DEPTH)}${']'.repeat(MAX_CANONICAL_DEPTH)}`
    expect(await fingerprintOf(shallow)).toMatch(/^v2:[0-9a-f]{64}$/)
  })
})

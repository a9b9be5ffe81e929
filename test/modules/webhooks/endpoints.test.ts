import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { EVENT_TYPES } from '../../../src/modules/webhooks/catalogue'
import { MAX_ENDPOINTS } from '../../../src/modules/webhooks/webhooks.service'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { createEndpoint, emitEvent, endpointRow, harness, runEvents } from '../../helpers/webhooks'

const URL_A = 'https://hooks.partner.example/a'

describe('POST /api/v1/webhooks', () => {
  it("creates an endpoint with the DID API's fields and shows the whsec_ secret once", async () => {
    const u = await registerUser()
    const res = await call('/api/v1/webhooks', {
      token: u.accessToken,
      body: { url: URL_A, events: ['SMS_RECEIVED', 'NUMBER_PURCHASED', 'SMS_RECEIVED'], description: 'orders', timeout: 5, retryPolicy: { maxAttempts: 3 } },
    })
    expect(res.status, res.text).toBe(201)
    const d = res.body.data
    expect(d.id, res.text).toMatch(/^whk_[0-9a-z]{26}$/)
    expect(d.secret, res.text).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(atob(d.secret.slice(6)).length).toBe(32)
    expect(d, res.text).toMatchObject({
      url: URL_A,
      description: 'orders',
      events: ['SMS_RECEIVED', 'NUMBER_PURCHASED'], // deduplicated
      isActive: true,
      lastDeliveryAt: null,
      lastStatus: null,
      deliveryCount: 0,
      failureCount: 0,
      timeout: 5,
      retryPolicy: { maxAttempts: 3, scheduleSeconds: [5, 300, 1800, 7200, 18000, 36000, 36000] },
    })
    expect(Date.parse(d.createdAt)).not.toBeNaN()
    expect(Date.parse(d.updatedAt)).not.toBeNaN()

    // never again: not in get, list, update, nor stored in clear
    const got = await call(`/api/v1/webhooks/${d.id}`, { token: u.accessToken })
    expect(got.status, got.text).toBe(200)
    expect(got.body.data.secret, got.text).toBeUndefined()
    expect(got.text).not.toContain(d.secret)
    const list = await call('/api/v1/webhooks', { token: u.accessToken })
    expect(list.text).not.toContain(d.secret)
    expect(list.body.data[0].secret, list.text).toBeUndefined()
    const put = await call(`/api/v1/webhooks/${d.id}`, { method: 'PUT', token: u.accessToken, body: { description: 'x' } })
    expect(put.text).not.toContain(d.secret)
    expect(put.body.data.secret, put.text).toBeUndefined()
    const row = await env.DB.prepare(`SELECT * FROM webhook_endpoints WHERE id = ?`).bind(d.id).first<Record<string, unknown>>()
    expect(JSON.stringify(row)).not.toContain(d.secret.slice(6))
    expect(row!.secret_sealed as string).toMatch(/^v1\./)
  })

  it('defaults: every retry (8 attempts), 10 s timeout', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/webhooks', { token: u.accessToken, body: { url: URL_A, events: ['*'] } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data, res.text).toMatchObject({ events: ['*'], timeout: 10, retryPolicy: { maxAttempts: 8 }, description: null })
  })

  it('accepts every event of the catalogue and *', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/webhooks', { token: u.accessToken, body: { url: URL_A, events: ['*', ...EVENT_TYPES] } })
    expect(res.status, res.text).toBe(201)
    for (const name of ['sms.received', 'SMS_RECEIVED', 'CALL_COMPLETED', 'NUMBER_RELEASED', 'PAYMENT_FAILED', 'invoice.paid', 'webhook.endpoint.disabled']) {
      expect(res.body.data.events, res.text).toContain(name)
    }
  })

  it.each([
    ['an unknown event', { url: URL_A, events: ['sms.recieved'] }, 'events'],
    ['a wrong-case event', { url: URL_A, events: ['sms_received'] }, 'events'],
    ['no events', { url: URL_A, events: [] }, 'events'],
    ['events not an array', { url: URL_A, events: 'SMS_RECEIVED' }, 'events'],
    ['no url', { events: ['*'] }, 'url'],
    ['a timeout of 0', { url: URL_A, events: ['*'], timeout: 0 }, 'timeout'],
    ['a timeout over 30 s', { url: URL_A, events: ['*'], timeout: 31 }, 'timeout'],
    ['9 attempts', { url: URL_A, events: ['*'], retryPolicy: { maxAttempts: 9 } }, 'retryPolicy'],
    ['0 attempts', { url: URL_A, events: ['*'], retryPolicy: { maxAttempts: 0 } }, 'retryPolicy'],
  ])('refuses %s (400 VALIDATION_ERROR)', async (_what, body, field) => {
    const u = await registerUser()
    const res = await call('/api/v1/webhooks', { token: u.accessToken, body })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.text).toContain(field)
  })

  it(`allows at most ${MAX_ENDPOINTS} endpoints per account (409 WEBHOOK_LIMIT_REACHED)`, async () => {
    const u = await registerUser()
    for (let i = 0; i < MAX_ENDPOINTS; i++) await createEndpoint(u)
    const res = await call('/api/v1/webhooks', { token: u.accessToken, body: { url: URL_A, events: ['*'] } })
    expectErrorEnvelope(res, 409, 'WEBHOOK_LIMIT_REACHED')
  })
})

describe('GET /api/v1/webhooks', () => {
  it('lists only your endpoints, newest first, with page/limit pagination', async () => {
    const u = await registerUser()
    const other = await registerUser()
    await createEndpoint(other)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await createEndpoint(u, { description: `n${i}` })).id)
    const p1 = await call('/api/v1/webhooks?page=1&limit=2', { token: u.accessToken })
    expect(p1.status, p1.text).toBe(200)
    expect(p1.body.pagination, p1.text).toMatchObject({ page: 1, limit: 2, total: 5, totalPages: 3, hasNext: true })
    expect(p1.body.data.map((e: { id: string }) => e.id)).toEqual([ids[4], ids[3]])
    const p3 = await call('/api/v1/webhooks?page=3&limit=2', { token: u.accessToken })
    expect(p3.body.pagination, p3.text).toMatchObject({ page: 3, total: 5, hasNext: false })
    expect(p3.body.data.map((e: { id: string }) => e.id)).toEqual([ids[0]])
    const all = await call('/api/v1/webhooks?limit=100', { token: u.accessToken })
    expect(all.body.data).toHaveLength(5)
    const bad = await call('/api/v1/webhooks?limit=101', { token: u.accessToken })
    expectErrorEnvelope(bad, 400, 'VALIDATION_ERROR')
  })
})

describe('PUT /api/v1/webhooks/:id', () => {
  it('changes only the fields sent', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u, { events: ['SMS_RECEIVED'], description: 'first', timeout: 7 })
    const res = await call(`/api/v1/webhooks/${e.id}`, {
      method: 'PUT',
      token: u.accessToken,
      body: { url: 'https://hooks.partner.example/moved', events: ['NUMBER_PURCHASED', '*'], retryPolicy: { maxAttempts: 2 } },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({
      id: e.id,
      url: 'https://hooks.partner.example/moved',
      events: ['NUMBER_PURCHASED', '*'],
      description: 'first',
      timeout: 7,
      retryPolicy: { maxAttempts: 2 },
      isActive: true,
    })
    const bad = await call(`/api/v1/webhooks/${e.id}`, { method: 'PUT', token: u.accessToken, body: { events: ['NOPE'] } })
    expectErrorEnvelope(bad, 400, 'VALIDATION_ERROR')
  })

  it('isActive: false stops fan-out; re-enabling clears the failure state', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const off = await call(`/api/v1/webhooks/${e.id}`, { method: 'PUT', token: u.accessToken, body: { isActive: false } })
    expect(off.body.data.isActive, off.text).toBe(false)

    const h = harness()
    const first = await emitEvent(u.id, 'SMS_RECEIVED', { n: 1 })
    await runEvents(h, [first])
    const none = await env.DB.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = ?`).bind(e.id).first<{ n: number }>()
    expect(none!.n).toBe(0)
    expect(h.webhooks.sent).toEqual([])

    // as if disabled after five days of failures
    await env.DB.prepare(`UPDATE webhook_endpoints SET failing_since = ?, disabled_reason = 'failing for 5 days' WHERE id = ?`)
      .bind(Date.now() - 6 * 86_400_000, e.id)
      .run()
    const disabled = await call(`/api/v1/webhooks/${e.id}`, { token: u.accessToken })
    expect(disabled.body.data.disabledReason, disabled.text).toBe('failing for 5 days')
    const on = await call(`/api/v1/webhooks/${e.id}`, { method: 'PUT', token: u.accessToken, body: { isActive: true } })
    expect(on.body.data, on.text).toMatchObject({ isActive: true, disabledReason: null })
    const row = await endpointRow(e.id)
    expect(row!.failing_since).toBeNull()

    // isActive: true on an endpoint that is already on leaves its failure clock running
    await env.DB.prepare(`UPDATE webhook_endpoints SET failing_since = ? WHERE id = ?`)
      .bind(Date.now() - 2 * 86_400_000, e.id)
      .run()
    const again = await call(`/api/v1/webhooks/${e.id}`, { method: 'PUT', token: u.accessToken, body: { isActive: true, description: 'same' } })
    expect(again.status, again.text).toBe(200)
    expect((await endpointRow(e.id))!.failing_since).not.toBeNull()

    const second = await emitEvent(u.id, 'SMS_RECEIVED', { n: 2 })
    await runEvents(h, [second])
    const one = await env.DB.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = ?`).bind(e.id).first<{ n: number }>()
    expect(one!.n).toBe(1)
  })
})

describe('DELETE /api/v1/webhooks/:id', () => {
  it('deletes the endpoint and its delivery log; then it is a 404', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const h = harness()
    const ev = await emitEvent(u.id, 'SMS_RECEIVED')
    await runEvents(h, [ev])
    const res = await call(`/api/v1/webhooks/${e.id}`, { method: 'DELETE', token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toEqual({ id: e.id, deleted: true })
    expectErrorEnvelope(await call(`/api/v1/webhooks/${e.id}`, { token: u.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/webhooks/${e.id}`, { method: 'DELETE', token: u.accessToken }), 404, 'NOT_FOUND')
    const left = await env.DB.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = ?`).bind(e.id).first<{ n: number }>()
    expect(left!.n).toBe(0)
  })
})

describe('POST /api/v1/webhooks/:id/rotate-secret', () => {
  it('shows a new secret once and keeps the old one signing for the grace period', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const res = await call(`/api/v1/webhooks/${e.id}/rotate-secret`, { token: u.accessToken, body: { gracePeriodHours: 2 } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.secret, res.text).toMatch(/^whsec_/)
    expect(res.body.data.secret).not.toBe(e.secret)
    const grace = Date.parse(res.body.data.previousSecretExpiresAt) - Date.now()
    expect(grace, res.text).toBeGreaterThan(2 * 3_600_000 - 60_000)
    expect(grace, res.text).toBeLessThanOrEqual(2 * 3_600_000)
    const got = await call(`/api/v1/webhooks/${e.id}`, { token: u.accessToken })
    expect(got.body.data.secret, got.text).toBeUndefined()
    expect(got.body.data.previousSecretExpiresAt, got.text).toBe(res.body.data.previousSecretExpiresAt)
  })

  it('defaults to a 24 h grace without a body; gracePeriodHours 0 ends the old secret at once', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const res = await call(`/api/v1/webhooks/${e.id}/rotate-secret`, { method: 'POST', token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    const grace = Date.parse(res.body.data.previousSecretExpiresAt) - Date.now()
    expect(grace, res.text).toBeGreaterThan(23.9 * 3_600_000)
    const now = await call(`/api/v1/webhooks/${e.id}/rotate-secret`, { token: u.accessToken, body: { gracePeriodHours: 0 } })
    expect(now.status, now.text).toBe(200)
    expect(now.body.data.previousSecretExpiresAt, now.text).toBeNull()
    const bad = await call(`/api/v1/webhooks/${e.id}/rotate-secret`, { token: u.accessToken, body: { gracePeriodHours: 169 } })
    expectErrorEnvelope(bad, 400, 'VALIDATION_ERROR')
  })
})

describe('access', () => {
  it("another user's endpoint is a 404 on every route", async () => {
    const owner = await registerUser()
    const e = await createEndpoint(owner)
    const h = harness()
    const ev = await emitEvent(owner.id, 'SMS_RECEIVED')
    await runEvents(h, [ev])
    const { id: deliveryId } = (await env.DB.prepare(`SELECT id FROM webhook_deliveries WHERE endpoint_id = ?`).bind(e.id).first<{ id: string }>())!

    const intruder = await registerUser()
    const key = await createApiKey(intruder, ['*'])
    // The intruder's own endpoint: a foreign delivery id under it is still a 404.
    const own = await createEndpoint(intruder)
    const routes: [string, string, unknown?][] = [
      ['GET', `/api/v1/webhooks/${e.id}`],
      ['PUT', `/api/v1/webhooks/${e.id}`, { description: 'mine now' }],
      ['DELETE', `/api/v1/webhooks/${e.id}`],
      ['GET', `/api/v1/webhooks/${e.id}/deliveries`],
      ['POST', `/api/v1/webhooks/${e.id}/test`, { event: 'SMS_RECEIVED' }],
      ['POST', `/api/v1/webhooks/${e.id}/retry/${deliveryId}`],
      ['POST', `/api/v1/webhooks/${own.id}/retry/${deliveryId}`],
      ['POST', `/api/v1/webhooks/${e.id}/rotate-secret`, {}],
    ]
    for (const [method, path, body] of routes) {
      for (const auth of [{ token: intruder.accessToken }, { apiKey: key.key }]) {
        const res = await call(path, { method, body, ...auth })
        expectErrorEnvelope(res, 404, 'NOT_FOUND')
        expect(res.text, `${method} ${path}`).not.toContain(e.url)
      }
    }
    const list = await call('/api/v1/webhooks', { token: intruder.accessToken })
    expect(list.body.data.map((x: { id: string }) => x.id)).toEqual([own.id])

    // nothing changed for the owner
    const row = await endpointRow(e.id)
    expect(row).toMatchObject({ user_id: owner.id, url: e.url, is_active: 1 })
  })

  it('without credentials every route is a 401', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/webhooks'],
      ['POST', '/api/v1/webhooks', { url: URL_A, events: ['*'] }],
      ['GET', '/api/v1/webhooks/whk_x'],
      ['PUT', '/api/v1/webhooks/whk_x', { description: 'x' }],
      ['DELETE', '/api/v1/webhooks/whk_x'],
      ['GET', '/api/v1/webhooks/whk_x/deliveries'],
      ['POST', '/api/v1/webhooks/whk_x/test', { event: 'SMS_RECEIVED' }],
      ['POST', '/api/v1/webhooks/whk_x/retry/dlv_x'],
      ['POST', '/api/v1/webhooks/whk_x/rotate-secret'],
      ['GET', '/api/v1/webhooks/number-callback-secret'],
    ]
    for (const [method, path, body] of routes) expectErrorEnvelope(await call(path, { method, body }), 401, 'UNAUTHORIZED')
  })

  it('an API key needs webhooks:read to read and webhooks:write to change (403 otherwise)', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const none = await createApiKey(u, ['numbers:read'])
    const reader = await createApiKey(u, ['webhooks:read'])
    const writer = await createApiKey(u, ['webhooks:write'])
    const reads: [string, string][] = [
      ['GET', '/api/v1/webhooks'],
      ['GET', `/api/v1/webhooks/${e.id}`],
      ['GET', `/api/v1/webhooks/${e.id}/deliveries`],
    ]
    const writes: [string, string, unknown?][] = [
      ['POST', '/api/v1/webhooks', { url: URL_A, events: ['*'] }],
      ['PUT', `/api/v1/webhooks/${e.id}`, { description: 'x' }],
      ['POST', `/api/v1/webhooks/${e.id}/test`, { event: 'SMS_RECEIVED' }],
      ['POST', `/api/v1/webhooks/${e.id}/retry/dlv_x`],
      ['POST', `/api/v1/webhooks/${e.id}/rotate-secret`, {}],
      ['DELETE', `/api/v1/webhooks/${e.id}`],
    ]
    for (const [method, path] of reads) {
      const denied = await call(path, { method, apiKey: none.key })
      expectErrorEnvelope(denied, 403, 'FORBIDDEN')
      expect(denied.text).toContain('webhooks:read')
      const ok = await call(path, { method, apiKey: reader.key })
      expect(ok.status, `${method} ${path}: ${ok.text}`).toBe(200)
    }
    for (const [method, path, body] of writes) {
      for (const key of [none, reader]) {
        const denied = await call(path, { method, body, apiKey: key.key })
        expectErrorEnvelope(denied, 403, 'FORBIDDEN')
        expect(denied.text).toContain('webhooks:write')
      }
    }
    // the write key may create (and the reader saw nothing change)
    const created = await call('/api/v1/webhooks', { apiKey: writer.key, body: { url: URL_A, events: ['*'] } })
    expect(created.status, created.text).toBe(201)
    expect(created.body.data.secret).toMatch(/^whsec_/)
    // the number-callback secret needs a session, never a key
    expectErrorEnvelope(await call('/api/v1/webhooks/number-callback-secret', { apiKey: reader.key }), 403, 'FORBIDDEN')
    const session = await call('/api/v1/webhooks/number-callback-secret', { token: u.accessToken })
    expect(session.status, session.text).toBe(200)
    expect(session.body.data.secret, session.text).toMatch(/^whsec_/)
  })
})

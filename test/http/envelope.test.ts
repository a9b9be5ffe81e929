import { describe, expect, it } from 'vitest'
import { MAX_BODY_BYTES, createApp } from '../../src/app'
import { call, expectErrorEnvelope, freshIp, registerUser } from '../helpers/api'
import { callApp, send } from '../helpers/app'

const REQ_ID = /^[A-Za-z0-9._:-]{1,128}$/

describe('error envelope', () => {
  it('answers an unknown route with 404 NOT_FOUND', async () => {
    const res = await call('/api/v1/no-such-thing')
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
    expect(res.body.error.message, res.text).toContain('/api/v1/no-such-thing')
    expect(res.headers.get('content-type'), res.text).toMatch(/application\/json/)
  })

  it('answers an unknown method on a known path with 404 NOT_FOUND', async () => {
    const res = await call('/api/v1/auth/login', { method: 'DELETE' })
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
  })

  it('answers malformed JSON with 400 VALIDATION_ERROR', async () => {
    const res = await call('/api/v1/auth/login', {
      method: 'POST',
      rawBody: '{"email": "a@example.com", "password": ',
      headers: { 'content-type': 'application/json' },
    })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
  })

  it('answers a body that is not declared as JSON with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await call('/api/v1/auth/login', {
      method: 'POST',
      rawBody: 'email=a@example.com&password=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expectErrorEnvelope(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
  })

  it('answers a non-object JSON body with 400 VALIDATION_ERROR', async () => {
    const res = await call('/api/v1/auth/login', { body: [1, 2, 3] })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
  })

  it('lists every failing field in details and names the first in error.field', async () => {
    const res = await call('/api/v1/auth/register', { body: { email: 'not-an-email', password: 'short', acceptTerms: 'yes' } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    const details = res.body.error.details as { field: string; message: string }[]
    expect(Array.isArray(details), res.text).toBe(true)
    for (const d of details) {
      expect(typeof d.field, res.text).toBe('string')
      expect(typeof d.message, res.text).toBe('string')
      expect(d.message.length, res.text).toBeGreaterThan(0)
    }
    const fields = details.map((d) => d.field)
    expect(fields, res.text).toEqual(expect.arrayContaining(['email', 'password', 'acceptTerms']))
    expect(res.body.error.field, res.text).toBe(details[0]!.field)
  })

  it('names a nested field by its dotted path', async () => {
    const res = await call('/api/v1/auth/login', {
      body: { email: 'someone@example.com', password: 'x', deviceInfo: { platform: 42 } },
    })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(
      res.body.error.details.map((d: { field: string }) => d.field),
      res.text,
    ).toContain('deviceInfo.platform')
    expect(res.body.error.field, res.text).toBe('deviceInfo.platform')
  })

  it('refuses a body over 1 MB that declares its Content-Length with 413 PAYLOAD_TOO_LARGE', async () => {
    const big = JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(MAX_BODY_BYTES) })
    const res = await call('/api/v1/auth/login', {
      method: 'POST',
      rawBody: big,
      headers: { 'content-type': 'application/json', 'content-length': String(new TextEncoder().encode(big).length) },
    })
    expectErrorEnvelope(res, 413, 'PAYLOAD_TOO_LARGE')
  })

  it('refuses by the declared Content-Length alone, before reading the body', async () => {
    const request = new Request('http://switchboard.test/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(MAX_BODY_BYTES + 1), 'cf-connecting-ip': freshIp() },
      body: '{"email":"a@example.com","password":"x"}',
    })
    expect(request.headers.get('content-length')).toBe(String(MAX_BODY_BYTES + 1))
    const res = await send(createApp(), request)
    expectErrorEnvelope(res, 413, 'PAYLOAD_TOO_LARGE')
    expect(res.body.error.details?.maxBytes, res.text).toBe(MAX_BODY_BYTES)
  })

  it('refuses a streamed body over 1 MB without Content-Length with 413 PAYLOAD_TOO_LARGE', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024))
    const chunks = Math.ceil(MAX_BODY_BYTES / chunk.length) + 2
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"email":"a@example.com","password":"'))
        if (sent++ < chunks) controller.enqueue(chunk)
        else {
          controller.enqueue(new TextEncoder().encode('"}'))
          controller.close()
        }
      },
    })
    const request = new Request('http://switchboard.test/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': freshIp() },
      body: stream,
    })
    expect(request.headers.has('content-length')).toBe(false)
    const res = await send(createApp(), request)
    expectErrorEnvelope(res, 413, 'PAYLOAD_TOO_LARGE')
  })

  it('accepts a body just under the limit (the limit is not off by much)', async () => {
    const body = JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(MAX_BODY_BYTES - 100) })
    const res = await call('/api/v1/auth/login', { method: 'POST', rawBody: body, headers: { 'content-type': 'application/json' } })
    // Too long for the password schema (max 128), but it got past the body limit.
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
  })
})

describe('unexpected errors', () => {
  it('answer 500 INTERNAL_ERROR in the envelope without leaking the cause', async () => {
    const brokenDb = {
      prepare: () => {
        throw new Error('D1 secret-internal-detail')
      },
      batch: async () => {
        throw new Error('D1 secret-internal-detail')
      },
    }
    const res = await callApp('/api/v1/auth/login', { env: { DB: brokenDb }, body: { email: 'someone@example.com', password: 'whatever-1' } })
    expectErrorEnvelope(res, 500, 'INTERNAL_ERROR')
    expect(res.text).not.toContain('secret-internal-detail')
    expect(res.body.meta.requestId, res.text).toBe(res.headers.get('x-request-id'))
  })
})

describe('success envelope', () => {
  it('wraps data with success and meta {timestamp, requestId}', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/auth/me', { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.success, res.text).toBe(true)
    expect(res.body.data?.email, res.text).toBe(u.email)
    expect(typeof res.body.meta?.timestamp, res.text).toBe('string')
    expect(new Date(res.body.meta.timestamp).toISOString(), res.text).toBe(res.body.meta.timestamp)
    expect(Math.abs(Date.parse(res.body.meta.timestamp) - Date.now()), res.text).toBeLessThan(60_000)
    expect(res.body.meta.requestId, res.text).toMatch(REQ_ID)
    expect(res.body.meta.requestId, res.text).toBe(res.headers.get('x-request-id'))
  })
})

describe('X-Request-Id', () => {
  it('honours and echoes a sane client id (header and meta)', async () => {
    const id = `client-req.${crypto.randomUUID()}`
    const res = await call('/health', { headers: { 'x-request-id': id } })
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('x-request-id'), res.text).toBe(id)
    expect(res.body.meta.requestId, res.text).toBe(id)
  })

  it('echoes the client id in error envelopes too', async () => {
    const id = `err-${crypto.randomUUID()}`
    const res = await call('/nope', { headers: { 'x-request-id': id } })
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
    expect(res.headers.get('x-request-id'), res.text).toBe(id)
    expect(res.body.meta.requestId, res.text).toBe(id)
  })

  it.each([
    ['spaces', 'has spaces in it'],
    ['500 characters', 'a'.repeat(500)],
    ['markup', '<script>alert(1)</script>'],
  ])('replaces an invalid id (%s)', async (_, bad) => {
    const res = await call('/health', { headers: { 'x-request-id': bad } })
    expect(res.status, res.text).toBe(200)
    const got = res.headers.get('x-request-id')
    expect(got, res.text).not.toBe(bad)
    expect(got, res.text).toMatch(REQ_ID)
    expect(res.body.meta.requestId, res.text).toBe(got)
  })

  it('generates a unique id when absent', async () => {
    const a = await call('/health')
    const b = await call('/health')
    const ida = a.headers.get('x-request-id')
    const idb = b.headers.get('x-request-id')
    expect(ida, a.text).toMatch(REQ_ID)
    expect(idb, b.text).toMatch(REQ_ID)
    expect(ida).not.toBe(idb)
    expect(a.body.meta.requestId, a.text).toBe(ida)
  })
})

describe('secure headers', () => {
  it('sets the usual security headers on success and error answers', async () => {
    for (const path of ['/health/live', '/does-not-exist']) {
      const res = await call(path)
      expect(res.headers.get('x-content-type-options'), `${path}: ${res.text}`).toBe('nosniff')
      expect(res.headers.get('x-frame-options'), `${path}: ${res.text}`).toBeTruthy()
      expect(res.headers.get('strict-transport-security'), `${path}: ${res.text}`).toMatch(/max-age=\d+/)
      expect(res.headers.get('referrer-policy'), `${path}: ${res.text}`).toBeTruthy()
    }
  })
})

describe('CORS', () => {
  const allowed = 'https://app.example.com'
  const overrides = { CORS_ORIGINS: `${allowed}, https://admin.example.com` }

  it('allows an origin listed in CORS_ORIGINS', async () => {
    const res = await callApp('/health/live', { env: overrides, headers: { origin: allowed } })
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('access-control-allow-origin'), res.text).toBe(allowed)
    expect(res.headers.get('access-control-expose-headers') ?? '', res.text).toMatch(/x-request-id/i)
  })

  it('answers a preflight from a listed origin', async () => {
    const res = await callApp('/api/v1/auth/login', {
      method: 'OPTIONS',
      env: overrides,
      headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    })
    expect(res.status, res.text).toBeLessThan(300)
    expect(res.headers.get('access-control-allow-origin'), res.text).toBe('https://admin.example.com')
    expect(res.headers.get('access-control-allow-methods') ?? '', res.text).toMatch(/POST/)
  })

  it('sets the CORS headers on error answers too, so browsers can read them', async () => {
    const res = await callApp('/api/v1/auth/me', { env: overrides, headers: { origin: allowed } })
    expectErrorEnvelope(res, 401, 'UNAUTHORIZED')
    expect(res.headers.get('access-control-allow-origin'), res.text).toBe(allowed)
  })

  it('does not allow an origin that is not listed', async () => {
    const res = await callApp('/health', { env: overrides, headers: { origin: 'https://evil.example.net' } })
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('access-control-allow-origin'), res.text).toBeNull()
  })

  it('allows no origin when CORS_ORIGINS is empty', async () => {
    const res = await callApp('/health', { env: { CORS_ORIGINS: '' }, headers: { origin: allowed } })
    expect(res.headers.get('access-control-allow-origin'), res.text).toBeNull()
  })
})

describe('configuration', () => {
  it('refuses to run with a weak secret: 500 in the envelope, never showing the value', async () => {
    const res = await callApp('/health/live', { env: { JWT_SECRET: 'short-secret' } })
    expectErrorEnvelope(res, 500, 'INTERNAL_ERROR')
    expect(res.text).not.toContain('short-secret')
  })
})

import { env } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import { createApp } from '../../../src/app'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { registerSims, simProvider, uniqueIccid } from '../../helpers/sims'

const metricsStub = () => env.METRICS.get(env.METRICS.idFromName('global'))

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const got: Record<string, string> = {}
    for (const [, k, v] of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[k!] = v!
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) {
      if (Object.keys(got).length !== Object.keys(labels).length) continue
      return Number(m[4])
    }
  }
  return undefined
}

/** Sum over every sample of `name` whose labels include `labels`. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const got: Record<string, string> = {}
    for (const [, k, v] of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[k!] = v!
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4])
  }
  return sum
}

/**
 * Scrapes /metrics until `ready(text)` holds: counts sent by earlier requests' waitUntil flushes
 * may still be on their way to the Metrics object.
 */
async function scrapeUntil(ready: (text: string) => boolean, path = '/metrics') {
  let res = await call(path)
  for (let i = 0; i < 20 && res.status === 200 && !ready(res.text); i++) {
    await new Promise((r) => setTimeout(r, 50))
    res = await call(path)
  }
  return res
}

const dbCount = async (query: string, ...binds: unknown[]) =>
  (await env.DB.prepare(query)
    .bind(...binds)
    .first<{ n: number }>())!.n

describe('/metrics', () => {
  it('counts requests by route pattern, method and status, with latency histograms', async () => {
    const u = await registerUser()
    const key = await createApiKey(u)
    for (let i = 0; i < 3; i++) {
      const res = await call(`/api/v1/api-keys/${key.id}`, { token: u.accessToken })
      expect(res.status, res.text).toBe(200)
    }
    const missing = await call('/api/v1/api-keys/key_does_not_exist', { token: u.accessToken })
    expectErrorEnvelope(missing, 404, 'NOT_FOUND')

    const ok = { method: 'GET', endpoint: '/api/v1/api-keys/:id', status: '200' }
    const res = await scrapeUntil((t) => (sample(t, 'http_requests_total', ok) ?? 0) >= 3 && sample(t, 'http_requests_total', { ...ok, status: '404' }) !== undefined)
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('content-type'), res.text).toMatch(/^text\/plain/)
    expect(res.text, res.text).toContain('# TYPE http_requests_total counter')
    expect(res.text, res.text).toContain('# TYPE http_request_duration_seconds histogram')

    expect(sample(res.text, 'http_requests_total', ok), res.text).toBe(3)
    expect(sample(res.text, 'http_requests_total', { ...ok, status: '404' }), res.text).toBe(1)
    // By pattern, never by the raw id.
    expect(res.text, res.text).not.toContain(key.id)
    expect(res.text, res.text).not.toContain('key_does_not_exist')
    expect(sample(res.text, 'http_requests_total', { method: 'POST', endpoint: '/api/v1/auth/register', status: '201' }), res.text).toBeGreaterThanOrEqual(1)
    expect(sample(res.text, 'http_requests_total', { method: 'POST', endpoint: '/api/v1/api-keys', status: '201' }), res.text).toBe(1)

    const route = { method: 'GET', endpoint: '/api/v1/api-keys/:id' }
    expect(sample(res.text, 'http_request_duration_seconds_count', route), res.text).toBe(4)
    expect(sample(res.text, 'http_request_duration_seconds_bucket', { ...route, le: '+Inf' }), res.text).toBe(4)
    const sum = sample(res.text, 'http_request_duration_seconds_sum', route)
    expect(sum !== undefined && sum >= 0, res.text).toBe(true)
    // Buckets are cumulative and end at the count.
    const buckets = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'].map((le) => sample(res.text, 'http_request_duration_seconds_bucket', { ...route, le }))
    expect(
      buckets.every((b) => b !== undefined),
      res.text,
    ).toBe(true)
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!, res.text).toBeGreaterThanOrEqual(buckets[i - 1]!)
  })

  it('labels a request that matched no route as unmatched, not by its path', async () => {
    await call('/no/such/route/abc123')
    const res = await scrapeUntil((t) => sample(t, 'http_requests_total', { method: 'GET', endpoint: 'unmatched', status: '404' }) !== undefined)
    expect(sample(res.text, 'http_requests_total', { method: 'GET', endpoint: 'unmatched', status: '404' }), res.text).toBeGreaterThanOrEqual(1)
    expect(res.text, res.text).not.toContain('abc123')
  })

  it('reports D1 gauges users_total, api_keys_active and sessions_active with the right numbers', async () => {
    const before = await call('/api/metrics')
    expect(before.status, before.text).toBe(200)

    const u = await registerUser() // +1 active user, +1 session
    const k1 = await createApiKey(u)
    await createApiKey(u)
    const revoke = await call(`/api/v1/api-keys/${k1.id}`, { method: 'DELETE', token: u.accessToken })
    expect(revoke.status, revoke.text).toBeLessThan(300)
    const login = await call('/api/v1/auth/login', { body: { email: u.email, password: 'Correct-Horse-42' } }) // +1 session
    expect(login.status, login.text).toBe(200)
    const suspended = await registerUser()
    await env.DB.prepare(`UPDATE users SET status = 'suspended' WHERE id = ?`).bind(suspended.id).run()

    const after = await call('/api/metrics')
    expect(after.status, after.text).toBe(200)
    const now = Date.now()
    const active = { status: 'active', role: 'user' }
    expect(sample(after.text, 'users_total', active)! - (sample(before.text, 'users_total', active) ?? 0), after.text).toBe(1)
    expect(sample(after.text, 'users_total', { status: 'suspended', role: 'user' }), after.text).toBe(await dbCount(`SELECT COUNT(*) AS n FROM users WHERE status = 'suspended' AND role = 'user'`))
    expect(total(after.text, 'users_total'), after.text).toBe(await dbCount('SELECT COUNT(*) AS n FROM users'))
    expect(sample(after.text, 'api_keys_active')! - sample(before.text, 'api_keys_active')!, after.text).toBe(1)
    expect(sample(after.text, 'api_keys_active'), after.text).toBe(await dbCount('SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)', now))
    expect(sample(after.text, 'sessions_active')! - sample(before.text, 'sessions_active')!, after.text).toBe(3)
    expect(sample(after.text, 'sessions_active'), after.text).toBe(await dbCount('SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL AND expires_at > ?', now))
  })

  it('reports active_sims_total: registered SIMs whose status is Enabled', async () => {
    await simProvider({ alwaysConnected: true })
    const before = await call('/api/metrics')
    const u = await registerUser()
    const iccids = [uniqueIccid(), uniqueIccid(), uniqueIccid()]
    await registerSims(u, iccids)
    const off = await call(`/api/v1/sims/${iccids[0]}`, { method: 'PUT', token: u.accessToken, body: { status: 'Disabled' } })
    expect(off.status, off.text).toBe(200)
    const after = await call('/api/metrics')
    expect(after.text).toContain('# TYPE active_sims_total gauge')
    expect(sample(after.text, 'active_sims_total')! - (sample(before.text, 'active_sims_total') ?? 0), after.text).toBe(2)
    expect(sample(after.text, 'active_sims_total'), after.text).toBe(await dbCount(`SELECT COUNT(*) AS n FROM sims WHERE status = 'Enabled'`))
  })

  it('keeps the totals in the Metrics Durable Object, across app instances', async () => {
    const path = '/api/health/live'
    const seriesCount = async () => (await metricsStub().series()).find((s) => s.method === 'GET' && s.route === path && s.status === 200)?.count ?? 0
    const start = await seriesCount()

    const first = createApp()
    for (let i = 0; i < 2; i++) expect((await callApp(path, { app: first })).status).toBe(200)
    expect((await callApp('/metrics', { app: first })).status).toBe(200) // flushes this isolate's buffer
    expect(await seriesCount()).toBe(start + 2)

    const second = createApp()
    for (let i = 0; i < 3; i++) expect((await callApp(path, { app: second })).status).toBe(200)
    const res = await callApp('/metrics', { app: second })
    expect(res.status, res.text).toBe(200)
    expect(await seriesCount()).toBe(start + 5)
    expect(sample(res.text, 'http_requests_total', { method: 'GET', endpoint: path, status: '200' }), res.text).toBe(start + 5)
  })
})

describe('METRICS_TOKEN', () => {
  const token = 'metrics-scrape-token-0123456789'
  const overrides = { METRICS_TOKEN: token }

  it.each(['/metrics', '/api/metrics'])('%s needs the token when one is set', async (path) => {
    expectErrorEnvelope(await callApp(path, { env: overrides }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await callApp(path, { env: overrides, headers: { authorization: 'Bearer wrong-token' } }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await callApp(path, { env: overrides, headers: { authorization: `Bearer ${token}x` } }), 401, 'UNAUTHORIZED')
    const res = await callApp(path, { env: overrides, headers: { authorization: `Bearer ${token}` } })
    expect(res.status, res.text).toBe(200)
    expect(res.text, res.text).toContain('http_requests_total')
  })

  it('is open without a token when none is configured', async () => {
    const res = await callApp('/metrics')
    expect(res.status, res.text).toBe(200)
  })
})

describe('METRICS_TOKEN in production', () => {
  const token = 'production-metrics-token-0123456789'

  /** The error lines logged while `run` ran. */
  async function loggedErrors(run: () => Promise<void>): Promise<string> {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      await run()
      return spy.mock.calls.map((args) => args.map(String).join(' ')).join('\n')
    } finally {
      spy.mockRestore()
    }
  }

  it('is required: without it (or with a short one) every request answers 500 and the log names METRICS_TOKEN', async () => {
    for (const value of [undefined, '', 'short-token']) {
      const overrides = { ENVIRONMENT: 'production', METRICS_TOKEN: value }
      const log = await loggedErrors(async () => {
        for (const path of ['/metrics', '/api/metrics', '/api/v1/auth/me', '/health/ready']) {
          const res = await callApp(path, { env: overrides })
          expectErrorEnvelope(res, 500, 'INTERNAL_ERROR')
          expect(res.text, res.text).not.toContain('http_requests_total')
          if (value) expect(res.text, 'the value is never shown').not.toContain(value)
        }
      })
      const lines = log.split('\n').filter((l) => l.includes('METRICS_TOKEN'))
      expect(lines.length, `${JSON.stringify(value)}: ${log}`).toBeGreaterThanOrEqual(4)
      const line = JSON.parse(lines[0]!)
      expect(line, lines[0]).toMatchObject({ level: 'error' })
      expect(line.message, lines[0]).toMatch(/METRICS_TOKEN.*production/)
      if (value) expect(log, 'the value is never logged').not.toContain(value)
    }
  })

  it('with a token set, the API runs and /metrics needs the token', async () => {
    const overrides = { ENVIRONMENT: 'production', METRICS_TOKEN: token }
    const u = await registerUser()
    const me = await callApp('/api/v1/auth/me', { env: overrides, token: u.accessToken })
    expect(me.status, me.text).toBe(200)
    for (const path of ['/metrics', '/api/metrics']) {
      expectErrorEnvelope(await callApp(path, { env: overrides }), 401, 'UNAUTHORIZED')
      const res = await callApp(path, { env: overrides, headers: { authorization: `Bearer ${token}` } })
      expect(res.status, res.text).toBe(200)
      expect(res.text, res.text).toContain('users_total')
    }
  })

  it('stays optional outside production', async () => {
    for (const environment of ['development', 'staging', 'test']) {
      const res = await callApp('/metrics', { env: { ENVIRONMENT: environment, METRICS_TOKEN: '' } })
      expect(res.status, `${environment}: ${res.text}`).toBe(200)
    }
  })
})

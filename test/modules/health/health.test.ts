import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { setProviderConfig } from '../../helpers/providers'
import { simProvider } from '../../helpers/sims'

const CHECKS = ['database', 'wallet', 'number_lock', 'rate_limiter', 'metrics', 'once_api']
let simUpstream: { id: string }

beforeAll(async () => {
  simUpstream = await simProvider()
})

/** A Durable Object namespace whose every use fails, as a misconfigured binding would. */
const brokenNamespace = {
  idFromName: () => {
    throw new Error('binding WALLET is broken')
  },
  get: () => {
    throw new Error('binding WALLET is broken')
  },
}

/** A D1 binding whose every statement fails. */
const brokenDb = {
  prepare: () => {
    throw new Error('D1 is down')
  },
  batch: async () => {
    throw new Error('D1 is down')
  },
  exec: async () => {
    throw new Error('D1 is down')
  },
}

describe('basic health', () => {
  it('/health answers {status: healthy}', async () => {
    const res = await call('/health')
    expect(res.status, res.text).toBe(200)
    expect(res.body.success, res.text).toBe(true)
    expect(res.body.data.status, res.text).toBe('healthy')
    expect(Number.isNaN(Date.parse(res.body.data.timestamp)), res.text).toBe(false)
  })

  it('/api/health answers {status: ok} (the activation API)', async () => {
    const res = await call('/api/health')
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status, res.text).toBe('ok')
    expect(Number.isNaN(Date.parse(res.body.data.timestamp)), res.text).toBe(false)
  })

  it.each(['/health', '/api/health'])('%s, answered ahead of the router, carries the request id, metrics and the JSON security headers', async (path) => {
    const other = await call('/health/live', { headers: { 'x-request-id': 'probe-other-1' } })
    const res = await call(path, { headers: { 'x-request-id': 'probe-health-1' } })
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('x-request-id')).toBe('probe-health-1')
    expect(res.body.meta, res.text).toMatchObject({ requestId: 'probe-health-1', request_id: 'probe-health-1', version: 'v1' })
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    // The security headers that apply to a JSON body, with the middleware's values (no CORS: documented).
    const LIVENESS_SECURITY = ['cross-origin-resource-policy', 'strict-transport-security', 'x-content-type-options']
    const security = (h: Headers) => [...h.entries()].filter(([k]) => !['content-type', 'content-length', 'x-request-id', 'date', 'vary'].includes(k) && !k.startsWith('access-control-')).sort()
    expect(security(res.headers)).toEqual(security(other.headers).filter(([k]) => LIVENESS_SECURITY.includes(k)))
    expect(security(res.headers).map(([k]) => k)).toEqual(LIVENESS_SECURITY)
    // The same answer through the app's own route (the app called without the Worker's fetch).
    const viaApp = await callApp(path)
    expect(viaApp.status).toBe(200)
    expect(security(viaApp.headers)).toEqual(security(res.headers))
  })

  it('counts liveness polls in /metrics', async () => {
    for (let i = 0; i < 3; i++) expect((await call('/api/health')).status).toBe(200)
    const metrics = await call('/metrics')
    expect(metrics.text).toMatch(/http_requests_total\{method="GET",endpoint="\/api\/health",status="200"\} [1-9]/)
  })

  it.each(['/health/live', '/api/health/live'])('%s answers {status: alive}', async (path) => {
    const res = await call(path)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status, res.text).toBe('alive')
  })

  it('liveness does not touch dependencies (answers with D1 broken)', async () => {
    const res = await callApp('/health/live', { env: { DB: brokenDb } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status, res.text).toBe('alive')
  })
})

describe('readiness', () => {
  it.each(['/health/ready', '/api/health/ready'])('%s is 200 with every check healthy', async (path) => {
    const res = await call(path)
    expect(res.status, res.text).toBe(200)
    expect(res.body.success, res.text).toBe(true)
    expect(res.body.data.status, res.text).toBe('ready')
    expect(Object.keys(res.body.data.checks).sort(), res.text).toEqual([...CHECKS].sort())
    for (const name of CHECKS) {
      expect(res.body.data.checks[name], `${name}: ${res.text}`).toBe('healthy')
      expect(res.body.data.details[name].status, `${name}: ${res.text}`).toBe('healthy')
      expect(typeof res.body.data.details[name].responseTime, res.text).toBe('number')
    }
  })

  it.each(['/health/ready', '/api/health/ready'])('%s is 503 SERVICE_UNAVAILABLE when a Durable Object binding is broken', async (path) => {
    const res = await callApp(path, { env: { WALLET: brokenNamespace } })
    expectErrorEnvelope(res, 503, 'SERVICE_UNAVAILABLE')
    expect(res.body.data?.status, res.text).toBe('not_ready')
    expect(res.body.data.checks.wallet, res.text).toBe('unhealthy')
    expect(res.body.data.details.wallet.error, res.text).toContain('broken')
    for (const name of CHECKS.filter((n) => n !== 'wallet')) expect(res.body.data.checks[name], `${name}: ${res.text}`).toBe('healthy')
    expect(res.body.error.message, res.text).toContain('wallet')
  })

  it('is 503 when a Durable Object answers with an error', async () => {
    const failingGet = {
      idFromName: (name: string) => env.WALLET.idFromName(name),
      get: () => ({ ping: async () => Promise.reject(new Error('object crashed')) }),
    }
    const res = await callApp('/health/ready', { env: { NUMBER_LOCK: failingGet } })
    expectErrorEnvelope(res, 503, 'SERVICE_UNAVAILABLE')
    expect(res.body.data.checks.number_lock, res.text).toBe('unhealthy')
    expect(res.body.data.checks.wallet, res.text).toBe('healthy')
  })

  it('reports the SIM provider as once_api without making the API not ready when it fails', async () => {
    await setProviderConfig(simUpstream.id, { sim: { failure: 'upstream_error' } })
    try {
      const res = await call('/health/ready')
      expect(res.status, res.text).toBe(200)
      expect(res.body.data.status, res.text).toBe('ready')
      expect(res.body.data.checks.once_api, res.text).toBe('unhealthy')
      expect(res.body.data.details.once_api.error, res.text).toBeTruthy()
    } finally {
      await setProviderConfig(simUpstream.id, {})
    }
    expect((await call('/health/ready')).body.data.checks.once_api).toBe('healthy')
  })

  it('is 503 with database unhealthy when D1 fails', async () => {
    const res = await callApp('/api/health/ready', { env: { DB: brokenDb } })
    expectErrorEnvelope(res, 503, 'SERVICE_UNAVAILABLE')
    expect(res.body.data.status, res.text).toBe('not_ready')
    expect(res.body.data.checks.database, res.text).toBe('unhealthy')
  })
})

describe('admin system health', () => {
  it('answers the documented shape for an admin', async () => {
    const admin = await registerAdmin()
    await call('/health')
    const res = await call('/api/v1/admin/system/health', { token: admin.accessToken })
    expect(res.status, res.text).toBe(200)
    const d = res.body.data
    expect(d.status, res.text).toBe('healthy')
    expect(Number.isNaN(Date.parse(d.timestamp)), res.text).toBe(false)
    for (const name of ['database', 'redis', 'twilio', 'stripe']) {
      expect(['up', 'down'], `services.${name}: ${res.text}`).toContain(d.services?.[name]?.status)
      expect(typeof d.services[name].responseTime, `services.${name}: ${res.text}`).toBe('number')
    }
    expect(d.services.database.status, res.text).toBe('up')
    expect(typeof d.services.database.connections, res.text).toBe('number')
    expect(d.services.redis.status, res.text).toBe('up')
    expect(typeof d.services.redis.memory, res.text).toBe('number')
    // Not configured in tests: shown as such, and they do not degrade the status.
    expect(d.services.twilio.configured, res.text).toBe(false)
    expect(d.services.stripe.configured, res.text).toBe(false)
    for (const name of ['uptime', 'requestsPerMinute', 'errorRate', 'avgResponseTime']) {
      expect(typeof d.metrics?.[name], `metrics.${name}: ${res.text}`).toBe('number')
      expect(d.metrics[name], `metrics.${name}: ${res.text}`).toBeGreaterThanOrEqual(0)
    }
    expect(d.metrics.errorRate, res.text).toBeLessThanOrEqual(1)
    // The requests made above (at least the registration and /health) were counted.
    expect(d.metrics.requestsPerMinute, res.text).toBeGreaterThan(0)
  })

  it('is degraded when a Durable Object namespace fails', async () => {
    const admin = await registerAdmin()
    const res = await callApp('/api/v1/admin/system/health', { token: admin.accessToken, env: { WALLET: brokenNamespace } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status, res.text).toBe('degraded')
    expect(res.body.data.services.database.status, res.text).toBe('up')
  })

  it('stripe: not configured without STRIPE_SECRET_KEY; configured (and checked) with it', async () => {
    const admin = await registerAdmin()
    const without = await callApp('/api/v1/admin/system/health', { token: admin.accessToken, env: { STRIPE_SECRET_KEY: undefined } })
    expect(without.status, without.text).toBe(200)
    expect(without.body.data.services.stripe, without.text).toEqual({ status: 'down', responseTime: 0, configured: false, lastError: 'not configured' })
    expect(without.body.data.status, without.text).toBe('healthy')

    // A key is set but Stripe cannot be reached (nothing listens there): configured, down, degraded.
    const key = 'sk_test_51HealthCheckSecretKey0123456789abcdef'
    const unreachable = await callApp('/api/v1/admin/system/health', {
      token: admin.accessToken,
      env: { STRIPE_SECRET_KEY: key, STRIPE_API_BASE: 'http://127.0.0.1:9' },
    })
    expect(unreachable.status, unreachable.text).toBe(200)
    const stripe = unreachable.body.data.services.stripe
    expect(stripe, unreachable.text).toMatchObject({ status: 'down', configured: true })
    expect(typeof stripe.lastError, unreachable.text).toBe('string')
    expect(stripe.lastError, unreachable.text).not.toBe('not configured')
    expect(typeof stripe.responseTime, unreachable.text).toBe('number')
    expect(unreachable.text).not.toContain(key)
    expect(unreachable.body.data.status, unreachable.text).toBe('degraded')
  })

  it('is 403 FORBIDDEN for a normal user and 401 without credentials', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await call('/api/v1/admin/system/health', { token: u.accessToken }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/v1/admin/system/health'), 401, 'UNAUTHORIZED')
  })
})

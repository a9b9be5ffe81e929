import { describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import { DEFAULT_LIMITS } from '../../src/modules/rate-limit/limits'
import { call, createApiKey, expectErrorEnvelope, freshIp, registerUser, uniqueEmail } from '../helpers/api'
import { awayFromWindowEdge, callApp } from '../helpers/app'
import { policyFor, routeDeclarations } from '../helpers/policy'

/** The class the rate limiter counts a request in: the one declared by the route it reaches. */
const routed = createApp()
const classify = (method: string, path: string) => policyFor(routed, method, path).rateClass

const login = (ip: string) => call('/api/v1/auth/login', { ip, body: { email: uniqueEmail('nobody'), password: 'wrong-password-1' } })

describe('rate-limit headers', () => {
  it('sets X-RateLimit-Limit/Remaining/Reset on a limited route and counts down', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.general.windowSeconds)
    const u = await registerUser()
    const first = await call('/api/v1/auth/me', { token: u.accessToken })
    const second = await call('/api/v1/auth/me', { token: u.accessToken })
    expect(first.status, first.text).toBe(200)
    expect(first.headers.get('x-ratelimit-limit'), first.text).toBe(String(DEFAULT_LIMITS.general.limit))
    expect(first.headers.get('x-ratelimit-remaining'), first.text).toBe(String(DEFAULT_LIMITS.general.limit - 1))
    expect(second.headers.get('x-ratelimit-remaining'), second.text).toBe(String(DEFAULT_LIMITS.general.limit - 2))
    const reset = Number(first.headers.get('x-ratelimit-reset'))
    const nowSec = Date.now() / 1000
    expect(reset, first.text).toBeGreaterThan(nowSec)
    expect(reset, first.text).toBeLessThanOrEqual(Math.ceil(nowSec) + DEFAULT_LIMITS.general.windowSeconds)
    expect(second.headers.get('x-ratelimit-reset')).toBe(first.headers.get('x-ratelimit-reset'))
  })

  it('counts an unauthenticated request per IP', async () => {
    const ip = freshIp()
    const a = await call('/api/v1/auth/me', { ip })
    expectErrorEnvelope(a, 401, 'UNAUTHORIZED')
    expect(a.headers.get('x-ratelimit-limit'), a.text).toBe(String(DEFAULT_LIMITS.general.limit))
  })
})

describe('auth class', () => {
  it('refuses the 6th login from one IP with 429, details.retry_after and Retry-After; another IP is unaffected', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.auth.windowSeconds)
    const ip = freshIp()
    for (let i = 1; i <= 5; i++) {
      const res = await login(ip)
      expectErrorEnvelope(res, 401, 'INVALID_CREDENTIALS')
      expect(res.headers.get('x-ratelimit-limit'), res.text).toBe('5')
      expect(res.headers.get('x-ratelimit-remaining'), res.text).toBe(String(5 - i))
    }
    const sixth = await login(ip)
    expectErrorEnvelope(sixth, 429, 'RATE_LIMIT_EXCEEDED')
    const retryAfter = sixth.body.error.details?.retry_after
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 15 * 60, sixth.text).toBe(true)
    expect(sixth.headers.get('retry-after'), sixth.text).toBe(String(retryAfter))
    expect(sixth.headers.get('x-ratelimit-remaining'), sixth.text).toBe('0')
    // Retry-After agrees with X-RateLimit-Reset.
    const untilReset = Number(sixth.headers.get('x-ratelimit-reset')) - Date.now() / 1000
    expect(Math.abs(untilReset - retryAfter), sixth.text).toBeLessThanOrEqual(2)

    const other = await login(freshIp())
    expectErrorEnvelope(other, 401, 'INVALID_CREDENTIALS')
  })

  it('counts the auth class per IP even for a logged-in caller, and other classes are separate', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.auth.windowSeconds)
    const u = await registerUser()
    const ip = freshIp()
    for (let i = 0; i < 5; i++) await call('/api/v1/auth/login', { ip, token: u.accessToken, body: { email: u.email, password: 'nope-nope-1' } })
    const refused = await call('/api/v1/auth/login', { ip, token: u.accessToken, body: { email: u.email, password: 'nope-nope-1' } })
    expectErrorEnvelope(refused, 429, 'RATE_LIMIT_EXCEEDED')
    // The general class of the same IP and user is untouched.
    const me = await call('/api/v1/auth/me', { ip, token: u.accessToken })
    expect(me.status, me.text).toBe(200)
  })

  it('lets no more than 5 of 12 concurrent logins from one IP through', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.auth.windowSeconds)
    const ip = freshIp()
    const results = await Promise.all(Array.from({ length: 12 }, () => login(ip)))
    const refused = results.filter((r) => r.status === 429)
    const passed = results.filter((r) => r.status !== 429)
    expect(passed.length, results.map((r) => `${r.status}`).join(',')).toBe(5)
    for (const r of refused) expectErrorEnvelope(r, 429, 'RATE_LIMIT_EXCEEDED')
  })
})

describe('RATE_LIMITS override', () => {
  const overrides = { RATE_LIMITS: '{"general":{"limit":3}}' }

  it('makes the 4th general request from one user a 429', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.general.windowSeconds)
    const u = await registerUser()
    const app = createApp()
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const res = await callApp('/api/v1/auth/me', { app, env: overrides, token: u.accessToken, ip: freshIp() })
      expect(res.status, res.text).toBe(200)
      expect(res.headers.get('x-ratelimit-limit'), res.text).toBe('3')
      statuses.push(res.status)
    }
    // A different IP does not help: a logged-in caller is counted per user.
    const fourth = await callApp('/api/v1/auth/me', { app, env: overrides, token: u.accessToken, ip: freshIp() })
    expectErrorEnvelope(fourth, 429, 'RATE_LIMIT_EXCEEDED')
    expect(fourth.headers.get('retry-after'), fourth.text).toMatch(/^\d+$/)
    expect(fourth.body.error.details.retry_after, fourth.text).toBe(Number(fourth.headers.get('retry-after')))

    // Another user has their own count.
    const other = await registerUser()
    const res = await callApp('/api/v1/auth/me', { app, env: overrides, token: other.accessToken })
    expect(res.status, res.text).toBe(200)
  })

  it('never lets more than the limit through under concurrent requests', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.general.windowSeconds)
    const u = await registerUser()
    const app = createApp()
    const results = await Promise.all(Array.from({ length: 10 }, () => callApp('/api/v1/auth/me', { app, env: overrides, token: u.accessToken })))
    const summary = results.map((r) => r.status).join(',')
    expect(results.filter((r) => r.status === 200).length, summary).toBe(3)
    expect(results.filter((r) => r.status === 429).length, summary).toBe(7)
  })

  it('leaves health, metrics, /openapi.json, /docs and /redoc unlimited', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.general.windowSeconds, 10_000)
    const all = { RATE_LIMITS: JSON.stringify(Object.fromEntries(Object.keys(DEFAULT_LIMITS).map((k) => [k, { limit: 1 }]))) }
    const app = createApp()
    const ip = freshIp()
    const paths = ['/health', '/api/health', '/health/live', '/api/health/live', '/health/ready', '/api/health/ready', '/metrics', '/api/metrics', '/openapi.json', '/docs', '/redoc']
    for (const path of paths) {
      for (let i = 0; i < 3; i++) {
        const res = await callApp(path, { app, env: all, ip })
        expect(res.status, `${path} #${i + 1}: ${res.text.slice(0, 500)}`).toBe(200)
        expect(res.headers.get('x-ratelimit-limit'), `${path} carries rate-limit headers`).toBeNull()
      }
    }
    // The same override does limit an ordinary route, so the exemption above is real.
    await callApp('/api/v1/auth/me', { app, env: all, ip })
    const limited = await callApp('/api/v1/auth/me', { app, env: all, ip })
    expectErrorEnvelope(limited, 429, 'RATE_LIMIT_EXCEEDED')
  })
})

/**
 * Every registered route and the class it declares (`rateClass(…)` in its definition). A change of
 * class shows up here in review; the code decides nothing from paths.
 */
const ROUTE_CLASSES: Record<string, string> = {
  'GET /health': 'exempt',
  'GET /api/health': 'exempt',
  'GET /health/live': 'exempt',
  'GET /api/health/live': 'exempt',
  'GET /health/ready': 'exempt',
  'GET /api/health/ready': 'exempt',
  'GET /api/v1/admin/system/health': 'admin',
  'GET /metrics': 'exempt',
  'GET /api/metrics': 'exempt',
  'POST /api/v1/auth/register': 'auth',
  'POST /api/v1/auth/login': 'auth',
  'POST /api/v1/auth/refresh': 'general',
  'POST /api/v1/auth/logout': 'general',
  'GET /api/v1/auth/me': 'general',
  'POST /api/v1/auth/forgot-password': 'auth',
  'POST /api/v1/auth/reset-password': 'auth',
  'GET /api/v1/auth/verify-email': 'auth',
  'POST /api/v1/api-keys': 'general',
  'GET /api/v1/api-keys': 'general',
  'GET /api/v1/api-keys/:id': 'general',
  'DELETE /api/v1/api-keys/:id': 'general',
  'GET /api/admin/users': 'admin',
  'GET /api/v1/admin/users': 'admin',
  'GET /api/admin/users/:id': 'admin',
  'GET /api/v1/admin/users/:id': 'admin',
  'PUT /api/admin/users/:id/suspend': 'admin',
  'PUT /api/v1/admin/users/:id/suspend': 'admin',
  'PUT /api/admin/users/:id/reactivate': 'admin',
  'PUT /api/v1/admin/users/:id/reactivate': 'admin',
  'POST /api/admin/users/:id/ban': 'admin',
  'POST /api/v1/admin/users/:id/ban': 'admin',
  'PUT /api/admin/users/:id/role': 'admin',
  'PUT /api/v1/admin/users/:id/role': 'admin',
  'GET /api/v1/admin/audit-log': 'admin',
  'GET /api/v1/admin/emails': 'admin',
  'GET /api/v1/admin/failed-jobs': 'admin',
  'GET /api/wallet/balance': 'general',
  'GET /api/v1/balance': 'public',
  'GET /api/wallet/transactions': 'general',
  'POST /api/wallet/topup': 'general',
  'GET /api/search/offers': 'search',
  'POST /api/numbers/purchase': 'purchase',
  'POST /api/v1/numbers': 'purchase',
  'POST /api/numbers/cancel': 'general',
  'GET /api/numbers/my': 'general',
  'GET /api/numbers/:id': 'general',
  'POST /api/numbers/:id/complete': 'general',
  'GET /stubs/handler_api.php': 'general',
  'POST /stubs/handler_api.php': 'general',
  'GET /api/v1/sms/:activationId': 'public',
  'POST /api/v1/webhooks/sms': 'exempt',
  'POST /api/v1/sandbox/activations/:id/sms': 'general',
  'POST /api/v1/sandbox/numbers/:id/sms': 'general',
  'GET /api/v1/numbers/search': 'search',
  'POST /api/v1/numbers/purchase': 'purchase',
  'POST /api/v1/numbers/reservations': 'general',
  'GET /api/v1/numbers/reservations': 'general',
  'GET /api/v1/numbers/reservations/:id': 'general',
  'POST /api/v1/numbers/reservations/:id/extend': 'general',
  'DELETE /api/v1/numbers/reservations/:id': 'general',
  'GET /api/v1/numbers': 'general',
  'GET /api/v1/numbers/:id': 'general',
  'PUT /api/v1/numbers/:id': 'general',
  'POST /api/v1/numbers/:id/configure': 'general',
  'DELETE /api/v1/numbers/:id': 'general',
  'GET /api/v1/orders': 'general',
  'POST /api/v1/orders': 'purchase',
  'GET /api/v1/orders/:id': 'general',
  'PUT /api/v1/orders/:id/cancel': 'general',
  'POST /api/v1/orders/:id/retry-payment': 'purchase',
  'GET /api/v1/sims': 'general',
  'POST /api/v1/sims': 'general',
  'POST /api/v1/sims/topup': 'purchase',
  'POST /api/v1/sims/auto-topup': 'general',
  'GET /api/v1/sims/limits': 'general',
  'POST /api/v1/sims/limits': 'general',
  'GET /api/v1/sims/:iccid': 'general',
  'PUT /api/v1/sims/:iccid': 'general',
  'GET /api/v1/sims/:iccid/status': 'general',
  'GET /api/v1/sims/:iccid/connectivity': 'general',
  'POST /api/v1/sims/:iccid/reset': 'general',
  'GET /api/v1/sims/:iccid/reset/status': 'general',
  'GET /api/v1/sims/:iccid/events': 'general',
  'GET /api/v1/sims/:iccid/usage': 'general',
  'GET /api/v1/sims/:iccid/quota/data': 'general',
  'GET /api/v1/sims/:iccid/quota/sms': 'general',
  'POST /api/v1/sims/:iccid/topup': 'purchase',
  'GET /api/v1/sims/:iccid/sms': 'general',
  'POST /api/v1/sims/:iccid/sms': 'general',
  'GET /api/v1/sims/:iccid/sms/:id': 'general',
  'DELETE /api/v1/sims/:iccid/sms/:id': 'general',
  'GET /api/v1/jobs/:job_id': 'general',
  'GET /api/v1/projects': 'general',
  'POST /api/v1/projects': 'general',
  'GET /api/v1/projects/:id': 'general',
  'PUT /api/v1/projects/:id': 'general',
  'DELETE /api/v1/projects/:id': 'general',
  'GET /api/v1/projects/:projectId/keys': 'general',
  'POST /api/v1/projects/:projectId/keys': 'general',
  'DELETE /api/v1/projects/:projectId/keys/:keyId': 'general',
  'GET /api/v1/projects/:projectId/connectors': 'general',
  'POST /api/v1/projects/:projectId/connectors': 'general',
  'GET /api/v1/projects/:projectId/connectors/:id': 'general',
  'PUT /api/v1/projects/:projectId/connectors/:id': 'general',
  'DELETE /api/v1/projects/:projectId/connectors/:id': 'general',
  'POST /api/v1/projects/:projectId/connectors/:id/test': 'general',
  'GET /api/v1/projects/:projectId/templates': 'general',
  'POST /api/v1/projects/:projectId/templates': 'general',
  'GET /api/v1/projects/:projectId/templates/:id': 'general',
  'PUT /api/v1/projects/:projectId/templates/:id': 'general',
  'DELETE /api/v1/projects/:projectId/templates/:id': 'general',
  'POST /api/v1/messages': 'messages',
  'GET /api/v1/messages': 'general',
  'GET /api/v1/messages/:id': 'general',
  'POST /api/v1/connectors/:id/status': 'exempt',
  'GET /api/v1/connectors/:id/status': 'exempt',
  'GET /api/admin/providers': 'admin',
  'GET /api/v1/admin/providers': 'admin',
  'POST /api/admin/providers/:id/sync': 'admin',
  'POST /api/v1/admin/providers/:id/sync': 'admin',
  'GET /api/v1/webhooks/number-callback-secret': 'general',
  'POST /api/v1/webhooks': 'general',
  'GET /api/v1/webhooks': 'general',
  'GET /api/v1/webhooks/:id': 'general',
  'PUT /api/v1/webhooks/:id': 'general',
  'DELETE /api/v1/webhooks/:id': 'general',
  'POST /api/v1/webhooks/:id/rotate-secret': 'general',
  'GET /api/v1/webhooks/:id/deliveries': 'general',
  'POST /api/v1/webhooks/:id/test': 'general',
  'POST /api/v1/webhooks/:id/retry/:deliveryId': 'general',
  'POST /api/usage': 'general',
  'GET /api/usage': 'general',
  'GET /api/v1/billing/usage': 'general',
  'GET /api/stats': 'general',
  'GET /api/v1/analytics/dashboard': 'general',
  'GET /api/v1/analytics/calls': 'general',
  'GET /api/v1/analytics/messages': 'general',
  'GET /api/v1/analytics/usage': 'general',
  'GET /api/v1/admin/analytics/overview': 'admin',
  'GET /api/admin/analytics/dashboard': 'admin',
  'GET /api/subscription': 'general',
  'POST /api/subscription': 'purchase',
  'PATCH /api/subscription': 'purchase',
  'GET /api/v1/billing/account': 'general',
  'PUT /api/v1/billing/account': 'general',
  'GET /api/v1/billing/payment-methods': 'general',
  'POST /api/v1/billing/payment-methods': 'general',
  'PUT /api/v1/billing/payment-methods/:id/default': 'general',
  'DELETE /api/v1/billing/payment-methods/:id': 'general',
  'POST /api/v1/billing/top-up': 'purchase',
  'POST /api/invoices': 'general',
  'GET /api/invoices': 'general',
  'GET /api/v1/billing/invoices': 'general',
  'GET /api/v1/billing/invoices/:id': 'general',
  'POST /api/v1/billing/invoices/:id/pay': 'purchase',
  'GET /api/v1/billing/invoices/:id/download': 'general',
  'GET /openapi.json': 'exempt',
  'GET /docs': 'exempt',
  'GET /redoc': 'exempt',
  'GET /sdk/v1/messagejs.js': 'exempt',
}

describe('classes declared on the routes', () => {
  it('every registered route declares exactly one class, and these are they', () => {
    const declared: Record<string, string> = {}
    for (const [route, ds] of routeDeclarations(createApp())) {
      const classes = ds.flatMap((d) => (d.kind === 'rateClass' ? [d.rateClass] : []))
      expect(classes.length, `${route} declares ${classes.length} classes: ${classes.join(', ')}`).toBe(1)
      declared[route] = classes[0]!
    }
    expect(declared).toEqual(ROUTE_CLASSES)
  })

  it('a request reaches the class of the route that answers it, and a 404 counts as general', async () => {
    // GET /api/v1/numbers/search also matches /api/v1/numbers/:id, which is registered after it.
    expect(classify('GET', '/api/v1/numbers/search')).toBe('search')
    expect(classify('GET', '/api/v1/numbers/num_1')).toBe('general')
    expect(classify('GET', '/api/v1/no-such-route')).toBe('general')
    const res = await call('/api/v1/no-such-route', { ip: freshIp() })
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
    expect(res.headers.get('x-ratelimit-limit'), res.text).toBe(String(DEFAULT_LIMITS.general.limit))
  })
})

describe('money-moving routes count per account', () => {
  const overrides = { RATE_LIMITS: '{"purchase":{"limit":3}}' }

  it('classifies every route that spends or charges money as purchase, and nothing else', () => {
    const money: [string, string][] = [
      ['POST', '/api/numbers/purchase'],
      ['POST', '/api/v1/numbers'],
      ['POST', '/api/v1/numbers/purchase'],
      ['POST', '/api/v1/orders'],
      ['POST', '/api/v1/orders/ord_123/retry-payment'],
      ['POST', '/api/v1/billing/top-up'],
      ['POST', '/api/v1/billing/invoices/inv_123/pay'],
      ['POST', '/api/subscription'],
      ['PATCH', '/api/subscription'],
    ]
    for (const [method, path] of money) expect(classify(method, path), `${method} ${path}`).toBe('purchase')
    const other: [string, string, string][] = [
      ['GET', '/api/v1/numbers', 'general'],
      ['GET', '/api/v1/orders', 'general'],
      ['GET', '/api/subscription', 'general'],
      ['PUT', '/api/v1/orders/ord_123/cancel', 'general'],
      ['POST', '/api/numbers/cancel', 'general'],
      ['POST', '/api/v1/numbers/reservations', 'general'],
      ['GET', '/api/v1/billing/invoices/inv_123/download', 'general'],
      ['POST', '/api/usage', 'general'],
      ['POST', '/api/wallet/topup', 'general'],
      ['POST', '/api/admin/users/usr_1/ban', 'admin'],
    ]
    for (const [method, path, cls] of other) expect(classify(method, path), `${method} ${path}`).toBe(cls)
  })

  it('one budget for all API keys and sessions of an account: more keys do not multiply the purchase limit', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.purchase.windowSeconds)
    const u = await registerUser()
    const keys = []
    for (let i = 0; i < 4; i++) keys.push(await createApiKey(u, ['*']))
    const app = createApp()
    // An empty body is refused by validation after it was counted: no money moves in this test.
    const attempt = (auth: { apiKey?: string; token?: string }, path = '/api/v1/orders') => callApp(path, { app, env: overrides, ...auth, body: {} })

    const remaining: (string | null)[] = []
    for (const [i, path] of ['/api/v1/orders', '/api/v1/billing/top-up', '/api/v1/numbers/purchase'].entries()) {
      const res = await attempt({ apiKey: keys[i]!.key }, path)
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.headers.get('x-ratelimit-limit'), res.text).toBe('3')
      remaining.push(res.headers.get('x-ratelimit-remaining'))
    }
    expect(remaining).toEqual(['2', '1', '0'])
    // A fourth key, the session, and any money route of the account: refused.
    expectErrorEnvelope(await attempt({ apiKey: keys[3]!.key }), 429, 'RATE_LIMIT_EXCEEDED')
    expectErrorEnvelope(await attempt({ token: u.accessToken }), 429, 'RATE_LIMIT_EXCEEDED')
    expectErrorEnvelope(await attempt({ apiKey: keys[3]!.key }, '/api/v1/billing/invoices/inv_x/pay'), 429, 'RATE_LIMIT_EXCEEDED')

    // Other accounts keep their own budget.
    const other = await registerUser()
    expectErrorEnvelope(await attempt({ token: other.accessToken }), 400, 'VALIDATION_ERROR')
    // Non-money classes still count per API key.
    const me = await callApp('/api/v1/auth/me', { app, env: overrides, apiKey: keys[3]!.key })
    expect(me.status, me.text).toBe(200)
    expect(me.headers.get('x-ratelimit-remaining'), me.text).toBe(String(DEFAULT_LIMITS.general.limit - 1))
  })

  it('lets no more than the limit through when many keys of one account buy at once', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.purchase.windowSeconds)
    const u = await registerUser()
    const keys = []
    for (let i = 0; i < 6; i++) keys.push(await createApiKey(u, ['*']))
    const app = createApp()
    const results = await Promise.all(keys.flatMap((k) => [0, 1].map(() => callApp('/api/numbers/purchase', { app, env: overrides, apiKey: k.key, body: {} }))))
    const summary = results.map((r) => r.status).join(',')
    expect(results.filter((r) => r.status === 429).length, summary).toBe(results.length - 3)
    expect(results.filter((r) => r.status === 400).length, summary).toBe(3)
  })
})

describe("the SIM API's hourly limit", () => {
  it('every SIM route (and the job route) adds sims_hourly on top of its class; no other route does', () => {
    for (const [route, ds] of routeDeclarations(createApp())) {
      const also = ds.flatMap((d) => (d.kind === 'alsoLimit' ? [d.limit] : []))
      const sim = / \/api\/v1\/(sims|jobs)\b/.test(route)
      expect(also, route).toEqual(sim ? ['sims_hourly'] : [])
    }
    expect(DEFAULT_LIMITS.sims_hourly).toEqual({ limit: 1000, windowSeconds: 3600 })
  })

  it('counts per API key across SIM routes, past the per-minute class, and answers its own 429', async () => {
    await awayFromWindowEdge(DEFAULT_LIMITS.general.windowSeconds)
    const overrides = { RATE_LIMITS: '{"sims_hourly":{"limit":3}}' }
    const u = await registerUser()
    const key = await createApiKey(u, ['sims:read'])
    const app = createApp()
    for (const path of ['/api/v1/sims', '/api/v1/sims?page=2', '/api/v1/sims?status=Enabled']) {
      const res = await callApp(path, { app, env: overrides, apiKey: key.key })
      expect(res.status, res.text).toBe(200)
    }
    const last = await callApp('/api/v1/sims', { app, env: overrides, apiKey: key.key })
    expectErrorEnvelope(last, 429, 'RATE_LIMIT_EXCEEDED')
    expect(last.headers.get('x-ratelimit-limit')).toBe('3')
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(60)
    // Other routes are not held back by it; another key of the same user has its own hour.
    expect((await callApp('/api/v1/auth/me', { app, env: overrides, apiKey: key.key })).status).not.toBe(429)
    const second = await createApiKey(u, ['sims:read'])
    expect((await callApp('/api/v1/sims', { app, env: overrides, apiKey: second.key })).status).toBe(200)
  })
})

import { describe, expect, it } from 'vitest'
import ciRun from '../../../.ci/run?raw'
import pkg from '../../../package.json'
import redoclyYaml from '../../../redocly.yaml?raw'
import { createApp } from '../../../src/app'
import { AppError, ERROR_CODES, InsufficientBalance } from '../../../src/lib/errors'
import { call, registerUser } from '../../helpers/api'
import { routeDeclarations } from '../../helpers/policy'
import { policyOf } from '../../../src/http/policy'
import { REPLAYED_HEADER } from '../../../src/http/idempotency'
import { send } from '../../helpers/app'

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

/** Every route registered on the app, as OpenAPI `{path, method}` pairs (middleware excluded). */
function registeredRoutes(app = createApp()): { path: string; method: string }[] {
  const seen = new Map<string, { path: string; method: string }>()
  for (const r of app.routes) {
    if (r.method === 'ALL' && (r.path === '*' || r.path === '/*')) continue // app.use('*', …)
    if (r.path === '/openapi.json' || r.path === '/docs' || r.path === '/redoc') continue
    const path = r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}')
    const method = r.method.toLowerCase()
    seen.set(`${method} ${path}`, { path, method })
  }
  return [...seen.values()]
}

/** Every operation of the document, with `METHOD /path` as its name. */
function operations(paths: Record<string, Record<string, Record<string, unknown>>>) {
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, name: `${method.toUpperCase()} ${path}`, op })),
  )
}

/** Every endpoint the activation API, the DID API, usage billing and the SIM API promise to their clients, at its exact path. */
const FAMILY_ENDPOINTS: [string, string][] = [
  ['delete', '/api/v1/billing/payment-methods/{id}'],
  ['delete', '/api/v1/numbers/{id}'],
  ['get', '/api/admin/analytics/dashboard'],
  ['get', '/api/admin/providers'],
  ['get', '/api/admin/users'],
  ['get', '/api/health'],
  ['get', '/api/health/ready'],
  ['get', '/api/invoices'],
  ['get', '/api/metrics'],
  ['get', '/api/numbers/my'],
  ['get', '/api/numbers/{id}'],
  ['get', '/api/search/offers'],
  ['get', '/api/stats'],
  ['get', '/api/subscription'],
  ['get', '/api/usage'],
  ['get', '/api/v1/admin/analytics/overview'],
  ['get', '/api/v1/admin/system/health'],
  ['get', '/api/v1/admin/users'],
  ['get', '/api/v1/admin/users/{id}'],
  ['get', '/api/v1/analytics/calls'],
  ['get', '/api/v1/analytics/dashboard'],
  ['get', '/api/v1/auth/verify-email'],
  ['get', '/api/v1/balance'],
  ['get', '/api/v1/billing/account'],
  ['get', '/api/v1/billing/invoices'],
  ['get', '/api/v1/billing/invoices/{id}'],
  ['get', '/api/v1/billing/invoices/{id}/download'],
  ['get', '/api/v1/billing/payment-methods'],
  ['get', '/api/v1/billing/usage'],
  ['get', '/api/v1/numbers'],
  ['get', '/api/v1/numbers/search'],
  ['get', '/api/v1/numbers/{id}'],
  ['get', '/api/v1/orders'],
  ['get', '/api/v1/orders/{id}'],
  ['get', '/api/v1/sms/{activationId}'],
  ['get', '/api/v1/webhooks'],
  ['get', '/api/v1/webhooks/{id}/deliveries'],
  ['get', '/api/wallet/balance'],
  ['get', '/api/wallet/transactions'],
  ['patch', '/api/subscription'],
  ['post', '/api/admin/providers/{id}/sync'],
  ['post', '/api/admin/users/{id}/ban'],
  ['post', '/api/invoices'],
  ['post', '/api/numbers/cancel'],
  ['post', '/api/numbers/purchase'],
  ['post', '/api/usage'],
  ['post', '/api/v1/auth/forgot-password'],
  ['post', '/api/v1/auth/login'],
  ['post', '/api/v1/auth/logout'],
  ['post', '/api/v1/auth/refresh'],
  ['post', '/api/v1/auth/register'],
  ['post', '/api/v1/auth/reset-password'],
  ['post', '/api/v1/billing/invoices/{id}/pay'],
  ['post', '/api/v1/billing/payment-methods'],
  ['post', '/api/v1/numbers'],
  ['post', '/api/v1/numbers/purchase'],
  ['post', '/api/v1/numbers/{id}/configure'],
  ['post', '/api/v1/orders'],
  ['post', '/api/v1/orders/{id}/retry-payment'],
  ['post', '/api/v1/webhooks'],
  ['post', '/api/v1/webhooks/sms'],
  ['post', '/api/v1/webhooks/{id}/retry/{deliveryId}'],
  ['post', '/api/v1/webhooks/{id}/test'],
  ['post', '/api/wallet/topup'],
  ['put', '/api/v1/admin/users/{id}/role'],
  ['put', '/api/v1/admin/users/{id}/suspend'],
  ['put', '/api/v1/billing/account'],
  ['put', '/api/v1/billing/payment-methods/{id}/default'],
  ['put', '/api/v1/numbers/{id}'],
  ['put', '/api/v1/orders/{id}/cancel'],
  ['put', '/api/v1/webhooks/{id}'],
  // the SIM API (seed 002), and the routes its status_url values point at
  ['get', '/api/v1/sims'],
  ['post', '/api/v1/sims'],
  ['get', '/api/v1/sims/{iccid}'],
  ['put', '/api/v1/sims/{iccid}'],
  ['get', '/api/v1/sims/{iccid}/status'],
  ['get', '/api/v1/sims/{iccid}/connectivity'],
  ['post', '/api/v1/sims/{iccid}/reset'],
  ['get', '/api/v1/sims/{iccid}/reset/status'],
  ['get', '/api/v1/sims/{iccid}/events'],
  ['get', '/api/v1/sims/{iccid}/usage'],
  ['get', '/api/v1/sims/{iccid}/quota/data'],
  ['get', '/api/v1/sims/{iccid}/quota/sms'],
  ['post', '/api/v1/sims/{iccid}/topup'],
  ['post', '/api/v1/sims/topup'],
  ['post', '/api/v1/sims/auto-topup'],
  ['get', '/api/v1/sims/{iccid}/sms'],
  ['post', '/api/v1/sims/{iccid}/sms'],
  ['get', '/api/v1/sims/{iccid}/sms/{id}'],
  ['delete', '/api/v1/sims/{iccid}/sms/{id}'],
  ['get', '/api/v1/sims/limits'],
  ['post', '/api/v1/sims/limits'],
  ['get', '/api/v1/jobs/{job_id}'],
  // the messaging API (seed 004)
  ['get', '/api/v1/projects'],
  ['post', '/api/v1/projects'],
  ['get', '/api/v1/projects/{id}'],
  ['put', '/api/v1/projects/{id}'],
  ['delete', '/api/v1/projects/{id}'],
  ['get', '/api/v1/projects/{projectId}/keys'],
  ['post', '/api/v1/projects/{projectId}/keys'],
  ['delete', '/api/v1/projects/{projectId}/keys/{keyId}'],
  ['get', '/api/v1/projects/{projectId}/connectors'],
  ['post', '/api/v1/projects/{projectId}/connectors'],
  ['get', '/api/v1/projects/{projectId}/connectors/{id}'],
  ['put', '/api/v1/projects/{projectId}/connectors/{id}'],
  ['delete', '/api/v1/projects/{projectId}/connectors/{id}'],
  ['post', '/api/v1/projects/{projectId}/connectors/{id}/test'],
  ['get', '/api/v1/projects/{projectId}/templates'],
  ['post', '/api/v1/projects/{projectId}/templates'],
  ['get', '/api/v1/projects/{projectId}/templates/{id}'],
  ['put', '/api/v1/projects/{projectId}/templates/{id}'],
  ['delete', '/api/v1/projects/{projectId}/templates/{id}'],
  ['post', '/api/v1/messages'],
  ['get', '/api/v1/messages'],
  ['get', '/api/v1/messages/{id}'],
  ['get', '/api/v1/analytics/messages'],
  ['get', '/api/v1/analytics/usage'],
  ['get', '/health/live'],
]

describe('OpenAPI document', () => {
  it('serves and documents every endpoint of the activation API, the DID API, the SIM API, usage billing and the messaging API at its path', async () => {
    const res = await call('/openapi.json')
    const paths = res.body.paths as Record<string, Record<string, unknown>>
    const missing = FAMILY_ENDPOINTS.filter(([method, path]) => !paths[path]?.[method]).map(([m, p]) => `${m.toUpperCase()} ${p}`)
    expect(missing, `documented endpoints not served:\n${missing.join('\n')}`).toEqual([])
  })

  it('/openapi.json is OpenAPI 3.1 with info and components', async () => {
    const res = await call('/openapi.json')
    expect(res.status, res.text.slice(0, 2000)).toBe(200)
    expect(res.body.openapi, res.text.slice(0, 500)).toMatch(/^3\.1\./)
    expect(res.body.info?.title, res.text.slice(0, 500)).toBeTruthy()
    expect(res.body.info?.version, res.text.slice(0, 500)).toBeTruthy()
    expect(Object.keys(res.body.paths ?? {}).length).toBeGreaterThan(10)
    expect(Object.keys(res.body.components?.securitySchemes ?? {})).toEqual(expect.arrayContaining(['bearerAuth', 'apiKeyHeader', 'apiKeyQuery']))
  })

  it('documents every route registered on the app', async () => {
    const res = await call('/openapi.json')
    expect(res.status, res.text.slice(0, 2000)).toBe(200)
    const paths = res.body.paths as Record<string, Record<string, unknown>>
    const routes = registeredRoutes()
    expect(routes.length).toBeGreaterThan(10)
    const missing = routes.filter((r) => !paths[r.path]?.[r.method]).map((r) => `${r.method.toUpperCase()} ${r.path}`)
    expect(missing, `routes missing from /openapi.json:\n${missing.join('\n')}`).toEqual([])
  })

  it('the check catches a route registered without a schema', async () => {
    const app = createApp()
    app.get('/api/v1/undocumented/:thing', (c) => c.text('hi'))
    const res = await send(app, new Request('http://switchboard.test/openapi.json'))
    const paths = res.body.paths as Record<string, Record<string, unknown>>
    const missing = registeredRoutes(app).filter((r) => !paths[r.path]?.[r.method])
    expect(missing).toEqual([{ method: 'get', path: '/api/v1/undocumented/{thing}' }])
  })

  it('documents no operation that the app does not serve', async () => {
    const res = await call('/openapi.json')
    const served = new Set(registeredRoutes().map((r) => `${r.method} ${r.path}`))
    const extra: string[] = []
    for (const [path, item] of Object.entries(res.body.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(item).filter((m) => METHODS.includes(m))) {
        if (!served.has(`${method} ${path}`)) extra.push(`${method.toUpperCase()} ${path}`)
      }
    }
    expect(extra, `documented but not served:\n${extra.join('\n')}`).toEqual([])
  })

  it('documents the health, metrics and foundation routes by their documented paths', async () => {
    const res = await call('/openapi.json')
    const paths = res.body.paths as Record<string, Record<string, unknown>>
    for (const p of ['/health', '/api/health', '/health/live', '/health/ready', '/api/health/ready', '/metrics', '/api/metrics', '/api/v1/admin/system/health']) {
      expect(paths[p]?.get, `GET ${p} missing`).toBeTruthy()
    }
    expect(paths['/api/v1/api-keys/{id}']?.get, Object.keys(paths).join('\n')).toBeTruthy()
    expect(paths['/api/v1/auth/login']?.post, Object.keys(paths).join('\n')).toBeTruthy()
  })

  /**
   * Operation ids name the client SDK's methods: a camelCase verb and noun (`getWalletBalance`, `purchaseActivation`).
   * Aliases (one handler registered under two paths) get distinct ids by one rule (`aliasOperationId`, src/lib/http.ts):
   * the un-versioned `/api/…` path gets `Legacy` appended (`purchaseActivationLegacy` for `POST /api/numbers/purchase`), and
   * the other path — `/api/v1/…`, or a root path such as `/health` — keeps the plain id.
   */
  it('gives every operation a unique camelCase operationId', async () => {
    const res = await call('/openapi.json')
    const ops = operations(res.body.paths)
    expect(ops.length).toBeGreaterThan(100)
    const missing = ops.filter((o) => typeof o.op.operationId !== 'string').map((o) => o.name)
    expect(missing, `operations without an operationId:\n${missing.join('\n')}`).toEqual([])
    const malformed = ops.filter((o) => !/^[a-z][A-Za-z0-9]+$/.test(o.op.operationId as string)).map((o) => `${o.name}: ${o.op.operationId}`)
    expect(malformed, `operationIds not camelCase:\n${malformed.join('\n')}`).toEqual([])
    const byId = new Map<string, string[]>()
    for (const o of ops) byId.set(o.op.operationId as string, [...(byId.get(o.op.operationId as string) ?? []), o.name])
    const duplicates = [...byId].filter(([, names]) => names.length > 1).map(([id, names]) => `${id}: ${names.join(', ')}`)
    expect(duplicates, `operationIds used twice:\n${duplicates.join('\n')}`).toEqual([])
  })

  it('names aliases by the rule: a `Legacy` id is on an un-versioned /api/ path and its plain id exists elsewhere', async () => {
    const res = await call('/openapi.json')
    const ops = operations(res.body.paths)
    const ids = new Set(ops.map((o) => o.op.operationId as string))
    const legacy = ops.filter((o) => (o.op.operationId as string).endsWith('Legacy'))
    expect(legacy.map((o) => o.op.operationId)).toEqual(expect.arrayContaining(['purchaseActivationLegacy', 'getWalletBalanceLegacy', 'getHealthLegacy', 'listUsersLegacy']))
    const wrong = legacy.filter((o) => !/^\/api\/(?!v1\/)/.test(o.path) || !ids.has((o.op.operationId as string).replace(/Legacy$/, ''))).map((o) => `${o.name}: ${o.op.operationId}`)
    expect(wrong, wrong.join('\n')).toEqual([])
    expect(ops.find((o) => o.name === 'POST /api/v1/numbers')?.op.operationId).toBe('purchaseActivation')
    expect(ops.find((o) => o.name === 'GET /api/v1/balance')?.op.operationId).toBe('getWalletBalance')
  })

  it('gives every operation a security statement (empty when public) naming only declared schemes', async () => {
    const res = await call('/openapi.json')
    const ops = operations(res.body.paths)
    const missing = ops.filter((o) => !Array.isArray(o.op.security)).map((o) => o.name)
    expect(missing, `operations without a security statement:\n${missing.join('\n')}`).toEqual([])
    const schemes = new Set(Object.keys(res.body.components?.securitySchemes ?? {}))
    const unknown = ops.flatMap((o) =>
      (o.op.security as Record<string, string[]>[]).flatMap((req) =>
        Object.keys(req)
          .filter((s) => !schemes.has(s))
          .map((s) => `${o.name}: ${s}`),
      ),
    )
    expect(unknown, `security schemes named but not declared:\n${unknown.join('\n')}`).toEqual([])
    const security = (name: string) => ops.find((o) => o.name === name)?.op.security
    expect(security('POST /api/v1/auth/login')).toEqual([])
    expect(security('GET /health')).toEqual([])
    expect(security('POST /api/v1/webhooks/sms')).toEqual([{ webhookSecret: [] }, { twilioSignature: [] }])
    expect(security('GET /metrics')).toEqual([{ metricsToken: [] }])
    expect(res.body.components.securitySchemes.webhookSecret).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Webhook-Secret' })
    expect(res.body.components.securitySchemes.twilioSignature).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Twilio-Signature' })
    expect(res.body.components.securitySchemes.metricsToken).toMatchObject({ type: 'http', scheme: 'bearer' })
  })

  it('describes every parameter (path, query, header)', async () => {
    const res = await call('/openapi.json')
    const params = operations(res.body.paths).flatMap((o) => ((o.op.parameters ?? []) as { name: string; in: string; description?: string }[]).map((p) => ({ ...p, op: o.name })))
    expect(params.length).toBeGreaterThan(200)
    const bare = params.filter((p) => !p.description?.trim()).map((p) => `${p.op}: ${p.in} ${p.name}`)
    expect(bare, `${bare.length} parameters without a description:\n${bare.join('\n')}`).toEqual([])
  })

  it('names its servers (the serving host first, production, and npm start) and describes every tag an operation uses', async () => {
    const res = await call('/openapi.json')
    expect(res.body.servers, JSON.stringify(res.body.servers)).toEqual([
      { url: '/', description: expect.any(String) },
      { url: 'https://api.switchboard.dev', description: expect.any(String) },
      { url: 'http://localhost:8787', description: expect.stringContaining('npm start') },
    ])
    // No license: package.json has no license field and the repository states none.
    const described = new Set(((res.body.tags ?? []) as { name: string; description?: string }[]).filter((t) => t.description?.trim()).map((t) => t.name))
    const undescribed = operations(res.body.paths).flatMap((o) => ((o.op.tags ?? []) as string[]).filter((t) => !described.has(t)).map((t) => `${o.name}: ${t}`))
    expect(undescribed, `tags without a description:\n${undescribed.join('\n')}`).toEqual([])
  })

  /**
   * Instants (`createdAt`, `sent_at`, `timestamp`, `dueDate`, …: ISO 8601 strings from `toISOString`) are typed `date-time`,
   * so a generated client may parse them. Plain days (`YYYY-MM-DD`: `date`, `peak_date`) are not instants. Request bodies and
   * parameters keep their validators and are left out (and the component schemas only they use), as they are not all ISO
   * instants (the SMS webhook's `receivedAt` takes other formats too).
   */
  it('types every instant field of a response or component schema as format date-time', async () => {
    const res = await call('/openapi.json')
    const INSTANT = /^([A-Za-z_]*(At|_at|Date|_date)|timestamp|lastUsed|lastLogin)$/
    const PLAIN_DAYS = new Set(['date', 'peak_date'])
    const fields: { path: string; format?: string }[] = []
    const walk = (node: unknown, path: string) => {
      if (Array.isArray(node)) {
        for (const [i, v] of node.entries()) walk(v, `${path}[${i}]`)
        return
      }
      if (node === null || typeof node !== 'object') return
      const props = (node as { properties?: Record<string, { type?: string | string[]; format?: string }> }).properties
      for (const [name, schema] of Object.entries(props ?? {})) {
        const types = [schema?.type].flat()
        if (INSTANT.test(name) && !PLAIN_DAYS.has(name) && types.includes('string')) fields.push({ path: `${path}.${name}`, format: schema.format })
      }
      for (const [k, v] of Object.entries(node)) if (k !== 'requestBody' && k !== 'parameters') walk(v, `${path}.${k}`)
    }
    const requestOnly = new Set([...JSON.stringify(operations(res.body.paths).map((o) => o.op.requestBody ?? null)).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]))
    walk(res.body.paths, '$.paths')
    for (const [name, schema] of Object.entries(res.body.components.schemas as Record<string, unknown>)) {
      if (!requestOnly.has(name)) walk(schema, `$.components.schemas.${name}`)
    }
    expect(fields.length).toBeGreaterThan(100)
    const untyped = fields.filter((f) => f.format !== 'date-time').map((f) => `${f.path}${f.format ? ` (${f.format})` : ''}`)
    expect(untyped, `${untyped.length} instants without format date-time:\n${untyped.join('\n')}`).toEqual([])
  })

  /**
   * Money amounts (`price`, `amount`, `balance`, `totalCost`, a wallet's `reserved` and `available`, an auto top-up's
   * `threshold`, a revenue breakdown, …) are decimals in USD with at most 6 decimal places, one documented type wherever
   * they stand: responses, request bodies and query parameters (`format: decimal` and the note `money()` writes). Percent
   * changes (`growth.cost`) are not amounts; integers (bytes, messages, counts) are not either.
   */
  it('documents every money amount as the one decimal type, in responses, request bodies and parameters', async () => {
    const res = await call('/openapi.json')
    const MONEY_NAME = /amount|price|cost|balance|fee|spent|spend|revenue|monthlyTotal|creditLimit|proration/i
    const MONEY_CONTEXT = new Set(['reserved', 'available', 'threshold', 'fixed', 'monthly', 'annual'])
    const fields: { path: string; format?: string; description?: string }[] = []
    const walk = (node: unknown, path: string) => {
      if (Array.isArray(node)) {
        for (const [i, v] of node.entries()) walk(v, `${path}[${i}]`)
        return
      }
      if (node === null || typeof node !== 'object') return
      const props = (node as { properties?: Record<string, { type?: string | string[]; format?: string; description?: string }> }).properties
      for (const [name, schema] of Object.entries(props ?? {})) {
        const p = `${path}.${name}`
        if (![schema?.type].flat().includes('number')) continue
        const isMoney = (MONEY_NAME.test(name) || MONEY_CONTEXT.has(name) || /\.revenue\.properties\.breakdown\.\w+$/.test(p)) && !/\.growth\.(?!items)/.test(p)
        if (isMoney) fields.push({ path: p, format: schema.format, description: schema.description })
      }
      for (const [k, v] of Object.entries(node)) walk(v, `${path}.${k}`)
    }
    walk(res.body.paths, '$.paths')
    walk(res.body.components.schemas, '$.components.schemas')
    expect(fields.length).toBeGreaterThan(100)
    const bare = fields.filter((f) => f.format !== 'decimal' || !f.description?.includes('USD, decimal, at most 6 decimal places')).map((f) => f.path)
    expect(bare, `${bare.length} money amounts not documented as decimals:\n${bare.join('\n')}`).toEqual([])
    const priceMax = operations(res.body.paths).find((o) => o.name === 'GET /api/v1/numbers/search')?.op.parameters as { name: string; schema: { format?: string } }[]
    expect(priceMax.find((p) => p.name === 'priceMax')?.schema.format).toBe('decimal')
    // No `multipleOf`: a validator dividing in floating point would refuse exact amounts such as 0.000005.
    expect(res.text).not.toContain('"multipleOf"')
  })

  /**
   * `error.code` is the enum `ErrorCode` of every code the API answers (`ERROR_CODES`, src/lib/errors.ts; `AppError` takes only
   * those, so `tsc` refuses a new code that is not listed), and the codes with structured details name their schema.
   */
  it('documents error.code as the enum of every code, and the details schema of each code that has one', async () => {
    const res = await call('/openapi.json')
    const schemas = res.body.components.schemas
    expect(schemas.ErrorCode.enum).toEqual([...ERROR_CODES])
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length)
    for (const code of ERROR_CODES) expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/)
    expect(schemas.Error.properties.error.properties.code).toEqual({ $ref: '#/components/schemas/ErrorCode' })
    // `npm run typecheck` fails here if AppError ever takes any string again: an unlisted code does not compile.
    // @ts-expect-error 'NOT_A_LISTED_CODE' is not an ErrorCode
    expect(new AppError(400, 'NOT_A_LISTED_CODE', 'x').status).toBe(400)

    const details = schemas.Error.properties.error.properties.details
    const refs = (details.anyOf as { $ref: string }[]).map((r) => r.$ref.replace('#/components/schemas/', ''))
    const byCode: Record<string, string> = {
      VALIDATION_ERROR: 'ValidationErrorDetails',
      RATE_LIMIT_EXCEEDED: 'RateLimitDetails',
      QUOTA_EXCEEDED: 'RateLimitDetails',
      INSUFFICIENT_BALANCE: 'InsufficientBalanceDetails',
      PAYMENT_FAILED: 'PaymentFailedDetails',
      INVALID_ICCID: 'InvalidIccidDetails',
      PAYLOAD_TOO_LARGE: 'PayloadTooLargeDetails',
      IDEMPOTENCY_KEY_REUSED: 'IdempotencyKeyReusedDetails',
    }
    for (const [code, schema] of Object.entries(byCode)) {
      expect(refs, schema).toContain(schema)
      expect(schemas[schema], schema).toBeTruthy()
      expect(details.description, `${code} → ${schema}`).toMatch(new RegExp(`\`${code}\`[^;]*→ ${schema}`))
    }
    expect(refs).toContain('OtherErrorDetails')

    // INSUFFICIENT_BALANCE shows decimals, like every amount (micro-units inside).
    expect(new InsufficientBalance(2_500_000, 1_250_000).details).toEqual({ required: 2.5, available: 1.25, currency: 'USD' })
    expect(schemas.InsufficientBalanceDetails.properties.required.format).toBe('decimal')
    expect(schemas.InsufficientBalanceDetails.properties.available.format).toBe('decimal')

    // A real answer fits: a validation error's details list the fields.
    const bad = await call('/api/v1/auth/login', { body: {} })
    expect(bad.status, bad.text).toBe(400)
    expect(ERROR_CODES, bad.text).toContain(bad.body.error.code)
    expect(bad.body.error.details[0], bad.text).toEqual({ field: expect.any(String), message: expect.any(String) })
  })

  /**
   * The headers the middleware set are documented where they are sent (src/http/openapi-document.ts): `X-Request-Id` on every
   * answer; `X-RateLimit-*` on every answer of a rate-limited route (any class but `exempt`); `Retry-After` on every 429;
   * `Idempotent-Replayed` on the answers of an idempotent route a replay can repeat; and that the names are the ones sent.
   */
  it('documents the response headers the middleware send', async () => {
    const res = await call('/openapi.json')
    const headers = res.body.components.headers as Record<string, unknown>
    expect(Object.keys(headers).sort()).toEqual(['Idempotent-Replayed', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'X-Request-Id'])
    const policies = new Map([...routeDeclarations(createApp())].map(([k, ds]) => [k.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}').toLowerCase(), policyOf(ds)]))
    const missing: string[] = []
    for (const o of operations(res.body.paths)) {
      const policy = policies.get(o.name.toLowerCase())
      expect(policy, o.name).toBeTruthy()
      for (const [status, r] of Object.entries(o.op.responses as Record<string, { headers?: Record<string, unknown> }>)) {
        const want = ['X-Request-Id']
        if (policy!.rateClass !== 'exempt') want.push('X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset')
        if (status === '429') want.push('Retry-After')
        if (policy!.idempotent && /^[234]/.test(status) && !['401', '403', '429'].includes(status)) want.push('Idempotent-Replayed')
        for (const h of want) if (!r.headers?.[h]) missing.push(`${o.name} ${status}: ${h}`)
      }
    }
    expect(missing, `${missing.length} headers not documented:\n${missing.slice(0, 50).join('\n')}`).toEqual([])
    const sims503 = operations(res.body.paths).find((o) => o.name === 'GET /api/v1/sims/{iccid}/usage')?.op.responses as Record<string, { headers?: object }>
    expect(sims503['503'].headers).toHaveProperty('Retry-After')

    // The names are the ones the middleware send: a limited answer and a request id.
    const u = await registerUser()
    const live = await call('/api/v1/auth/me', { token: u.accessToken })
    for (const h of ['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']) expect(live.headers.get(h), `${h}: ${live.text}`).toBeTruthy()
    expect(REPLAYED_HEADER).toBe('Idempotent-Replayed')
  })

  it('gives every route that declares idempotent() the Idempotency-Key header parameter and its 409 and 422', async () => {
    const res = await call('/openapi.json')
    const idempotent = [...routeDeclarations(createApp())].filter(([, ds]) => policyOf(ds).idempotent).map(([k]) => k.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}'))
    expect(idempotent.length).toBeGreaterThan(10)
    const ops = operations(res.body.paths)
    const gaps: string[] = []
    for (const name of idempotent) {
      const op = ops.find((o) => o.name === name)?.op as { parameters?: { in: string; name: string; description?: string }[]; responses: Record<string, { description: string }> }
      const param = op?.parameters?.find((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key')
      if (!param?.description) gaps.push(`${name}: no Idempotency-Key parameter`)
      if (!op?.responses['409']?.description.includes('IDEMPOTENCY_KEY_IN_USE')) gaps.push(`${name}: 409 IDEMPOTENCY_KEY_IN_USE`)
      if (!op?.responses['422']) gaps.push(`${name}: 422`)
    }
    expect(gaps, gaps.join('\n')).toEqual([])
    const withKey = ops.filter((o) => (o.op.parameters as { in: string; name: string }[] | undefined)?.some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key')).map((o) => o.name)
    expect(withKey.sort()).toEqual(idempotent.sort())
  })

  /**
   * CI lints the document with Redocly CLI's recommended ruleset (`npm run lint:openapi`, after the layer check) and fails on
   * any error; redocly.yaml turns no rule off or down without a comment saying why.
   */
  it('is linted in CI by Redocly with the recommended rules, each rule changed with its reason', () => {
    expect(pkg.devDependencies['@redocly/cli'], 'devDependency').toBeTruthy()
    expect(pkg.scripts['lint:openapi']).toMatch(/scripts\/openapi\/lint\.mjs/)
    expect(ciRun.indexOf('npm run lint:openapi'), ciRun).toBeGreaterThan(ciRun.indexOf('npm run check:layers'))
    expect(ciRun.indexOf('npm run check:layers')).toBeGreaterThan(0)
    expect(redoclyYaml).toMatch(/^extends:\n\s+- recommended$/m)
    expect(redoclyYaml).toMatch(/^telemetry: off$/m)
    const lines = redoclyYaml.split('\n')
    const rulesAt = lines.findIndex((l) => /^rules:/.test(l))
    if (rulesAt >= 0) {
      for (let i = rulesAt + 1; i < lines.length && /^\s/.test(lines[i]!); i++) {
        if (/^\s+[\w/-]+:/.test(lines[i]!)) expect(lines[i - 1], `redocly.yaml: ${lines[i]} needs a comment saying why`).toMatch(/^\s*#/)
      }
    }
  })

  /**
   * Status strings in responses (`status`, `paymentStatus`, `lastStatus`, …) are enums whose values come from the code's own
   * types and database enums, so a generated client can switch on them. Not enums, on purpose: an order timeline entry's
   * status (free text its writer chooses), a webhook endpoint's `lastStatus` (`failed (HTTP 503)` carries the HTTP status),
   * and a number's `recentCalls` (always empty: the API records no calls per number).
   */
  it('documents every status string of a response as an enum', async () => {
    const res = await call('/openapi.json')
    const NOT_ENUMS = new Set([
      '$.components.schemas.OrderDetailsResponse.timeline.items.status',
      '$.components.schemas.WebhookEndpoint.lastStatus',
      '$.components.schemas.NumberDetailsResponse.allOf[1].recentCalls.items.status',
    ])
    const found: { path: string; enum?: unknown[] }[] = []
    const walk = (node: unknown, path: string) => {
      if (Array.isArray(node)) {
        for (const [i, v] of node.entries()) walk(v, `${path}[${i}]`)
        return
      }
      if (node === null || typeof node !== 'object') return
      const props = (node as { properties?: Record<string, { type?: string | string[]; enum?: unknown[] }> }).properties
      for (const [name, schema] of Object.entries(props ?? {})) {
        if (/(^|_)status$|Status$/.test(name) && [schema?.type].flat().includes('string')) found.push({ path: `${path}.${name}`.replace(/\.properties\./g, '.'), enum: schema.enum })
      }
      for (const [k, v] of Object.entries(node)) if (k !== 'requestBody' && k !== 'parameters') walk(v, `${path}.${k}`)
    }
    const requestOnly = new Set([...JSON.stringify(operations(res.body.paths).map((o) => o.op.requestBody ?? null)).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]))
    walk(res.body.paths, '$.paths')
    for (const [name, schema] of Object.entries(res.body.components.schemas as Record<string, unknown>)) if (!requestOnly.has(name)) walk(schema, `$.components.schemas.${name}`)
    expect(found.filter((f) => f.enum).length).toBeGreaterThan(55)
    const free = found.filter((f) => !f.enum && !NOT_ENUMS.has(f.path)).map((f) => f.path)
    expect(free, `${free.length} status strings without an enum:\n${free.join('\n')}`).toEqual([])
    const schemas = res.body.components.schemas
    expect(schemas.OrderSummary.properties.items.items.properties.status.enum).toEqual(['pending', 'unconfirmed', 'success', 'failed', 'cancelled', 'refunded'])
    expect(schemas.NumberPurchaseResponse.properties.order.properties.status.enum).toContain('payment_failed')
  })

  it('/docs serves the interactive HTML page pointing at /openapi.json', async () => {
    const res = await call('/docs')
    expect(res.status, res.text.slice(0, 1000)).toBe(200)
    expect(res.headers.get('content-type'), res.text.slice(0, 1000)).toMatch(/text\/html/)
    expect(res.text, res.text.slice(0, 1000)).toMatch(/<html/i)
    expect(res.text, res.text.slice(0, 1000)).toContain('/openapi.json')
  })

  it('/redoc serves a Redoc page for /openapi.json, under a CSP that allows exactly what the page loads', async () => {
    const res = await call('/redoc')
    expect(res.status, res.text.slice(0, 1000)).toBe(200)
    expect(res.headers.get('content-type'), res.text.slice(0, 1000)).toMatch(/text\/html/)
    expect(res.text).toMatch(/<redoc spec-url="\/openapi\.json"/)
    // The script: one pinned version of the standalone bundle, checked by Subresource Integrity.
    const script = /<script src="(https:\/\/[^"]+\/redoc@\d+\.\d+\.\d+\/bundles\/redoc\.standalone\.js)" integrity="(sha384-[A-Za-z0-9+/]{64})" crossorigin="anonymous"><\/script>/.exec(res.text)
    expect(script, res.text).not.toBeNull()
    expect(res.text, 'no inline script').not.toMatch(/<script>|<script(?![^>]*\ssrc=)[^>]*>/)

    const csp = res.headers.get('content-security-policy')
    expect(csp, 'a CSP header').toBeTruthy()
    const directives = Object.fromEntries(
      csp!
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map(([name, ...values]) => [name, values]),
    )
    expect(directives['default-src']).toEqual(["'none'"])
    expect(directives['script-src']).toEqual([script![1]]) // that one file, nothing inline
    expect(directives['connect-src']).toEqual(["'self'"]) // fetches /openapi.json
    expect(directives['worker-src']).toEqual(['blob:']) // its search index runs in a worker built from a blob
    expect(directives['style-src']).toEqual(["'unsafe-inline'"]) // it injects its styles at run time
    expect(directives['img-src']).toEqual(["'self'", 'data:', 'https://cdn.redoc.ly/redoc/logo-mini.svg']) // its own logo in the menu
    expect(directives['frame-ancestors']).toEqual(["'none'"])
  })
})

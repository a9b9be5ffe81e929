/**
 * Connectors through the API: the type and each credential field checked (400 naming
 * `credentials.<field>`, never quoting the value), credentials sealed in D1 and never in an answer
 * (only `credentialsHint`, `…` and the last 4 characters of the main secret), the sandbox's test,
 * an inactive connector refusing sends, another project's connector 404 — and a real upstream's
 * `test()` through the service, whose result and logs never carry the bot token.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Env } from '../../../src/env'
import { createServices } from '../../../src/services'
import { type ApiResponse, call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'
import { messagingSetup, sendBody } from '../../helpers/messaging'
import { fakeUpstream, json } from '../../helpers/upstream'

const TELEGRAM_TOKEN = '7012345678:AAF4xq9-Zt_3kLmN0pQrStUvWxYz12345ab'

/** Valid credentials per type, each value distinctive enough to be searched for in an answer. */
const CREDENTIALS = {
  whatsapp: { phoneNumberId: '106540352242922', accessToken: 'EAAGm0PX4ZCpsBAKZwhatsAppAccess9931', appSecret: 'wa-app-secret-5521', webhookVerifyToken: 'wa-verify-token-7734' },
  telegram: { botToken: TELEGRAM_TOKEN },
  twilio: { accountSid: `AC${'0123456789abcdef'.repeat(2)}`, authToken: 'twilio-auth-token-8fd2c1b0e9', fromNumber: '+14155550100' },
} as const
const MAIN_SECRET = { whatsapp: 'accessToken', telegram: 'botToken', twilio: 'authToken' } as const
type RealType = keyof typeof CREDENTIALS

/** Every value of the credentials, and the token's secret half (as good as the token). */
function secretsOf(credentials: Record<string, string>): string[] {
  const values = Object.values(credentials)
  return [...values, ...values.filter((v) => v.includes(':')).map((v) => v.slice(v.indexOf(':') + 1))]
}

function expectNoSecret(res: ApiResponse | string, secrets: string[], what: string) {
  const text = typeof res === 'string' ? res : res.text
  for (const secret of secrets) expect(text.includes(secret), `${what} contains ${secret}: ${text}`).toBe(false)
}

async function project(u: TestUser): Promise<string> {
  const res = await call('/api/v1/projects', { token: u.accessToken, body: { name: 'Connectors' } })
  expect(res.status, res.text).toBe(201)
  return res.body.data.id
}

const createConnector = (u: TestUser, projectId: string, body: Record<string, unknown>) => call(`/api/v1/projects/${projectId}/connectors`, { token: u.accessToken, body })

async function connectorRow(id: string) {
  return env.DB.prepare('SELECT * FROM connectors WHERE id = ?').bind(id).first<Record<string, unknown>>()
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('POST /api/v1/projects/:projectId/connectors: validation', () => {
  it('an unknown type is 400 INVALID_CONNECTOR_TYPE', async () => {
    const u = await registerUser()
    const p = await project(u)
    for (const type of ['email', 'sms', 'Sandbox', 'TELEGRAM', '']) {
      const res = await createConnector(u, p, { type, name: 'Nope', credentials: {} })
      expectErrorEnvelope(res, 400, 'INVALID_CONNECTOR_TYPE')
      expect(res.body.error.field, res.text).toBe('type')
    }
    const list = await call(`/api/v1/projects/${p}/connectors`, { token: u.accessToken })
    expect(list.body.data.connectors).toEqual([])
  })

  it('a missing or malformed credential field is 400 VALIDATION_ERROR naming credentials.<field>, without quoting the value', async () => {
    const u = await registerUser()
    const p = await project(u)
    const leak = 'leaky-credential-value-31337'
    const cases: [string, Record<string, unknown>, string][] = [
      ['whatsapp', { accessToken: CREDENTIALS.whatsapp.accessToken }, 'credentials.phoneNumberId'],
      ['whatsapp', { ...CREDENTIALS.whatsapp, phoneNumberId: leak }, 'credentials.phoneNumberId'],
      ['whatsapp', { phoneNumberId: CREDENTIALS.whatsapp.phoneNumberId }, 'credentials.accessToken'],
      ['whatsapp', { ...CREDENTIALS.whatsapp, accessToken: 'short' }, 'credentials.accessToken'],
      ['whatsapp', { ...CREDENTIALS.whatsapp, appSecret: 'tiny' }, 'credentials.appSecret'],
      ['telegram', {}, 'credentials.botToken'],
      ['telegram', { botToken: leak }, 'credentials.botToken'],
      ['telegram', { botToken: 12345 }, 'credentials.botToken'],
      ['twilio', { ...CREDENTIALS.twilio, accountSid: leak }, 'credentials.accountSid'],
      ['twilio', { accountSid: CREDENTIALS.twilio.accountSid, fromNumber: CREDENTIALS.twilio.fromNumber }, 'credentials.authToken'],
      ['twilio', { ...CREDENTIALS.twilio, fromNumber: '4155550100' }, 'credentials.fromNumber'],
      ['sandbox', { deliverAfterMs: -1 }, 'credentials.deliverAfterMs'],
    ]
    for (const [type, credentials, field] of cases) {
      const res = await createConnector(u, p, { type, name: 'Bad', credentials })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, `${type} ${JSON.stringify(credentials)}: ${res.text}`).toBe(field)
      expect(
        (res.body.error.details as { field: string }[]).map((d) => d.field),
        res.text,
      ).toContain(field)
      expect(res.body.error.message, res.text).toContain(field)
      expectNoSecret(res, [leak], `${type} error`)
    }
    const list = await call(`/api/v1/projects/${p}/connectors`, { token: u.accessToken })
    expect(list.body.data.connectors, list.text).toEqual([])
  })
})

describe('connector credentials are never shown', () => {
  it('create, get, list and update answer only the hint (… and the last 4 characters); D1 holds them sealed', async () => {
    const u = await registerUser()
    const p = await project(u)
    const ids: Record<string, string> = {}
    for (const type of Object.keys(CREDENTIALS) as RealType[]) {
      const credentials: Record<string, string> = CREDENTIALS[type]
      const secrets = secretsOf(credentials)
      const hint = `…${credentials[MAIN_SECRET[type]]!.slice(-4)}`
      const created = await createConnector(u, p, { type, name: `${type} main`, credentials })
      expect(created.status, created.text).toBe(201)
      expect(created.body.data).toMatchObject({ type, name: `${type} main`, isActive: true, credentialsHint: hint, projectId: p })
      expect(created.body.data).not.toHaveProperty('credentials')
      expectNoSecret(created, secrets, `create ${type}`)
      const id = created.body.data.id
      ids[type] = id

      const got = await call(`/api/v1/projects/${p}/connectors/${id}`, { token: u.accessToken })
      expect(got.body.data.credentialsHint, got.text).toBe(hint)
      expectNoSecret(got, secrets, `get ${type}`)

      const row = await connectorRow(id)
      expect(row?.credentials_hint).toBe(hint)
      expect(typeof row?.credentials).toBe('string')
      expectNoSecret(JSON.stringify(row), secrets, `the D1 row of ${type}`)
    }

    const list = await call(`/api/v1/projects/${p}/connectors`, { token: u.accessToken })
    expect(list.body.data.connectors, list.text).toHaveLength(3)
    expectNoSecret(list, Object.values(CREDENTIALS).flatMap(secretsOf), 'list')

    // New credentials: the hint follows them; neither the old nor the new values are in the answer or the row.
    const renewed = { ...CREDENTIALS.twilio, authToken: 'twilio-auth-token-renewed-4d7a' }
    const updated = await call(`/api/v1/projects/${p}/connectors/${ids.twilio}`, { token: u.accessToken, method: 'PUT', body: { name: 'Twilio renewed', credentials: renewed } })
    expect(updated.status, updated.text).toBe(200)
    expect(updated.body.data).toMatchObject({ name: 'Twilio renewed', credentialsHint: '…4d7a' })
    expectNoSecret(updated, [...secretsOf(CREDENTIALS.twilio), ...secretsOf(renewed)], 'update')
    const row = await connectorRow(ids.twilio!)
    expect(row?.credentials_hint).toBe('…4d7a')
    expectNoSecret(JSON.stringify(row), secretsOf(renewed), 'the updated D1 row')

    // Invalid new credentials: 400 naming the field; the connector keeps what it had.
    const bad = await call(`/api/v1/projects/${p}/connectors/${ids.telegram}`, { token: u.accessToken, method: 'PUT', body: { credentials: { botToken: 'leaky-new-token-0001' } } })
    expectErrorEnvelope(bad, 400, 'VALIDATION_ERROR')
    expect(bad.body.error.field, bad.text).toBe('credentials.botToken')
    expectNoSecret(bad, ['leaky-new-token-0001'], 'update error')
    expect((await connectorRow(ids.telegram!))?.credentials_hint).toBe(`…${TELEGRAM_TOKEN.slice(-4)}`)
  })

  it('the same credentials sealed twice are two different ciphertexts (a fresh nonce each)', async () => {
    const u = await registerUser()
    const p = await project(u)
    const a = await createConnector(u, p, { type: 'telegram', name: 'A', credentials: CREDENTIALS.telegram })
    const b = await createConnector(u, p, { type: 'telegram', name: 'B', credentials: CREDENTIALS.telegram })
    const [ra, rb] = [await connectorRow(a.body.data.id), await connectorRow(b.body.data.id)]
    expect(ra?.credentials).not.toBe(rb?.credentials)
  })

  it('a sandbox connector has no hint', async () => {
    const u = await registerUser()
    const p = await project(u)
    const res = await createConnector(u, p, { type: 'sandbox', name: 'Sandbox', credentials: { deliverAfterMs: 0, failRecipients: ['+14155550199'] } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.credentialsHint).toBeNull()
    expect(res.text).not.toContain('+14155550199')
  })
})

describe('connector behaviour', () => {
  it('POST …/test on a sandbox connector answers {success: true, connected: true, message}', async () => {
    const u = await registerUser()
    const s = await messagingSetup(u)
    const res = await call(`/api/v1/projects/${s.projectId}/connectors/${s.connectorId}/test`, { token: u.accessToken, method: 'POST' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toEqual({ success: true, connected: true, message: expect.any(String) })
    expect(res.body.data.message.length).toBeGreaterThan(0)
  })

  it('isActive: false refuses sends with 400 CONNECTOR_NOT_ACTIVE (nothing held); true again sends', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const off = await call(`/api/v1/projects/${s.projectId}/connectors/${s.connectorId}`, { token: u.accessToken, method: 'PUT', body: { isActive: false } })
    expect(off.status, off.text).toBe(200)
    expect(off.body.data.isActive).toBe(false)
    const refused = await call('/api/v1/messages', { token: s.key, body: sendBody(s) })
    expectErrorEnvelope(refused, 400, 'CONNECTOR_NOT_ACTIVE')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, activeHolds: 0 })
    const count = await env.DB.prepare('SELECT COUNT(*) AS n FROM messages WHERE user_id = ?').bind(u.id).first<{ n: number }>()
    expect(count?.n).toBe(0)

    const on = await call(`/api/v1/projects/${s.projectId}/connectors/${s.connectorId}`, { token: u.accessToken, method: 'PUT', body: { isActive: true } })
    expect(on.body.data.isActive).toBe(true)
    const sent = await call('/api/v1/messages', { token: s.key, body: sendBody(s) })
    expect(sent.status, sent.text).toBe(202)
  })

  it('a connector of another project of the same account is 404 CONNECTOR_NOT_FOUND on every route, and stays as it was', async () => {
    const u = await registerUser()
    const a = await messagingSetup(u)
    const b = await messagingSetup(u)
    const path = `/api/v1/projects/${a.projectId}/connectors/${b.connectorId}`
    const t = { token: u.accessToken }
    for (const [method, suffix, body] of [
      ['GET', ''],
      ['PUT', '', { isActive: false, name: 'Moved' }],
      ['DELETE', ''],
      ['POST', '/test'],
    ] as [string, string, unknown?][]) {
      expectErrorEnvelope(await call(`${path}${suffix}`, { ...t, method, body }), 404, 'CONNECTOR_NOT_FOUND')
    }
    const listA = await call(`/api/v1/projects/${a.projectId}/connectors`, t)
    expect(listA.body.data.connectors.map((c: { id: string }) => c.id)).toEqual([a.connectorId])
    const inB = await call(`/api/v1/projects/${b.projectId}/connectors/${b.connectorId}`, t)
    expect(inB.body.data).toMatchObject({ isActive: true, name: 'sandbox connector' })
  })

  it('a deleted connector is 404 and refuses sends', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const path = `/api/v1/projects/${s.projectId}/connectors/${s.connectorId}`
    const del = await call(path, { token: u.accessToken, method: 'DELETE' })
    expect(del.status, del.text).toBe(204)
    expectErrorEnvelope(await call(path, { token: u.accessToken }), 404, 'CONNECTOR_NOT_FOUND')
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s) }), 404, 'CONNECTOR_NOT_FOUND')
  })
})

describe("a real upstream's test through the service (injected fetch)", () => {
  /** A Telegram connector made through the API, and a services bag whose upstream HTTP is `fetch`. */
  async function telegramConnector() {
    const u = await registerUser()
    const p = await project(u)
    const res = await createConnector(u, p, { type: 'telegram', name: 'Bot', credentials: CREDENTIALS.telegram })
    expect(res.status, res.text).toBe(201)
    return { u, projectId: p, id: res.body.data.id as string }
  }

  function captureConsole(): string[] {
    const lines: string[] = []
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? `${a.message} ${a.stack}` : JSON.stringify(a))).join(' '))
      })
    }
    return lines
  }

  const secrets = secretsOf(CREDENTIALS.telegram)

  it('getMe ok: connected, naming the bot; a 401 and a network failure: not connected; never the token, in the result or a log line', async () => {
    const { u, projectId, id } = await telegramConnector()
    const answers: (() => Response | Promise<Response>)[] = [
      // getMe answers a User (Bot API "getMe": "Returns basic information about the bot in form of a User object").
      () => json({ ok: true, result: { id: 7012345678, is_bot: true, first_name: 'Switchboard', username: 'switchboard_test_bot' } }),
      // The Bot API's error shape: {ok: false, error_code, description}.
      () => json({ ok: false, error_code: 401, description: 'Unauthorized' }, 401),
      // A fetch that fails with the URL (and so the token) in its message.
      () => Promise.reject(new TypeError(`fetch failed: https://api.telegram.org/bot${TELEGRAM_TOKEN}/getMe`)),
    ]
    const lines = captureConsole()
    const results = []
    for (const answer of answers) {
      const upstream = fakeUpstream(answer)
      const services = createServices(env as unknown as Env, createExecutionContext(), { providers: { fetch: upstream.fetch, secret: () => undefined } })
      results.push(await services.connectors.test(ctxFor(u.id), projectId, id))
      expect(upstream.calls).toHaveLength(1)
      expect(upstream.last.method).toBe('POST')
      expect(upstream.last.url.pathname).toBe(`/bot${TELEGRAM_TOKEN}/getMe`)
    }
    vi.restoreAllMocks()
    expect(results[0]).toEqual({ success: true, connected: true, message: 'Connected to Telegram Bot API (@switchboard_test_bot)' })
    expect(results[1]).toMatchObject({ success: false, connected: false })
    expect(results[1]!.message).toContain('401')
    expect(results[2]).toMatchObject({ success: false, connected: false })
    for (const r of results) expectNoSecret(JSON.stringify(r), secrets, 'a test result')
    for (const line of lines) expectNoSecret(line, secrets, 'a log line')
  })

  it("another account's connector is 404 through the service too, and the upstream is not called", async () => {
    const { projectId, id } = await telegramConnector()
    const stranger = await registerUser()
    const upstream = fakeUpstream(() => json({ ok: true, result: { id: 1, is_bot: true, first_name: 'X' } }))
    const services = createServices(env as unknown as Env, createExecutionContext(), { providers: { fetch: upstream.fetch, secret: () => undefined } })
    await expect(services.connectors.test(ctxFor(stranger.id), projectId, id)).rejects.toMatchObject({ status: 404, code: 'PROJECT_NOT_FOUND' })
    expect(upstream.calls).toHaveLength(0)
  })
})

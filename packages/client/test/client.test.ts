/**
 * The client against the real Worker: its `fetch` is the Worker's own fetch handler inside workerd, so
 * every request takes the production path (middleware, D1, Durable Objects, queues).
 */
import { env } from 'cloudflare:test'
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { freshIp, PASSWORD, registerUser, type TestUser } from '../../../test/helpers/api'
import { sellingProvider, uniqueService } from '../../../test/helpers/activations'
import { fund } from '../../../test/helpers/catalog'
import { messagingSetup } from '../../../test/helpers/messaging'
import { registerSims, simProvider, uniqueIccid } from '../../../test/helpers/sims'
import { createClient, type Fetch, SwitchboardError } from '../src/index'
import { createMessageJS } from '../src/messagejs'

const BASE_URL = 'http://switchboard.test'

/** The Worker's fetch, each request from its own client IP (per-IP limits must not couple tests). */
const worker: Fetch = (request) => {
  const r = new Request(request)
  r.headers.set('cf-connecting-ip', freshIp())
  return (exports as any).default.fetch(r)
}

/** Wraps the Worker's fetch: records each request's method, path and Idempotency-Key; `inject` may answer instead. */
function recording(inject?: (request: Request, n: number) => Response | undefined) {
  const seen: { method: string; path: string; key: string | null }[] = []
  const fetch: Fetch = async (request) => {
    seen.push({ method: request.method, path: new URL(request.url).pathname, key: request.headers.get('idempotency-key') })
    return inject?.(request, seen.length) ?? worker(request)
  }
  return { fetch, seen }
}

const rateLimited = () =>
  new Response(JSON.stringify({ success: false, error: { code: 'RATE_LIMIT_EXCEEDED', message: 'slow down', details: { retry_after: 0 } }, meta: { requestId: 'req_injected' } }), {
    status: 429,
    headers: { 'content-type': 'application/json', 'retry-after': '0' },
  })

async function session(u: TestUser) {
  const anonymous = createClient({ baseUrl: BASE_URL, fetch: worker })
  const login = await anonymous.logIn({ body: { email: u.email, password: PASSWORD } })
  return createClient({ baseUrl: BASE_URL, fetch: worker, accessToken: login.tokens.accessToken })
}

describe('createClient against the Worker', () => {
  it('logs in, buys an activation (Idempotency-Key sent), reads its SMS', async () => {
    const u = await registerUser()
    const sb = await session(u)
    expect((await sb.getCurrentUser()).email).toBe(u.email)

    const offer = await sellingProvider({ serviceCode: uniqueService('sdk') })
    await fund(u.id, 5)
    const rec = recording()
    const buyer = createClient({ baseUrl: BASE_URL, fetch: rec.fetch, accessToken: async () => (await sb.logIn({ body: { email: u.email, password: PASSWORD } })).tokens.accessToken })
    const number = await buyer.purchaseActivation({ body: { countryCode: offer.countryCode, serviceCode: offer.serviceCode } })
    expect(number).toMatchObject({ status: 'active' })
    expect(rec.seen.find((r) => r.method === 'POST' && r.path === '/api/v1/numbers')?.key).toMatch(/^[0-9a-f-]{36}$/)

    await sb.sendSandboxActivationSms({ params: { path: { id: number.id } }, body: { text: 'Your code is 424242' } })
    const sms = await sb.getActivationSms({ params: { path: { activationId: number.id } } })
    expect(sms).toMatchObject({ activationId: number.id, code: '424242' })
    // The same read by method and path.
    expect(await sb.GET('/api/v1/sms/{activationId}', { params: { path: { activationId: number.id } } })).toMatchObject({ code: '424242' })
  })

  it('sends a message with a project key, through the client and through messagejs', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const body = { to: '+14155550123', connectorId: s.connectorId, templateId: s.templateId, variables: { name: 'Ada', code: '12345' } }
    const sb = createClient({ baseUrl: BASE_URL, fetch: worker, apiKey: s.key })
    const sent = await sb.sendMessage({ body })
    expect(sent).toMatchObject({ messageId: expect.stringMatching(/^msg_/), status: 'queued' })
    expect((await sb.getMessage({ params: { path: { id: sent.messageId } } })).id).toBe(sent.messageId)

    const mjs = createMessageJS()
    mjs.init({ apiKey: s.key, baseUrl: `${BASE_URL}/api/v1`, fetch: worker })
    const viaSeed = await mjs.sendMessage(body)
    expect(viaSeed).toEqual({ messageId: expect.stringMatching(/^msg_/), status: 'queued' })
    await expect(mjs.sendMessage({ ...body, to: 'not a number' })).rejects.toMatchObject({ name: 'SwitchboardError', status: 400, code: 'INVALID_TO' })
    await expect(createMessageJS().sendMessage(body)).rejects.toMatchObject({ code: 'MISSING_API_KEY' })
  })

  it('retries a 429 once with the same Idempotency-Key, then resolves; without retries the 429 is thrown', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const body = { to: '+14155550123', connectorId: s.connectorId, templateId: s.templateId, variables: { name: 'Ada', code: '1' } }
    const rec = recording((_request, n) => (n === 1 ? rateLimited() : undefined))
    const sb = createClient({ baseUrl: BASE_URL, fetch: rec.fetch, apiKey: s.key })
    const sent = await sb.sendMessage({ body })
    expect(sent.status).toBe('queued')
    expect(rec.seen).toHaveLength(2)
    expect(rec.seen[0]!.key).toBeTruthy()
    expect(rec.seen[1]!.key).toBe(rec.seen[0]!.key)

    // messagejs: retries 0 by default (the seed), 1 when asked.
    const once = recording((_request, n) => (n === 1 ? rateLimited() : undefined))
    const mjs = createMessageJS(BASE_URL)
    mjs.init({ apiKey: s.key, fetch: once.fetch })
    await expect(mjs.sendMessage(body)).rejects.toMatchObject({ status: 429, code: 'RATE_LIMIT_EXCEEDED', requestId: 'req_injected' })
    const twice = recording((_request, n) => (n === 1 ? rateLimited() : undefined))
    mjs.init({ apiKey: s.key, fetch: twice.fetch, retries: 1 })
    expect((await mjs.sendMessage(body)).status).toBe('queued')
    expect(twice.seen.map((r) => r.key)).toEqual([twice.seen[0]!.key, twice.seen[0]!.key])
  })

  it('never retries a POST the API does not mark idempotent', async () => {
    const u = await registerUser()
    const rec = recording(() => rateLimited())
    const sb = createClient({ baseUrl: BASE_URL, fetch: rec.fetch, accessToken: u.accessToken })
    await expect(sb.createProject({ body: { name: 'Once' } })).rejects.toMatchObject({ status: 429 })
    expect(rec.seen).toEqual([{ method: 'POST', path: '/api/v1/projects', key: null }])
  })

  it('turns a 400 into a SwitchboardError naming the field', async () => {
    const u = await registerUser()
    const sb = createClient({ baseUrl: BASE_URL, fetch: worker, accessToken: u.accessToken })
    const error = await sb.createProject({ body: { name: '' } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SwitchboardError)
    expect(error).toMatchObject({ status: 400, code: 'VALIDATION_ERROR', field: 'name', requestId: expect.any(String) })
    expect((error as SwitchboardError).details).toEqual([expect.objectContaining({ field: 'name' })])
  })

  describe('pages through 120 items in each pagination style', () => {
    it('page/limit: the wallet ledger', async () => {
      const u = await registerUser()
      for (let i = 0; i < 120; i++) await fund(u.id, 0.01)
      const sb = createClient({ baseUrl: BASE_URL, fetch: worker, accessToken: u.accessToken })
      const pages = []
      for await (const page of sb.pages('listWalletTransactions', { params: { query: { limit: 50 } } })) pages.push(page)
      expect(pages.map((p) => [p.pagination.page, p.data.length])).toEqual([
        [1, 50],
        [2, 50],
        [3, 20],
      ])
      const ids = []
      for await (const entry of sb.paginate('listWalletTransactions')) ids.push(entry.id)
      expect(new Set(ids).size).toBe(120)
    })

    it('page/page_size: SIMs', async () => {
      const u = await registerUser()
      await simProvider()
      // Registration takes 100 SIMs at a time.
      for (let i = 0; i < 2; i++)
        await registerSims(
          u,
          Array.from({ length: 60 }, () => uniqueIccid()),
        )
      const sb = createClient({ baseUrl: BASE_URL, fetch: worker, accessToken: u.accessToken })
      const iccids = []
      let pages = 0
      for await (const page of sb.pages('listSims', { params: { query: { page_size: 50 } } })) {
        pages++
        for (const sim of page.data) iccids.push(sim.iccid)
      }
      expect(pages).toBe(3)
      expect(new Set(iccids).size).toBe(120)
    })

    it('limit/offset: messaging projects', async () => {
      const u = await registerUser()
      const now = Date.now()
      await env.DB.batch(
        Array.from({ length: 120 }, (_, i) =>
          env.DB.prepare('INSERT INTO projects (id, user_id, name, is_active, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)').bind(`proj_sdk${now}${i}`, u.id, `P${i}`, now + i, now + i),
        ),
      )
      const sb = createClient({ baseUrl: BASE_URL, fetch: worker, accessToken: u.accessToken })
      const offsets = []
      for await (const page of sb.pages('listProjects', { params: { query: { limit: 50 } } })) offsets.push(page.pagination.offset)
      expect(offsets).toEqual([0, 50, 100])
      const names = []
      for await (const project of sb.paginate('listProjects')) names.push(project.name)
      expect(new Set(names).size).toBe(120)
    })
  })
})

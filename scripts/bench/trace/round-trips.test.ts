/**
 * The D1 statements, Durable Object calls, queue sends and outbound fetches of each request the
 * bench drives, in order, split into those before the answer and those after it (waitUntil), and
 * the queue consumers' work for the paths that go through a queue. Printed, not asserted beyond
 * "the request succeeded": it is the evidence behind BENCHMARKS.md's diagnosis. At the end, one
 * table: the calls per request (or per message) of every path of `npm run bench`.
 *
 *   npm run bench -- --trace
 *
 * A new bench path is one entry in BENCH_PATHS and one test that traces it and calls `tally` with
 * its id; a path listed without a tally is printed as "not traced".
 *
 * API-key lookups are cached as in production (the second request of a key reads no D1 for it).
 * Not seen here: what a Durable Object does itself (the Wallet copies ledger entries to D1 after
 * each money operation).
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../../src/app'
import { inAfterAnswer } from '../../../src/lib/after-answer'
import { API_KEY_CACHE_TTL_MS, apiKeyCache } from '../../../src/modules/auth/authn.service'
import { OFFER_CACHE_TTL_MS, offerCache } from '../../../src/modules/providers/offer-cache'
import type { Env } from '../../../src/env'
import { newId } from '../../../src/lib/ids'
import { queue as queueHandler } from '../../../src/queue'
import { buildRequest, call, createApiKey, readResponse, registerUser, type TestUser } from '../../../test/helpers/api'
import { fund, sandboxProvider, seedInventory, seedOffers } from '../../../test/helpers/catalog'
import { messagingSetup, sendBody } from '../../../test/helpers/messaging'
import { registerSims, simProvider, uniqueIccid } from '../../../test/helpers/sims'

interface Step {
  kind: 'D1' | 'D1 batch' | 'DO' | 'queue' | 'fetch'
  what: string
  after: boolean
}

/** Every path of scripts/bench/run.mjs that runs the app, in the order of its table (the floors run another Worker). */
const BENCH_PATHS = [
  'health',
  'balance',
  'numbers-100',
  'numbers-10k',
  'purchase-50',
  'purchase-1',
  'did-purchase-50',
  'webhooks',
  'sim-topup-50',
  'sim-bulk-10k',
  'message-send-50',
  'message-queue-2000',
]

/** The table's rows: per bench path, what was traced and its calls (divided by `per`: a batch's messages). */
const tallies: { path: string; what: string; steps: Step[]; per: number }[] = []
function tally(path: string, what: string, steps: Step[], per = 1) {
  tallies.push({ path, what, steps, per })
}

/** The host the traced webhook deliveries go to; the traced `fetch` answers it 200 itself. */
const RECEIVER_HOST = 'hooks.trace.example'
/** Where the traced `fetch` notes its calls (the test in progress), or null. */
let fetchSteps: { steps: Step[]; state: { answered: boolean } } | null = null
const realFetch = globalThis.fetch
function tracedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input))
  fetchSteps?.steps.push({
    kind: 'fetch',
    what: `${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${url.host}${url.pathname}`,
    after: fetchSteps.state.answered || inAfterAnswer(),
  })
  if (url.hostname === RECEIVER_HOST) return Promise.resolve(new Response('ok'))
  return realFetch(input, init)
}

/** The env with every binding the app uses wrapped to note each call in `steps`. */
function tracedEnv(steps: Step[], state: { answered: boolean }): Env {
  fetchSteps = { steps, state }
  const note = (kind: Step['kind'], what: string) => steps.push({ kind, what, after: state.answered || inAfterAnswer() })
  const noted = <T>(kind: Step['kind'], what: string, run: () => T): T => {
    note(kind, what)
    return run()
  }
  const short = (sql: string) => sql.replace(/\s+/g, ' ').replace(/"/g, '').slice(0, 110)
  const meta = new WeakMap<object, { stmt: D1PreparedStatement; sql: string }>()
  const wrap = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const w = {
      bind: (...a: unknown[]) => wrap(stmt.bind(...a), sql),
      first: (c?: string) => noted('D1', short(sql), () => (c === undefined ? stmt.first() : stmt.first(c))),
      all: () => noted('D1', short(sql), () => stmt.all()),
      run: () => noted('D1', short(sql), () => stmt.run()),
      raw: (o?: { columnNames?: boolean }) => noted('D1', short(sql), () => stmt.raw(o as { columnNames: true })),
    }
    meta.set(w, { stmt, sql })
    return w as unknown as D1PreparedStatement
  }
  const DB = {
    prepare: (sql: string) => wrap(env.DB.prepare(sql), sql),
    batch: (stmts: D1PreparedStatement[]) => {
      note('D1 batch', stmts.map((s) => short(meta.get(s)?.sql ?? '?').slice(0, 60)).join(' | '))
      return env.DB.batch(stmts.map((s) => meta.get(s)?.stmt ?? s))
    },
    exec: (sql: string) => env.DB.exec(sql),
  }
  const namespace = (name: string, ns: DurableObjectNamespace) =>
    new Proxy(ns, {
      get(target, prop) {
        if (prop !== 'get') return Reflect.get(target, prop).bind(target)
        return (id: DurableObjectId) => {
          const stub = target.get(id)
          return new Proxy(stub, {
            get(s, method) {
              if (typeof method !== 'string' || method === 'then') return Reflect.get(s, method)
              // An RPC stub answers every property with a callable; call it on the stub itself.
              return (...args: unknown[]) => noted('DO', `${name}.${method}`, () => (s as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args))
            },
          })
        }
      },
    })
  const queue = (name: string, q: Queue) => ({
    send: (body: unknown, o?: QueueSendOptions) => noted('queue', `${name}.send`, () => q.send(body, o)),
    sendBatch: (m: Iterable<MessageSendRequest>, o?: QueueSendBatchOptions) => {
      const list = [...m]
      note('queue', `${name}.sendBatch(${list.length})`)
      return q.sendBatch(list, o)
    },
  })
  return {
    ...env,
    DB,
    WALLET: namespace('WALLET', env.WALLET as unknown as DurableObjectNamespace),
    NUMBER_LOCK: namespace('NUMBER_LOCK', env.NUMBER_LOCK as unknown as DurableObjectNamespace),
    RATE_LIMITER: namespace('RATE_LIMITER', env.RATE_LIMITER as unknown as DurableObjectNamespace),
    METRICS: namespace('METRICS', env.METRICS as unknown as DurableObjectNamespace),
    EVENTS: queue('EVENTS', env.EVENTS),
    WEBHOOKS: queue('WEBHOOKS', env.WEBHOOKS),
    JOBS: queue('JOBS', env.JOBS),
    MESSAGES: queue('MESSAGES', env.MESSAGES),
  } as unknown as Env
}

/** "3 D1 (1 as batch), 2 DO, 1 queue, 0 fetch" for the steps on one side of the answer, divided by `per`. */
function counts(steps: Step[], per = 1): string {
  const n = (...k: Step['kind'][]) => {
    const v = steps.filter((x) => k.includes(x.kind)).length / per
    return Number.isInteger(v) ? String(v) : v.toFixed(1)
  }
  const batches = n('D1 batch')
  return `${n('D1', 'D1 batch')} D1${batches !== '0' ? ` (${batches} as batch${batches === '1' ? '' : 'es'})` : ''}, ${n('DO')} DO, ${n('queue')} queue, ${n('fetch')} fetch`
}

function print(title: string, steps: Step[]) {
  console.log(
    `${title}\n  before the answer: ${counts(steps.filter((x) => !x.after))}; after it (waitUntil): ${counts(steps.filter((x) => x.after))}\n` +
      steps.map((s, i) => `  ${String(i + 1).padStart(2)} ${s.after ? 'after ' : 'before'} ${s.kind.padEnd(8)} ${s.what}`).join('\n'),
  )
}

/** The table of calls per bench path (D1 counts round trips: a batch is one). */
function printTable() {
  const row = (path: string, t: (typeof tallies)[number]) => {
    const side = (after: boolean) =>
      counts(
        t.steps.filter((x) => x.after === after),
        t.per,
      )
    return `| ${path} | ${t.what} | ${side(false)} | ${side(true)} |`
  }
  const lines = ['| bench path | traced | before the answer | after it (waitUntil) |', '| --- | --- | --- | --- |']
  for (const path of BENCH_PATHS) {
    const mine = tallies.filter((t) => t.path === path)
    if (!mine.length) lines.push(`| \`${path}\` | not traced | – | – |`)
    for (const t of mine) lines.push(row(`\`${path}\``, t))
  }
  for (const t of tallies.filter((x) => !BENCH_PATHS.includes(x.path))) lines.push(row(`\`${t.path}\` (not in BENCH_PATHS)`, t))
  console.log(`\nCalls per request of each bench path (npm run bench -- --trace); consumers' rows are per message of a batch:\n\n${lines.join('\n')}\n`)
}

const app = createApp()

/** One request through the app with traced bindings; the deferred work is awaited and traced too. */
async function traced(_title: string, path: string, opts: Parameters<typeof buildRequest>[1], over: (steps: Step[], state: { answered: boolean }) => Partial<Env> = () => ({})) {
  const steps: Step[] = []
  const state = { answered: false }
  const ctx = createExecutionContext()
  const res = await readResponse(await app.fetch(buildRequest(path, opts), { ...tracedEnv(steps, state), ...over(steps, state) } as Env, ctx))
  state.answered = true
  await new Promise((r) => setTimeout(r, 0))
  await ctx.waitUntil(Promise.resolve())
  const { waitOnExecutionContext } = await import('cloudflare:test')
  await waitOnExecutionContext(ctx)
  print(`${opts?.method ?? (opts?.body ? 'POST' : 'GET')} ${path} → ${res.status}`, steps)
  return { res, steps }
}

describe('round trips per request (npm run bench -- --trace)', () => {
  let user: TestUser
  let key: string
  // As in production: accepted API-key lookups and offer reads kept per isolate (tests turn both off by default).
  beforeAll(() => {
    apiKeyCache.ttlMs = API_KEY_CACHE_TTL_MS
    globalThis.fetch = tracedFetch as typeof fetch
    offerCache.ttlMs = OFFER_CACHE_TTL_MS
  })
  afterAll(() => {
    apiKeyCache.ttlMs = null
    apiKeyCache.clear()
    offerCache.ttlMs = null
    offerCache.clear()
    globalThis.fetch = realFetch
    fetchSteps = null
    printTable()
  })

  it('setup: an account with an API key, money and the sandbox offers', async () => {
    user = await registerUser()
    key = (await createApiKey(user)).key
    await seedOffers(await sandboxProvider({ activation: {}, did: {} }))
    await fund(user.id, 100)
  })

  it('GET /health', async () => {
    const { res, steps } = await traced('health', '/health', {})
    expect(res.status, res.text).toBe(200)
    tally('health', '`GET /health`', steps)
  })

  it('GET /api/wallet/balance with an API key, twice (the second is what a client under load sees)', async () => {
    for (let i = 0; i < 2; i++) {
      const { res, steps } = await traced(`balance #${i + 1}`, '/api/wallet/balance', { apiKey: key })
      expect(res.status, res.text).toBe(200)
      if (i === 1) tally('balance', '`GET /api/wallet/balance` (key cached)', steps)
    }
  })

  it('GET /api/v1/numbers', async () => {
    const { res, steps } = await traced('numbers', '/api/v1/numbers?page=1&limit=20', { apiKey: key })
    expect(res.status, res.text).toBe(200)
    // The two paths make the same request for accounts of 100 and 10,000 numbers.
    tally('numbers-100', '`GET /api/v1/numbers?page=1&limit=20`', steps)
    tally('numbers-10k', 'the same request', steps)
  })

  it('POST /api/numbers/purchase, twice (the second is what a client under load sees: the offers from the cache)', async () => {
    for (let i = 0; i < 2; i++) {
      const { res, steps } = await traced(`purchase #${i + 1}`, '/api/numbers/purchase', { apiKey: key, body: { serviceCode: 'telegram', countryCode: 'us' } })
      expect(res.status, res.text).toBe(201)
      if (i === 1) {
        tally('purchase-50', '`POST /api/numbers/purchase` (offers from the cache)', steps)
        tally('purchase-1', 'the same request (one account)', steps)
      }
    }
  })

  it('POST /api/v1/numbers/purchase, one number per order (the did-purchase-50 path), twice', async () => {
    // The sandbox's US numbers in D1, as the provider sync writes them; each order names one not yet sold.
    const p = await sandboxProvider({ did: { countries: ['us'], perCountry: 20 } })
    const numbers = (await seedInventory(p)).map((n) => n.phoneNumber)
    for (let i = 0; i < 2; i++) {
      const { res, steps } = await traced(`DID order #${i + 1}`, '/api/v1/numbers/purchase', { apiKey: key, body: { numbers: [{ phoneNumber: numbers[i] }] } })
      expect(res.status, res.text).toBe(201)
      expect(res.body.data.results[0].status, res.text).toBe('SUCCESS')
      if (i === 1) tally('did-purchase-50', '`POST /api/v1/numbers/purchase`, one number per order', steps)
    }
  })

  it('POST /api/v1/sims/{iccid}/topup, twice (the second is what a client under load sees)', async () => {
    await simProvider()
    const iccid = uniqueIccid()
    await registerSims(user, [iccid])
    for (let i = 0; i < 2; i++) {
      const { res, steps } = await traced(`sim top-up #${i + 1}`, `/api/v1/sims/${iccid}/topup`, { apiKey: key, body: { quota_type: 'data', volume: 1_048_576 } })
      expect(res.status, res.text).toBe(200)
      if (i === 1) tally('sim-topup-50', '`POST /api/v1/sims/{iccid}/topup`', steps)
    }
  })

  it('POST /api/v1/messages with a project key, twice, then the messages consumer on each queue message', async () => {
    const s = await messagingSetup(user)
    // The messages queue is replaced by a recorder: the test runtime's consumer would send the message itself.
    const queued: { body: unknown; delaySeconds?: number }[] = []
    const recorder = (steps: Step[], state: { answered: boolean }) => ({
      send: async (body: unknown, o?: QueueSendOptions) => {
        steps.push({ kind: 'queue', what: 'MESSAGES.send', after: state.answered || inAfterAnswer() })
        queued.push({ body, delaySeconds: o?.delaySeconds })
      },
      sendBatch: async () => {},
    })
    for (let i = 0; i < 2; i++) {
      const { res, steps } = await traced(`message send #${i + 1}`, '/api/v1/messages', { apiKey: s.key, body: sendBody(s) }, (steps, state) => ({
        MESSAGES: recorder(steps, state) as unknown as Queue,
      }))
      expect(res.status, res.text).toBe(202)
      if (i === 1) {
        tally('message-send-50', '`POST /api/v1/messages` (project key cached)', steps)
        tally('message-queue-2000', 'the same request', steps)
      }
    }
    // The second message's queue messages, one at a time: its send, then the sandbox's receipt (deliverAfterMs: 0).
    const pending = [queued.at(-1)!]
    queued.length = 0
    while (pending.length) {
      const next = pending.shift()!
      const steps: Step[] = []
      const state = { answered: false }
      const consumerEnv = { ...tracedEnv(steps, state), MESSAGES: recorder(steps, state) } as unknown as Env
      const ctx = createExecutionContext()
      const batch = createMessageBatch('messages', [{ id: `m-${pending.length}-${Date.now()}`, timestamp: new Date(), attempts: 1, body: next.body }])
      await queueHandler(batch, consumerEnv, ctx)
      const result = await getQueueResult(batch, ctx)
      expect(result.explicitAcks.length, JSON.stringify(result)).toBe(1)
      print(`messages consumer, one '${(next.body as { kind: string }).kind}' message`, steps)
      tally('message-queue-2000', `\`messages\` consumer, the '${(next.body as { kind: string }).kind}' message`, steps)
      pending.push(...queued.splice(0))
    }
  })

  it('webhooks: the events consumer per event (no endpoint, one endpoint), then a batch of 10 events and the webhooks consumer on its 10 deliveries', async () => {
    /** Runs `queue`'s consumer on one batch of `bodies` with traced bindings; WEBHOOKS only records (the test runtime's consumer would deliver). */
    const consume = async (queue: string, bodies: unknown[]) => {
      const steps: Step[] = []
      const state = { answered: false }
      const enqueued: unknown[] = []
      const record = (m: Iterable<MessageSendRequest>) => {
        const list = [...m]
        steps.push({ kind: 'queue', what: `WEBHOOKS.sendBatch(${list.length})`, after: false })
        enqueued.push(...list.map((x) => x.body))
      }
      const consumerEnv = { ...tracedEnv(steps, state), WEBHOOKS: { send: async (body: unknown) => record([{ body }]), sendBatch: async (m: Iterable<MessageSendRequest>) => record(m) } }
      const ctx = createExecutionContext()
      const batch = createMessageBatch(
        queue,
        bodies.map((body, i) => ({ id: `m-${queue}-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body })),
      )
      await queueHandler(batch, consumerEnv as unknown as Env, ctx)
      const result = await getQueueResult(batch, ctx)
      expect(result.explicitAcks.length, JSON.stringify(result)).toBe(bodies.length)
      return { steps, enqueued }
    }
    const eventsOf = async (owner: TestUser, n: number) => {
      const ids = Array.from({ length: n }, () => newId('evt'))
      const now = Date.now()
      for (const id of ids)
        await env.DB.prepare(`INSERT INTO outbox (id, type, user_id, payload, created_at, sent_at) VALUES (?, 'activation.created', ?, '{}', ?, ?)`).bind(id, owner.id, now, now).run()
      return ids
    }
    for (const withEndpoint of [false, true]) {
      const owner = await registerUser()
      if (withEndpoint) {
        const hook = await call('/api/v1/webhooks', { token: owner.accessToken, body: { url: 'https://hooks.example.com/trace', events: ['*'] } })
        expect(hook.status, hook.text).toBe(201)
      }
      const [id] = await eventsOf(owner, 1)
      const { steps, enqueued } = await consume('events', [{ eventId: id }])
      print(`events consumer, one event, ${withEndpoint ? 'one endpoint' : 'no endpoint'} (${enqueued.length} delivery enqueued)`, steps)
    }

    // The bench's shape: an account with one endpoint, events in batches.
    const owner = await registerUser()
    const hook = await call('/api/v1/webhooks', { token: owner.accessToken, body: { url: `https://${RECEIVER_HOST}/hook`, events: ['*'] } })
    expect(hook.status, hook.text).toBe(201)
    const ids = await eventsOf(owner, 10)
    const fanned = await consume(
      'events',
      ids.map((eventId) => ({ eventId })),
    )
    print('events consumer, a batch of 10 events, one endpoint', fanned.steps)
    tally('webhooks', '`events` consumer, per event of a batch of 10 (one endpoint)', fanned.steps, 10)
    expect(fanned.enqueued).toHaveLength(10)
    const delivered = await consume('webhooks', fanned.enqueued)
    print('webhooks consumer, a batch of 10 deliveries', delivered.steps)
    tally('webhooks', '`webhooks` consumer, per delivery of a batch of 10', delivered.steps, 10)
    expect(delivered.steps.filter((x) => x.kind === 'fetch')).toHaveLength(10)
  })

  it('POST /api/v1/sims/topup (bulk, 3 SIMs), then the jobs consumer on its chunk', async () => {
    await simProvider()
    const iccids = [uniqueIccid(), uniqueIccid(), uniqueIccid()]
    await registerSims(user, iccids)
    const queued: unknown[] = []
    const recorder = (steps: Step[], state: { answered: boolean }) => ({
      send: async (body: unknown) => {
        steps.push({ kind: 'queue', what: 'JOBS.send', after: state.answered || inAfterAnswer() })
        queued.push(body)
      },
      sendBatch: async (m: Iterable<MessageSendRequest>) => {
        const list = [...m]
        steps.push({ kind: 'queue', what: `JOBS.sendBatch(${list.length})`, after: state.answered || inAfterAnswer() })
        queued.push(...list.map((x) => x.body))
      },
    })
    const body = { sims: iccids.map((iccid) => ({ iccid, quota_type: 'data', volume: 1_048_576 })) }
    const { res, steps } = await traced('sim bulk top-up', '/api/v1/sims/topup', { apiKey: key, body }, (steps, state) => ({ JOBS: recorder(steps, state) as unknown as Queue }))
    expect(res.status, res.text).toBe(202)
    tally('sim-bulk-10k', '`POST /api/v1/sims/topup` (3 SIMs; the bench sends 10,000)', steps)
    expect(queued).toHaveLength(1)
    const jobSteps: Step[] = []
    const state = { answered: false }
    const ctx = createExecutionContext()
    const batch = createMessageBatch('jobs', [{ id: `m-jobs-${Date.now()}`, timestamp: new Date(), attempts: 1, body: queued[0] }])
    await queueHandler(batch, { ...tracedEnv(jobSteps, state), JOBS: recorder(jobSteps, state) } as unknown as Env, ctx)
    const result = await getQueueResult(batch, ctx)
    expect(result.explicitAcks.length, JSON.stringify(result)).toBe(1)
    print('jobs consumer, one sims.topup chunk of 3 SIMs', jobSteps)
    tally('sim-bulk-10k', '`jobs` consumer, per SIM of a chunk of 3', jobSteps, 3)
  })
})

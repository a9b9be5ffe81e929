/**
 * The D1 statements, Durable Object calls and queue sends of each request the bench drives, in
 * order, split into those before the answer and those after it (waitUntil). Printed, not asserted
 * beyond "the request succeeded": it is the evidence behind BENCHMARKS.md's diagnosis.
 *
 *   npm run bench -- --trace
 *
 * API-key lookups are cached as in production (the second request of a key reads no D1 for it).
 * Not seen here: what a Durable Object does itself (the Wallet copies ledger entries to D1 after
 * each money operation), and the queue consumers' work, which is traced separately below (the
 * `messages` consumer for a sent message, the `events` consumer per event).
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../../src/app'
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
  kind: 'D1' | 'D1 batch' | 'DO' | 'queue'
  what: string
  after: boolean
}

/** The env with every binding the app uses wrapped to note each call in `steps`. */
function tracedEnv(steps: Step[], state: { answered: boolean }): Env {
  const note = (kind: Step['kind'], what: string) => steps.push({ kind, what, after: state.answered })
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

function print(title: string, steps: Step[]) {
  const count = (after: boolean) => {
    const s = steps.filter((x) => x.after === after)
    const n = (k: Step['kind']) => s.filter((x) => x.kind === k).length
    return `${n('D1')} D1 + ${n('D1 batch')} D1 batch, ${n('DO')} DO, ${n('queue')} queue`
  }
  console.log(
    `${title}\n  before the answer: ${count(false)}; after it (waitUntil): ${count(true)}\n` +
      steps.map((s, i) => `  ${String(i + 1).padStart(2)} ${s.after ? 'after ' : 'before'} ${s.kind.padEnd(8)} ${s.what}`).join('\n'),
  )
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
    offerCache.ttlMs = OFFER_CACHE_TTL_MS
  })
  afterAll(() => {
    apiKeyCache.ttlMs = null
    apiKeyCache.clear()
    offerCache.ttlMs = null
    offerCache.clear()
  })

  it('setup: an account with an API key, money and the sandbox offers', async () => {
    user = await registerUser()
    key = (await createApiKey(user)).key
    await seedOffers(await sandboxProvider({ activation: {}, did: {} }))
    await fund(user.id, 100)
  })

  it('GET /health', async () => {
    const { res } = await traced('health', '/health', {})
    expect(res.status, res.text).toBe(200)
  })

  it('GET /api/wallet/balance with an API key, twice (the second is what a client under load sees)', async () => {
    for (let i = 0; i < 2; i++) {
      const { res } = await traced(`balance #${i + 1}`, '/api/wallet/balance', { apiKey: key })
      expect(res.status, res.text).toBe(200)
    }
  })

  it('GET /api/v1/numbers', async () => {
    const { res } = await traced('numbers', '/api/v1/numbers?page=1&limit=20', { apiKey: key })
    expect(res.status, res.text).toBe(200)
  })

  it('POST /api/numbers/purchase, twice (the second is what a client under load sees: the offers from the cache)', async () => {
    for (let i = 0; i < 2; i++) {
      const { res } = await traced(`purchase #${i + 1}`, '/api/numbers/purchase', { apiKey: key, body: { serviceCode: 'telegram', countryCode: 'us' } })
      expect(res.status, res.text).toBe(201)
    }
  })

  it('POST /api/v1/numbers/purchase, one number per order (the did-purchase-50 path), twice', async () => {
    // The sandbox's US numbers in D1, as the provider sync writes them; each order names one not yet sold.
    const p = await sandboxProvider({ did: { countries: ['us'], perCountry: 20 } })
    const numbers = (await seedInventory(p)).map((n) => n.phoneNumber)
    for (let i = 0; i < 2; i++) {
      const { res } = await traced(`DID order #${i + 1}`, '/api/v1/numbers/purchase', { apiKey: key, body: { numbers: [{ phoneNumber: numbers[i] }] } })
      expect(res.status, res.text).toBe(201)
      expect(res.body.data.results[0].status, res.text).toBe('SUCCESS')
    }
  })

  it('POST /api/v1/sims/{iccid}/topup, twice (the second is what a client under load sees)', async () => {
    await simProvider()
    const iccid = uniqueIccid()
    await registerSims(user, [iccid])
    for (let i = 0; i < 2; i++) {
      const { res } = await traced(`sim top-up #${i + 1}`, `/api/v1/sims/${iccid}/topup`, { apiKey: key, body: { quota_type: 'data', volume: 1_048_576 } })
      expect(res.status, res.text).toBe(200)
    }
  })

  it('POST /api/v1/messages with a project key, twice, then the messages consumer on each queue message', async () => {
    const s = await messagingSetup(user)
    // The messages queue is replaced by a recorder: the test runtime's consumer would send the message itself.
    const queued: { body: unknown; delaySeconds?: number }[] = []
    const recorder = (steps: Step[], state: { answered: boolean }) => ({
      send: async (body: unknown, o?: QueueSendOptions) => {
        steps.push({ kind: 'queue', what: 'MESSAGES.send', after: state.answered })
        queued.push({ body, delaySeconds: o?.delaySeconds })
      },
      sendBatch: async () => {},
    })
    for (let i = 0; i < 2; i++) {
      const { res } = await traced(`message send #${i + 1}`, '/api/v1/messages', { apiKey: s.key, body: sendBody(s) }, (steps, state) => ({ MESSAGES: recorder(steps, state) as unknown as Queue }))
      expect(res.status, res.text).toBe(202)
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
      pending.push(...queued.splice(0))
    }
  })

  it('the events consumer, per event (an account without endpoints, and one with an endpoint)', async () => {
    for (const withEndpoint of [false, true]) {
      const owner = await registerUser()
      if (withEndpoint) {
        const hook = await call('/api/v1/webhooks', { token: owner.accessToken, body: { url: 'https://hooks.example.com/trace', events: ['*'] } })
        expect(hook.status, hook.text).toBe(201)
      }
      const id = newId('evt')
      const now = Date.now()
      await env.DB.prepare(`INSERT INTO outbox (id, type, user_id, payload, created_at, sent_at) VALUES (?, 'activation.created', ?, '{}', ?, ?)`).bind(id, owner.id, now, now).run()
      const steps: Step[] = []
      const state = { answered: false }
      const traceEnv = tracedEnv(steps, state)
      // The webhooks queue is replaced so nothing is delivered from this test.
      const sent: unknown[] = []
      const envNoDelivery = { ...traceEnv, WEBHOOKS: { send: async () => {}, sendBatch: async (m: Iterable<MessageSendRequest>) => void sent.push(...[...m]) } }
      const ctx = createExecutionContext()
      const batch = createMessageBatch('events', [{ id: `m-${id}`, timestamp: new Date(), attempts: 1, body: { eventId: id } }])
      await queueHandler(batch, envNoDelivery as unknown as Env, ctx)
      const result = await getQueueResult(batch, ctx)
      expect(result.explicitAcks).toEqual([`m-${id}`])
      print(`events consumer, one event, ${withEndpoint ? 'one endpoint' : 'no endpoint'} (${sent.length} delivery enqueued)`, steps)
    }
  })
})

/**
 * Webhook test kit: a partner's receiver (a recording `fetch` that answers from a handler), queues
 * that record what was sent (so no message reaches the local queues, whose consumers would
 * deliver for real), services built on them, the three consumers driven with real message
 * batches, and direct reads of the delivery log in D1.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { createDb } from '../../src/db/client'
import { outbox } from '../../src/db/schema'
import type { Env } from '../../src/env'
import { outboxInsert } from '../../src/modules/events/outbox'
import { eventsConsumer, webhooksConsumer, webhooksDlqConsumer } from '../../src/modules/webhooks/webhooks.consumer'
import { createServices, type Services } from '../../src/services'
import { call, type TestUser } from './api'

// ---- the partner's receiver ---------------------------------------------------------------

export interface ReceivedRequest {
  url: string
  method: string
  headers: Headers
  body: string
  redirect: RequestInit['redirect']
  signal: AbortSignal | null
}

export type ReceiverHandler = (req: ReceivedRequest, n: number) => Response | Promise<Response>

/** A recording stand-in for partners' servers; `n` counts calls from 1. */
export function fakeReceiver(handler: ReceiverHandler = () => new Response('ok')) {
  const calls: ReceivedRequest[] = []
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req: ReceivedRequest = {
      url: String(input instanceof Request ? input.url : input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : init?.body ? await new Response(init.body).text() : '',
      redirect: init?.redirect,
      signal: init?.signal ?? null,
    }
    calls.push(req)
    return handler(req, calls.length)
  }) as typeof globalThis.fetch
  return {
    fetch,
    calls,
    get last(): ReceivedRequest {
      const c = calls.at(-1)
      if (!c) throw new Error('the receiver was never called')
      return c
    },
  }
}

/** Answers in turn with each status (the last one repeats). */
export function answers(...statuses: (number | [number, Record<string, string>])[]): ReceiverHandler {
  return (_req, n) => {
    const a = statuses[Math.min(n, statuses.length) - 1]!
    const [status, headers] = Array.isArray(a) ? a : [a, {}]
    return new Response(status === 204 || status === 304 ? null : `answer ${n}`, { status, headers })
  }
}

/** A receiver that never answers: it waits for the request's abort signal, as a hung server does. */
export const hangs: ReceiverHandler = (req) =>
  new Promise<Response>((_resolve, reject) => {
    if (!req.signal) return reject(new Error('no abort signal given: the request would hang forever'))
    req.signal.addEventListener('abort', () => reject(req.signal!.reason))
  })

// ---- queues -----------------------------------------------------------------------------

export interface FakeQueue extends Queue {
  sent: unknown[]
  /** Makes the next sends throw while it returns an error. */
  failWith?: (body: unknown) => Error | undefined
}

export function fakeQueue(): FakeQueue {
  const sent: unknown[] = []
  const q = {
    sent,
    failWith: undefined as FakeQueue['failWith'],
    async send(body: unknown) {
      const err = q.failWith?.(body)
      if (err) throw err
      sent.push(body)
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } } }
    },
    async sendBatch(messages: Iterable<MessageSendRequest>) {
      const bodies = [...messages].map((m) => m.body)
      for (const b of bodies) {
        const err = q.failWith?.(b)
        if (err) throw err
      }
      sent.push(...bodies)
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } } }
    },
    async metrics() {
      return { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) }
    },
  }
  return q as unknown as FakeQueue
}

// ---- services and consumers ----------------------------------------------------------------

export interface Harness {
  services: Services
  ctx: ExecutionContext
  receiver: ReturnType<typeof fakeReceiver>
  events: FakeQueue
  webhooks: FakeQueue
  envOverrides: Partial<Record<keyof Env, unknown>>
}

/** Services as the queue handler builds them, with fake queues and `fetch` = the receiver. */
export function harness(handler?: ReceiverHandler, envOverrides: Partial<Record<keyof Env, unknown>> = {}): Harness {
  const receiver = fakeReceiver(handler)
  const events = fakeQueue()
  const webhooks = fakeQueue()
  const ctx = createExecutionContext()
  const overrides = { EVENTS: events, WEBHOOKS: webhooks, ...envOverrides }
  const services = createServices({ ...env, ...overrides } as Env, ctx, { fetch: receiver.fetch })
  return { services, ctx, receiver, events, webhooks, envOverrides: overrides }
}

let msgCounter = 0
function messages<T>(bodies: T[], attempts = 1) {
  return bodies.map((body) => ({ id: `msg-${++msgCounter}-${crypto.randomUUID()}`, timestamp: new Date(), attempts, body }))
}

type Consumer = (batch: MessageBatch<unknown>, services: Services) => Promise<void>

/**
 * Runs `consumer` on one batch and answers what it acked and retried. The test batch records no
 * retry delays, so each message's `retry` is watched to fill `delaySeconds` in.
 */
async function run(queue: string, consumer: Consumer, h: Harness, bodies: unknown[], attempts = 1) {
  const batch = createMessageBatch(queue, messages(bodies, attempts))
  const ids = batch.messages.map((m) => m.id)
  const delays = new Map<string, number | undefined>()
  for (const m of batch.messages) {
    const retry = m.retry.bind(m)
    Object.defineProperty(m, 'retry', {
      value: (opts?: QueueRetryOptions) => {
        delays.set(m.id, opts?.delaySeconds)
        retry(opts)
      },
    })
  }
  await consumer(batch, h.services)
  const result = await getQueueResult(batch, h.ctx)
  return { ...result, retryMessages: result.retryMessages.map((r) => ({ ...r, delaySeconds: delays.get(r.msgId) })), ids }
}

/** One `events` batch with these event ids. */
export const runEvents = (h: Harness, eventIds: string[], attempts = 1) =>
  run(
    'events',
    eventsConsumer,
    h,
    eventIds.map((eventId) => ({ eventId })),
    attempts,
  )
/** One `webhooks` batch with these delivery ids. */
export const runWebhooks = (h: Harness, deliveryIds: string[], attempts = 1) =>
  run(
    'webhooks',
    webhooksConsumer,
    h,
    deliveryIds.map((deliveryId) => ({ deliveryId })),
    attempts,
  )
/** One `webhooks-dlq` batch with these delivery ids. */
export const runDlq = (h: Harness, deliveryIds: string[]) =>
  run(
    'webhooks-dlq',
    webhooksDlqConsumer,
    h,
    deliveryIds.map((deliveryId) => ({ deliveryId })),
  )

// ---- data ------------------------------------------------------------------------------------

/**
 * A domain event written to the outbox the way features write it (in a D1 batch), already marked
 * sent: tests hand it to the consumers themselves, and a drain after some unrelated request must
 * not send it to the real local queue as well. `unsent` leaves it for a drain.
 */
export async function emitEvent(userId: string, type: string, data: Record<string, unknown> = {}, opts: { unsent?: boolean } = {}): Promise<string> {
  const db = createDb(env.DB)
  const [[row]] = await db.batch([outboxInsert(db, { type, userId, data }).returning({ id: outbox.id })])
  if (!opts.unsent) await env.DB.prepare(`UPDATE outbox SET sent_at = ? WHERE id = ?`).bind(Date.now(), row!.id).run()
  return row!.id
}

export interface EndpointBody {
  url?: string
  events?: string[]
  description?: string
  timeout?: number
  retryPolicy?: { maxAttempts?: number }
}

/** POST /api/v1/webhooks; throws unless 201. */
export async function createEndpoint(user: TestUser, body: EndpointBody = {}) {
  const res = await call('/api/v1/webhooks', {
    token: user.accessToken,
    body: { url: `https://hooks.partner.example/${crypto.randomUUID()}`, events: ['*'], ...body },
  })
  if (res.status !== 201) throw new Error(`create endpoint failed: ${res.status} ${res.text}`)
  return res.body.data as { id: string; url: string; secret: string; events: string[] } & Record<string, unknown>
}

export interface DeliveryRow {
  id: string
  user_id: string
  endpoint_id: string | null
  target: string
  url: string
  event_id: string
  event_type: string
  payload: string
  status: string
  attempt_count: number
  http_status: number | null
  response_time_ms: number | null
  error_message: string | null
  payload_size: number
  next_retry_at: number | null
  delivered_at: number | null
}

export async function deliveriesOf(eventId: string): Promise<DeliveryRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM webhook_deliveries WHERE event_id = ? ORDER BY target`).bind(eventId).all<DeliveryRow>()
  return results
}

export async function deliveryRow(id: string) {
  return env.DB.prepare(`SELECT * FROM webhook_deliveries WHERE id = ?`).bind(id).first<DeliveryRow>()
}

export interface AttemptRow {
  attempt: number
  status: string
  http_status: number | null
  response_time_ms: number | null
  error: string | null
}

export async function attemptsOf(deliveryId: string): Promise<AttemptRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt`).bind(deliveryId).all<AttemptRow>()
  return results
}

export async function endpointRow(id: string) {
  return env.DB.prepare(`SELECT * FROM webhook_endpoints WHERE id = ?`).bind(id).first<{
    id: string
    user_id: string
    url: string
    is_active: number
    failing_since: number | null
    disabled_reason: string | null
    delivery_count: number
    failure_count: number
    last_status: string | null
    previous_secret_expires_at: number | null
  }>()
}

/** As if the scheduled wait were over: the retry's queue message is due now. */
export async function retryIsDue(deliveryId: string) {
  await env.DB.prepare(`UPDATE webhook_deliveries SET next_retry_at = ? WHERE id = ?`)
    .bind(Date.now() - 1000, deliveryId)
    .run()
}

export async function outboxOfType(userId: string, type: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM outbox WHERE user_id = ? AND type = ? ORDER BY created_at, id`)
    .bind(userId, type)
    .all<{ id: string; type: string; user_id: string; payload: string; sent_at: number | null }>()
  return results.map((r) => ({ ...r, payload: JSON.parse(r.payload) as Record<string, unknown> }))
}

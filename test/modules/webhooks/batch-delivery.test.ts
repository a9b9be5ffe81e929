/**
 * A `webhooks` batch is delivered together: its requests in parallel (bounded), its attempts
 * written in one D1 batch, and each message acked or retried on its own outcome.
 */
import { describe, expect, it } from 'vitest'
import { DELIVERY_CONCURRENCY, deliverAll } from '../../../src/modules/webhooks/delivery'
import { registerUser } from '../../helpers/api'
import { sleep } from '../../helpers/db'
import { attemptsOf, createEndpoint, deliveriesOf, deliveryRow, emitEvent, endpointRow, harness, runEvents, runWebhooks, type Harness, type ReceiverHandler } from '../../helpers/webhooks'

/** A receiver that answers after `ms` and notes how many requests were in flight at most. */
function slowReceiver(ms: number, answer: (url: string) => Response = () => new Response('ok')) {
  const seen = { inFlight: 0, most: 0 }
  const handler: ReceiverHandler = async (req) => {
    seen.most = Math.max(seen.most, ++seen.inFlight)
    await sleep(ms)
    seen.inFlight -= 1
    return answer(req.url)
  }
  return { seen, handler }
}

/** The SQL and parameters of a batched drizzle statement. */
const sqlOf = (stmt: unknown) => (stmt as { toSQL?: () => { sql: string; params: unknown[] } }).toSQL?.() ?? { sql: '', params: [] }
const isAttemptInsert = (stmt: unknown) => sqlOf(stmt).sql.startsWith('insert into "webhook_attempts"')

/** Wraps `h.services.db.batch`: notes each call's statements; `fail` makes a call throw. */
function watchBatches(h: Harness, fail: (stmts: unknown[]) => boolean = () => false) {
  const calls: unknown[][] = []
  const real = h.services.db.batch.bind(h.services.db)
  h.services.db.batch = (async (stmts: Parameters<typeof real>[0]) => {
    calls.push([...stmts])
    if (fail([...stmts])) throw new Error('D1_ERROR: storage caused object to be reset')
    return real(stmts)
  }) as unknown as typeof real
  return calls
}

/** An account with `n` endpoints (each its own URL) and `events` events fanned out to all of them. */
async function fannedOut(h: Harness, n: number, events: number) {
  const u = await registerUser()
  const endpoints = []
  for (let i = 0; i < n; i++) endpoints.push(await createEndpoint(u, { url: `https://hooks.partner${i}.example/${crypto.randomUUID()}` }))
  const evs = []
  for (let i = 0; i < events; i++) evs.push(await emitEvent(u.id, 'SMS_RECEIVED', { n: i }))
  await runEvents(h, evs)
  const deliveries = (await Promise.all(evs.map(deliveriesOf))).flat()
  expect(deliveries).toHaveLength(n * events)
  return { u, endpoints, evs, deliveries }
}

describe('a webhooks batch', () => {
  it('is delivered to several endpoints at once, and its attempts are written in one D1 batch', async () => {
    const { seen, handler } = slowReceiver(40)
    const h = harness(handler)
    const { endpoints, deliveries } = await fannedOut(h, 3, 2)
    const batches = watchBatches(h)

    const result = await runWebhooks(
      h,
      deliveries.map((d) => d.id),
    )
    expect(result.explicitAcks, JSON.stringify(result)).toEqual(result.ids)
    expect(result.retryMessages).toEqual([])
    // All six requests were in flight together (the bound is above six).
    expect(DELIVERY_CONCURRENCY).toBeGreaterThanOrEqual(6)
    expect(seen.most).toBe(6)
    expect(h.receiver.calls).toHaveLength(6)
    expect(new Set(h.receiver.calls.map((c) => new URL(c.url).hostname)).size).toBe(3)

    // D1: one batch claims the six attempts, one writes them; no write per attempt.
    const attemptBatches = batches.filter((stmts) => stmts.some(isAttemptInsert))
    expect(attemptBatches, batches.map((b) => b.map((s) => sqlOf(s).sql.slice(0, 40)).join(' | ')).join('\n')).toHaveLength(1)
    expect(attemptBatches[0]!.filter(isAttemptInsert)).toHaveLength(6)
    expect(batches).toHaveLength(2)

    for (const d of deliveries) {
      expect(await deliveryRow(d.id)).toMatchObject({ status: 'succeeded', attempt_count: 1, http_status: 200 })
      expect((await attemptsOf(d.id)).map((a) => [a.attempt, a.status])).toEqual([[1, 'success']])
    }
    // Each endpoint's counters took both of its attempts (increments in one batch do not overwrite each other).
    for (const e of endpoints) expect(await endpointRow(e.id)).toMatchObject({ delivery_count: 2, failure_count: 0, last_status: 'success' })
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    const { seen, handler } = slowReceiver(20)
    const h = harness(handler)
    const { deliveries } = await fannedOut(h, 2, 3)
    const outcomes = await deliverAll(
      h.services,
      deliveries.map((d) => d.id),
      { concurrency: 2 },
    )
    expect(outcomes.map((o) => (o instanceof Error ? o.message : o.kind))).toEqual(Array(6).fill('succeeded'))
    expect(seen.most).toBe(2)
  })

  it('acks or retries each message on its own outcome: a failed write, a partner error or an unknown id does not touch the others', async () => {
    // Endpoint 0 answers 200, endpoint 1 answers 500, endpoint 2 answers 429 asking for 120 s, endpoint 3 answers 200 but its attempt cannot be written.
    const h = harness((req) => {
      const host = new URL(req.url).hostname
      if (host === 'hooks.partner1.example') return new Response('down', { status: 500 })
      if (host === 'hooks.partner2.example') return new Response('slow down', { status: 429, headers: { 'retry-after': '120' } })
      return new Response('ok')
    })
    const { endpoints, deliveries } = await fannedOut(h, 4, 1)
    const byEndpoint = (i: number) => deliveries.find((d) => d.endpoint_id === endpoints[i]!.id)!.id
    const [ok, down, slow, unwritten] = [0, 1, 2, 3].map(byEndpoint) as [string, string, string, string]
    const batches = watchBatches(h, (stmts) => stmts.some((s) => isAttemptInsert(s) && sqlOf(s).params.includes(unwritten)))

    // Third delivery of these messages: the consumer's own backoff for that is 20 s.
    const ids = [ok, down, 'dlv_unknown', slow, unwritten]
    const result = await runWebhooks(h, ids, 3)
    const msg = (deliveryId: string) => result.ids[ids.indexOf(deliveryId)]!
    expect(result.explicitAcks.sort(), JSON.stringify(result)).toEqual([msg(ok), msg('dlv_unknown')].sort())
    expect(result.retryMessages.map((r) => [r.msgId, r.delaySeconds]).sort(), JSON.stringify(result)).toEqual(
      [
        [msg(down), 5], // the delivery schedule: first attempt failed → 5 s
        [msg(slow), 120], // Retry-After, longer than the schedule
        [msg(unwritten), 20], // not recorded: the consumer's backoff, and no ack
      ].sort(),
    )
    // All four requests went out; the one batch of attempts failed, then each was written alone.
    expect(h.receiver.calls).toHaveLength(4)
    expect(batches.filter((stmts) => stmts.some(isAttemptInsert)).map((stmts) => stmts.filter(isAttemptInsert).length)).toEqual([4, 1, 1, 1, 1])

    expect(await deliveryRow(ok)).toMatchObject({ status: 'succeeded', attempt_count: 1 })
    expect(await deliveryRow(down)).toMatchObject({ status: 'retrying', attempt_count: 1, http_status: 500 })
    expect(await deliveryRow(slow)).toMatchObject({ status: 'retrying', attempt_count: 1, http_status: 429 })
    for (const id of [ok, down, slow]) expect(await attemptsOf(id), id).toHaveLength(1)
    // Claimed but not recorded: no attempt row, the delivery still waiting; its redelivery sends again.
    expect(await deliveryRow(unwritten)).toMatchObject({ status: 'pending', attempt_count: 1 })
    expect(await attemptsOf(unwritten)).toEqual([])
  })
})

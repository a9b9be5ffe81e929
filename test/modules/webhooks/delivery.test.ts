import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { attemptDelivery, retryDelay } from '../../../src/modules/webhooks/delivery'
import { RETRY_SCHEDULE_SECONDS } from '../../../src/modules/webhooks/retry-schedule'
import { registerUser, type TestUser } from '../../helpers/api'
import { emailsFor, sleep } from '../../helpers/db'
import {
  answers,
  attemptsOf,
  createEndpoint,
  deliveriesOf,
  deliveryRow,
  emitEvent,
  endpointRow,
  hangs,
  harness,
  outboxOfType,
  retryIsDue,
  runDlq,
  runEvents,
  runWebhooks,
  type EndpointBody,
  type Harness,
  type ReceiverHandler,
} from '../../helpers/webhooks'

const DAY = 86_400_000

/** A user with one endpoint, an event fanned out to it, and the id of its one delivery. */
async function oneDelivery(handler: ReceiverHandler, endpoint: EndpointBody = {}, user?: TestUser) {
  const u = user ?? (await registerUser())
  const e = await createEndpoint(u, endpoint)
  const h = harness(handler)
  const eventId = await emitEvent(u.id, 'NUMBER_PURCHASED', { numberId: 'pn_1', phoneNumber: '+12025550100' })
  await runEvents(h, [eventId])
  const [d] = await deliveriesOf(eventId)
  if (!d) throw new Error('no delivery was fanned out')
  expect(h.webhooks.sent).toEqual([{ deliveryId: d.id }])
  return { u, e, h, eventId, deliveryId: d.id }
}

function retryOf(result: Awaited<ReturnType<typeof runWebhooks>>) {
  expect(result.retryMessages, JSON.stringify(result)).toHaveLength(1)
  expect(result.explicitAcks, JSON.stringify(result)).toEqual([])
  return result.retryMessages[0]!.delaySeconds
}

function acked(result: Awaited<ReturnType<typeof runWebhooks>>) {
  expect(result.explicitAcks, JSON.stringify(result)).toEqual(result.ids)
  expect(result.retryMessages, JSON.stringify(result)).toEqual([])
}

describe('the webhooks consumer', () => {
  it('a receiver that fails twice then succeeds gets the event on each retry with the same webhook-id; three attempts are logged', async () => {
    const { e, h, eventId, deliveryId } = await oneDelivery(answers(500, 500, 200))

    const t0 = Date.now()
    expect(retryOf(await runWebhooks(h, [deliveryId])), 'first retry after 5 s').toBe(5)
    let d = (await deliveryRow(deliveryId))!
    expect(d).toMatchObject({ status: 'retrying', attempt_count: 1, http_status: 500, error_message: 'HTTP 500: answer 1' })
    expect(d.next_retry_at! - t0).toBeGreaterThanOrEqual(4000)
    expect(d.next_retry_at! - t0).toBeLessThan(7000)

    // A copy of the message that arrives before the retry is due is dropped: nothing sent twice.
    acked(await runWebhooks(h, [deliveryId]))
    expect(h.receiver.calls).toHaveLength(1)

    await retryIsDue(deliveryId)
    expect(retryOf(await runWebhooks(h, [deliveryId], 2)), 'second retry after 5 min').toBe(300)
    await retryIsDue(deliveryId)
    acked(await runWebhooks(h, [deliveryId], 3))

    d = (await deliveryRow(deliveryId))!
    expect(d).toMatchObject({ status: 'succeeded', attempt_count: 3, http_status: 200, error_message: null, next_retry_at: null })
    expect(d.delivered_at).toBeGreaterThanOrEqual(t0)

    expect(h.receiver.calls).toHaveLength(3)
    for (const call of h.receiver.calls) {
      expect(call.url).toBe(e.url)
      expect(call.method).toBe('POST')
      expect(call.headers.get('webhook-id')).toBe(eventId)
      expect(call.headers.get('content-type')).toBe('application/json')
      expect(call.headers.get('webhook-signature')).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/)
      expect(Number(call.headers.get('webhook-timestamp'))).toBeGreaterThanOrEqual(Math.floor(t0 / 1000))
      expect(call.body).toBe(d.payload)
    }

    const attempts = await attemptsOf(deliveryId)
    expect(attempts.map((a) => [a.attempt, a.status, a.http_status])).toEqual([
      [1, 'failure', 500],
      [2, 'failure', 500],
      [3, 'success', 200],
    ])
    expect(attempts[0]!.error).toBe('HTTP 500: answer 1')
    expect(attempts[2]!.error).toBeNull()
    for (const a of attempts) expect(a.response_time_ms).toBeGreaterThanOrEqual(0)

    expect(await endpointRow(e.id)).toMatchObject({ delivery_count: 3, failure_count: 2, last_status: 'success', failing_since: null, is_active: 1 })
  })

  it('follows the whole schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then marks the delivery failed', async () => {
    const { h, deliveryId } = await oneDelivery(answers(503))
    const delays: (number | undefined)[] = []
    for (let i = 1; i <= 7; i++) {
      delays.push(retryOf(await runWebhooks(h, [deliveryId], i)))
      await retryIsDue(deliveryId)
    }
    expect(delays).toEqual([...RETRY_SCHEDULE_SECONDS])
    acked(await runWebhooks(h, [deliveryId], 8))
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'failed', attempt_count: 8, http_status: 503, next_retry_at: null })
    expect(await attemptsOf(deliveryId)).toHaveLength(8)
    expect(h.receiver.calls).toHaveLength(8)
  })

  it('retryPolicy.maxAttempts 2: the second failure is final', async () => {
    const { h, deliveryId } = await oneDelivery(answers(500), { retryPolicy: { maxAttempts: 2 } })
    expect(retryOf(await runWebhooks(h, [deliveryId]))).toBe(5)
    await retryIsDue(deliveryId)
    acked(await runWebhooks(h, [deliveryId], 2))
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'failed', attempt_count: 2 })
    expect(h.receiver.calls).toHaveLength(2)
    // a late copy changes nothing
    acked(await runWebhooks(h, [deliveryId], 3))
    expect(h.receiver.calls).toHaveLength(2)
  })

  it('only 2xx is success: 201 and 204 succeed; 100-199, 3xx, 4xx and 5xx fail', async () => {
    for (const status of [201, 204, 299]) {
      const { h, deliveryId } = await oneDelivery(answers(status))
      acked(await runWebhooks(h, [deliveryId]))
      expect(await deliveryRow(deliveryId), `HTTP ${status}`).toMatchObject({ status: 'succeeded', http_status: status })
    }
    for (const status of [301, 304, 400, 401, 404, 429, 500, 502]) {
      const { h, deliveryId } = await oneDelivery(answers(status))
      expect(retryOf(await runWebhooks(h, [deliveryId])), `HTTP ${status}`).toBe(5)
      expect(await deliveryRow(deliveryId), `HTTP ${status}`).toMatchObject({ status: 'retrying', http_status: status })
    }
  })

  it('does not follow redirects: a 302 is a failure and its Location is never requested', async () => {
    const { h, deliveryId } = await oneDelivery(answers([302, { location: 'http://169.254.169.254/latest/meta-data/' }]))
    expect(retryOf(await runWebhooks(h, [deliveryId]))).toBe(5)
    expect(h.receiver.calls).toHaveLength(1)
    expect(h.receiver.last.redirect).toBe('manual')
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'retrying', http_status: 302 })
    expect((await attemptsOf(deliveryId))[0]).toMatchObject({ status: 'failure', http_status: 302 })
  })

  it('410 Gone disables the endpoint at once, fails the delivery, and tells the owner (event + mail)', async () => {
    const { u, e, h, deliveryId } = await oneDelivery(answers(410))
    acked(await runWebhooks(h, [deliveryId]))
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'failed', http_status: 410, attempt_count: 1 })
    expect(await endpointRow(e.id)).toMatchObject({ is_active: 0, disabled_reason: '410 Gone' })
    const events = await outboxOfType(u.id, 'webhook.endpoint.disabled')
    expect(events).toHaveLength(1)
    expect(events[0]!.payload).toEqual({ endpointId: e.id, url: e.url, reason: '410 Gone' })
    // handed to the events queue right away, not left for the sweeper
    expect(h.events.sent).toContainEqual({ eventId: events[0]!.id })
    const mails = await emailsFor(u.id, 'account_notice')
    expect(mails).toHaveLength(1)
    expect(mails[0]!.text).toContain(e.url)
    expect(mails[0]!.text).toContain('410 Gone')

    // no new deliveries for it
    const later = await emitEvent(u.id, 'NUMBER_PURCHASED')
    await runEvents(h, [later])
    expect(await deliveriesOf(later)).toEqual([])
  })

  it("the webhook.endpoint.disabled event reaches the owner's other endpoints that subscribe to it", async () => {
    const u = await registerUser()
    const watcher = await createEndpoint(u, { events: ['webhook.endpoint.disabled'] })
    const { e, h, deliveryId } = await oneDelivery(answers(410), { events: ['NUMBER_PURCHASED'] }, u)
    await runWebhooks(h, [deliveryId])
    const [event] = await outboxOfType(u.id, 'webhook.endpoint.disabled')
    await runEvents(h, [event!.id])
    const [d] = await deliveriesOf(event!.id)
    expect(d).toMatchObject({ endpoint_id: watcher.id, event_type: 'webhook.endpoint.disabled' })
    const payload = JSON.parse(d!.payload)
    expect(payload).toMatchObject({ id: event!.id, event: 'webhook.endpoint.disabled', data: { endpointId: e.id, url: e.url, reason: '410 Gone' }, account: { id: u.id, email: u.email } })
    expect(Math.abs(Date.parse(payload.timestamp) - Date.now())).toBeLessThan(60_000)
  })

  it('a delivery still queued for a disabled endpoint fails without a request and without an attempt', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const h = harness(answers(200))
    const ev = await emitEvent(u.id, 'SMS_RECEIVED')
    await runEvents(h, [ev])
    const [d] = await deliveriesOf(ev)
    await env.DB.prepare(`UPDATE webhook_endpoints SET is_active = 0, disabled_reason = '410 Gone' WHERE id = ?`).bind(e.id).run()
    acked(await runWebhooks(h, [d!.id]))
    expect(h.receiver.calls).toHaveLength(0)
    expect(await deliveryRow(d!.id)).toMatchObject({ status: 'failed', attempt_count: 0, error_message: 'endpoint disabled (410 Gone)' })
    expect(await attemptsOf(d!.id)).toEqual([])
    // the endpoint's own record is not touched by a delivery that never happened
    expect(await endpointRow(e.id)).toMatchObject({ disabled_reason: '410 Gone', delivery_count: 0, failure_count: 0 })
  })

  it('two deliveries hitting 410 at the same time tell the owner once', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const h = harness(async () => {
      await sleep(30) // both attempts are in flight before either records its answer
      return new Response('gone', { status: 410 })
    })
    const [a, b] = [await emitEvent(u.id, 'SMS_RECEIVED', { n: 1 }), await emitEvent(u.id, 'SMS_RECEIVED', { n: 2 })]
    await runEvents(h, [a, b])
    const ids = [(await deliveriesOf(a))[0]!.id, (await deliveriesOf(b))[0]!.id]
    const outcomes = await Promise.all(ids.map((id) => attemptDelivery(h.services, id)))
    expect(outcomes.map((o) => o.kind)).toEqual(['failed', 'failed'])
    expect(h.receiver.calls).toHaveLength(2)
    expect(await endpointRow(e.id)).toMatchObject({ is_active: 0, disabled_reason: '410 Gone' })
    expect(await outboxOfType(u.id, 'webhook.endpoint.disabled')).toHaveLength(1)
    expect(await emailsFor(u.id, 'account_notice')).toHaveLength(1)
  })

  it('honours Retry-After when it asks for longer than the schedule (seconds or an HTTP date, capped at 12 h)', async () => {
    const cases: [Record<string, string>, (d: number) => void][] = [
      [{ 'retry-after': '120' }, (d) => expect(d).toBe(120)],
      [{ 'retry-after': '2' }, (d) => expect(d).toBe(5)],
      [{ 'retry-after': 'soon' }, (d) => expect(d).toBe(5)],
      [{ 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() }, (d) => expect(Math.abs(d - 3600)).toBeLessThanOrEqual(2)],
      [{ 'retry-after': '999999' }, (d) => expect(d).toBe(12 * 3600)],
    ]
    for (const [headers, check] of cases) {
      const { h, deliveryId } = await oneDelivery(answers([429, headers], 200))
      const delay = retryOf(await runWebhooks(h, [deliveryId]))!
      check(delay)
      const d = (await deliveryRow(deliveryId))!
      expect(Math.abs(d.next_retry_at! - Date.now() - delay * 1000), JSON.stringify(headers)).toBeLessThan(3000)
    }
    expect(retryDelay(2, '120')).toBe(300) // the schedule wins when it is longer
  })

  it('an endpoint that does not answer within its timeout is a failure: "timed out"', async () => {
    const { h, deliveryId } = await oneDelivery(hangs, { timeout: 1 })
    const started = Date.now()
    expect(retryOf(await runWebhooks(h, [deliveryId]))).toBe(5)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(Date.now() - started).toBeLessThan(5000)
    const d = (await deliveryRow(deliveryId))!
    expect(d).toMatchObject({ status: 'retrying', http_status: null })
    expect(d.error_message).toMatch(/^timed out after 1000 ms/)
    expect((await attemptsOf(deliveryId))[0]!.error).toMatch(/timed out/)
  })

  it('a network error is a failure, retried', async () => {
    const { h, deliveryId } = await oneDelivery(() => {
      throw new TypeError('connection refused')
    })
    expect(retryOf(await runWebhooks(h, [deliveryId]))).toBe(5)
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'retrying', http_status: null, error_message: 'network error: connection refused' })
  })

  it('an endpoint failing for 5 days straight is disabled, its delivery failed, and its owner told', async () => {
    const { u, e, h, deliveryId } = await oneDelivery(answers(500))
    // four days: still retried
    await env.DB.prepare(`UPDATE webhook_endpoints SET failing_since = ? WHERE id = ?`)
      .bind(Date.now() - 4 * DAY, e.id)
      .run()
    expect(retryOf(await runWebhooks(h, [deliveryId]))).toBe(5)
    expect(await endpointRow(e.id)).toMatchObject({ is_active: 1 })
    expect((await endpointRow(e.id))!.failing_since).toBeLessThan(Date.now() - 4 * DAY + 1000) // the clock kept its start

    await env.DB.prepare(`UPDATE webhook_endpoints SET failing_since = ? WHERE id = ?`)
      .bind(Date.now() - 5 * DAY - 60_000, e.id)
      .run()
    await retryIsDue(deliveryId)
    acked(await runWebhooks(h, [deliveryId], 2))
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'failed', attempt_count: 2, next_retry_at: null })
    expect(await endpointRow(e.id)).toMatchObject({ is_active: 0, disabled_reason: 'failing for 5 days' })
    const events = await outboxOfType(u.id, 'webhook.endpoint.disabled')
    expect(events).toHaveLength(1)
    expect(events[0]!.payload).toMatchObject({ endpointId: e.id, reason: 'failing for 5 days' })
    expect(h.events.sent).toContainEqual({ eventId: events[0]!.id })
    const mails = await emailsFor(u.id, 'account_notice')
    expect(mails).toHaveLength(1)
    expect(mails[0]!.text).toContain('failing for 5 days')
  })

  it('a success stops the failure clock; the next failure starts it afresh', async () => {
    const { e, h, deliveryId } = await oneDelivery(answers(500, 200, 500))
    const before = Date.now()
    expect(retryOf(await runWebhooks(h, [deliveryId]))).toBe(5)
    const failing = (await endpointRow(e.id))!.failing_since!
    expect(failing).toBeGreaterThanOrEqual(before - 5)
    await retryIsDue(deliveryId)
    await runWebhooks(h, [deliveryId])
    expect((await endpointRow(e.id))!.failing_since).toBeNull()
  })

  it('sends to the endpoint URL of now: a partner who moved their receiver gets the retries there', async () => {
    const { u, e, h, deliveryId } = await oneDelivery(answers(500, 200))
    await runWebhooks(h, [deliveryId])
    const { call } = await import('../../helpers/api')
    const moved = await call(`/api/v1/webhooks/${e.id}`, { method: 'PUT', token: u.accessToken, body: { url: 'https://new.partner.example/hook' } })
    expect(moved.status, moved.text).toBe(200)
    await retryIsDue(deliveryId)
    acked(await runWebhooks(h, [deliveryId], 2))
    expect(h.receiver.calls.map((c) => c.url)).toEqual([e.url, 'https://new.partner.example/hook'])
  })

  it('checks the URL again right before sending: an internal address is refused without a request', async () => {
    const { e, h, deliveryId } = await oneDelivery(answers(200))
    // a row written around the API's checks (an old row, a manual fix…)
    await env.DB.prepare(`UPDATE webhook_endpoints SET url = 'https://169.254.169.254/latest/meta-data/' WHERE id = ?`).bind(e.id).run()
    acked(await runWebhooks(h, [deliveryId]))
    expect(h.receiver.calls).toHaveLength(0)
    const d = (await deliveryRow(deliveryId))!
    expect(d.status).toBe('failed')
    expect(d.error_message).toMatch(/^URL refused/)
  })

  it('delivers to a loopback receiver in development with WEBHOOK_ALLOW_LOOPBACK=true; production refuses it with the flag set', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    // a receiver on the developer's machine (written directly: the API check is covered in url-guard.test.ts)
    await env.DB.prepare(`UPDATE webhook_endpoints SET url = 'http://127.0.0.1:4000/hook' WHERE id = ?`).bind(e.id).run()

    const dev = harness(answers(204), { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: 'true' })
    const first = await emitEvent(u.id, 'NUMBER_PURCHASED', { numberId: 'pn_loop', phoneNumber: '+12025550101' })
    await runEvents(dev, [first])
    const [d1] = await deliveriesOf(first)
    acked(await runWebhooks(dev, [d1!.id]))
    expect(dev.receiver.calls.map((c) => c.url)).toEqual(['http://127.0.0.1:4000/hook'])
    expect((await deliveryRow(d1!.id))!.status).toBe('succeeded')

    for (const overrides of [
      { ENVIRONMENT: 'production', METRICS_TOKEN: 'metrics-token-for-this-test-0123', WEBHOOK_ALLOW_LOOPBACK: 'true' },
      { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: '' },
    ]) {
      const h = harness(answers(204), overrides)
      const eventId = await emitEvent(u.id, 'NUMBER_PURCHASED', { numberId: 'pn_loop', phoneNumber: '+12025550101' })
      await runEvents(h, [eventId])
      const [d] = await deliveriesOf(eventId)
      acked(await runWebhooks(h, [d!.id]))
      expect(h.receiver.calls, JSON.stringify(overrides)).toHaveLength(0)
      const row = (await deliveryRow(d!.id))!
      expect(row.status, JSON.stringify(overrides)).toBe('failed')
      expect(row.error_message, JSON.stringify(overrides)).toMatch(/^URL refused/)
    }
  })

  it('with WEBHOOK_ALLOW_LOOPBACK=true in development, a metadata or private address is still refused before sending', async () => {
    const { e, deliveryId } = await oneDelivery(answers(200))
    const h = harness(answers(200), { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: 'true' })
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/hook']) {
      await env.DB.prepare(`UPDATE webhook_endpoints SET url = ?, is_active = 1 WHERE id = ?`).bind(url, e.id).run()
      await env.DB.prepare(`UPDATE webhook_deliveries SET status = 'pending', next_retry_at = NULL WHERE id = ?`).bind(deliveryId).run()
      acked(await runWebhooks(h, [deliveryId]))
      expect(h.receiver.calls, url).toHaveLength(0)
      expect((await deliveryRow(deliveryId))!.error_message, url).toMatch(/^URL refused/)
    }
  })

  it('a copy of a message for a delivery that already succeeded or failed sends nothing', async () => {
    const { h, deliveryId } = await oneDelivery(answers(200))
    await runWebhooks(h, [deliveryId])
    acked(await runWebhooks(h, [deliveryId, deliveryId]))
    expect(h.receiver.calls).toHaveLength(1)
    expect(await attemptsOf(deliveryId)).toHaveLength(1)
  })

  it('two consumers racing on one delivery: one request, one attempt', async () => {
    const { h, deliveryId } = await oneDelivery(async () => {
      await sleep(20)
      return new Response('ok')
    })
    const outcomes = await Promise.all([attemptDelivery(h.services, deliveryId), attemptDelivery(h.services, deliveryId)])
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['skipped', 'succeeded'])
    expect(h.receiver.calls).toHaveLength(1)
    expect(await attemptsOf(deliveryId)).toHaveLength(1)
  })

  it('a crash mid-batch retries that message only; its redelivery sends under the same webhook-id and adds no delivery row', async () => {
    const u = await registerUser()
    await createEndpoint(u)
    const h: Harness = harness(answers(200))
    const evs = [await emitEvent(u.id, 'SMS_RECEIVED', { n: 1 }), await emitEvent(u.id, 'SMS_RECEIVED', { n: 2 }), await emitEvent(u.id, 'SMS_RECEIVED', { n: 3 })]
    await runEvents(h, evs)
    const ids = await Promise.all(evs.map(async (ev) => (await deliveriesOf(ev))[0]!.id))

    // D1 fails while the second delivery's outcome is being recorded (the worker dies there): every
    // write of its attempt fails, the batch's write of all three attempts and its own write alike.
    const realBatch = h.services.db.batch.bind(h.services.db)
    let crashing = true
    const writesAttemptOf = (stmt: unknown, deliveryId: string) => {
      const q = (stmt as { toSQL?: () => { sql: string; params: unknown[] } }).toSQL?.()
      return !!q && q.sql.startsWith('insert into "webhook_attempts"') && q.params.includes(deliveryId)
    }
    h.services.db.batch = (async (stmts: Parameters<typeof realBatch>[0]) => {
      if (crashing && stmts.some((s) => writesAttemptOf(s, ids[1]!))) throw new Error('D1_ERROR: storage caused object to be reset')
      return realBatch(stmts)
    }) as unknown as typeof realBatch
    const result = await runWebhooks(h, ids)
    crashing = false
    expect(result.explicitAcks, JSON.stringify(result)).toEqual([result.ids[0], result.ids[2]])
    expect(
      result.retryMessages.map((m) => m.msgId),
      JSON.stringify(result),
    ).toEqual([result.ids[1]])
    expect(result.retryMessages[0]!.delaySeconds).toBeGreaterThan(0)

    acked(await runWebhooks(h, [ids[1]!], 2))
    expect(await deliveryRow(ids[1]!)).toMatchObject({ status: 'succeeded' })
    for (const ev of evs) expect(await deliveriesOf(ev)).toHaveLength(1)
    const toSecond = h.receiver.calls.filter((c) => c.headers.get('webhook-id') === evs[1])
    expect(toSecond).toHaveLength(2) // at least once: the partner deduplicates by webhook-id
    expect(toSecond[0]!.body).toBe(toSecond[1]!.body)
  })

  it('drops a malformed message (ack) instead of retrying it forever', async () => {
    const h = harness()
    const { createMessageBatch, getQueueResult } = await import('cloudflare:test')
    const { webhooksConsumer } = await import('../../../src/modules/webhooks/webhooks.consumer')
    const batch = createMessageBatch('webhooks', [{ id: 'm1', timestamp: new Date(), attempts: 1, body: { nope: true } }])
    await webhooksConsumer(batch, h.services)
    const r = await getQueueResult(batch, h.ctx)
    expect(r.explicitAcks).toEqual(['m1'])
    // and an unknown delivery id is acked too
    acked(await runWebhooks(h, ['dlv_unknown']))
  })
})

describe('the dead-letter consumer', () => {
  it('marks a delivery failed unless it already succeeded', async () => {
    const u = await registerUser()
    await createEndpoint(u)
    const h = harness(answers(200))
    const [pending, retrying, done] = [await emitEvent(u.id, 'SMS_SENT'), await emitEvent(u.id, 'SMS_SENT'), await emitEvent(u.id, 'SMS_SENT')]
    await runEvents(h, [pending, retrying, done])
    const id = async (ev: string) => (await deliveriesOf(ev))[0]!.id
    const [p, r, d] = [await id(pending), await id(retrying), await id(done)]
    await env.DB.prepare(`UPDATE webhook_deliveries SET status = 'retrying', attempt_count = 3, next_retry_at = ? WHERE id = ?`)
      .bind(Date.now() + 60_000, r)
      .run()
    await runWebhooks(h, [d])
    expect(await deliveryRow(d)).toMatchObject({ status: 'succeeded' })

    const result = await runDlq(h, [p, r, d, 'dlv_gone'])
    expect(result.explicitAcks.length + (result.ackAll ? result.ids.length : 0), JSON.stringify(result)).toBe(4)
    for (const x of [p, r]) {
      const row = (await deliveryRow(x))!
      expect(row.status, x).toBe('failed')
      expect(row.error_message).toMatch(/dead-lettered/)
      expect(row.next_retry_at).toBeNull()
    }
    expect(await deliveryRow(d)).toMatchObject({ status: 'succeeded', error_message: null })
  })
})

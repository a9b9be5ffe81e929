import { env } from 'cloudflare:test'
import { Webhook } from 'standardwebhooks'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sleep } from '../../helpers/db'
import { answers, attemptsOf, createEndpoint, deliveriesOf, deliveryRow, emitEvent, fakeQueue, fakeReceiver, harness, runEvents, runWebhooks, type ReceiverHandler } from '../../helpers/webhooks'

afterEach(() => {
  vi.restoreAllMocks()
})

/** Routes the app's outbound HTTP (services.fetch → global fetch) to a fake partner, for requests through callApp. */
function partnerAnswers(handler: ReceiverHandler) {
  const receiver = fakeReceiver(handler)
  vi.spyOn(globalThis, 'fetch').mockImplementation(receiver.fetch)
  return receiver
}

/** Fans each event out and delivers it once; `fail` in the data makes the receiver answer 500. */
async function history(u: TestUser, endpointId: string) {
  const h = harness((req) => (req.body.includes('"fail"') ? new Response('boom', { status: 500 }) : new Response('ok')))
  const ids: Record<string, string> = {}
  for (const [name, type, data, deliver] of [
    ['ok1', 'SMS_RECEIVED', { n: 1 }, true],
    ['failed', 'SMS_RECEIVED', { n: 2, fail: true }, true],
    ['ok2', 'NUMBER_PURCHASED', { n: 3 }, true],
    ['pending', 'NUMBER_PURCHASED', { n: 4 }, false],
  ] as const) {
    const ev = await emitEvent(u.id, type, data)
    await runEvents(h, [ev])
    const d = (await deliveriesOf(ev)).find((x) => x.endpoint_id === endpointId)!
    if (deliver) await runWebhooks(h, [d.id])
    ids[name] = d.id
    await sleep(3) // distinct creation instants: the log is newest first
  }
  return ids as Record<'ok1' | 'failed' | 'ok2' | 'pending', string>
}

describe('GET /api/v1/webhooks/:id/deliveries', () => {
  it("lists the log newest first with the DID API's fields and every attempt, filtered by status and event, paginated", async () => {
    const u = await registerUser()
    const e = await createEndpoint(u, { retryPolicy: { maxAttempts: 1 } })
    const other = await createEndpoint(u)
    const ids = await history(u, e.id)
    const list = (q = '') => call(`/api/v1/webhooks/${e.id}/deliveries${q}`, { token: u.accessToken })

    const all = await list()
    expect(all.status, all.text).toBe(200)
    expect(
      all.body.data.map((d: { id: string }) => d.id),
      all.text,
    ).toEqual([ids.pending, ids.ok2, ids.failed, ids.ok1])
    expect(all.body.pagination, all.text).toMatchObject({ page: 1, limit: 20, total: 4, hasNext: false })

    const failed = all.body.data[2]
    expect(failed, all.text).toMatchObject({
      id: ids.failed,
      event: 'SMS_RECEIVED',
      status: 'failed',
      httpStatus: 500,
      attemptCount: 1,
      deliveredAt: null,
      nextRetryAt: null,
      errorMessage: 'HTTP 500: boom',
      attempts: [{ attempt: 1, status: 'failure', httpStatus: 500, error: 'HTTP 500: boom' }],
    })
    expect(failed.eventId).toMatch(/^evt_/)
    expect(failed.payloadSize).toBeGreaterThan(50)
    expect(typeof failed.responseTime).toBe('number')
    expect(Date.parse(failed.createdAt)).not.toBeNaN()
    const ok = all.body.data[1]
    expect(ok, all.text).toMatchObject({ status: 'succeeded', httpStatus: 200, errorMessage: null, attempts: [{ attempt: 1, status: 'success', httpStatus: 200, error: null }] })
    expect(Date.parse(ok.deliveredAt)).not.toBeNaN()
    expect(all.body.data[0], all.text).toMatchObject({ status: 'pending', attemptCount: 0, httpStatus: null, responseTime: null, attempts: [] })

    const byStatus = await list('?status=failed')
    expect(
      byStatus.body.data.map((d: { id: string }) => d.id),
      byStatus.text,
    ).toEqual([ids.failed])
    const several = await list('?status=succeeded,pending')
    expect(
      several.body.data.map((d: { id: string }) => d.id),
      several.text,
    ).toEqual([ids.pending, ids.ok2, ids.ok1])
    const repeated = await list('?status=succeeded&status=failed')
    expect(repeated.body.pagination.total, repeated.text).toBe(3)
    const byEvent = await list('?event=SMS_RECEIVED')
    expect(
      byEvent.body.data.map((d: { id: string }) => d.id),
      byEvent.text,
    ).toEqual([ids.failed, ids.ok1])
    const both = await list('?event=NUMBER_PURCHASED&status=failed')
    expect(both.body.data, both.text).toEqual([])
    expect(both.body.pagination.total).toBe(0)

    const p1 = await list('?limit=3')
    expect(p1.body.data, p1.text).toHaveLength(3)
    expect(p1.body.pagination, p1.text).toMatchObject({ page: 1, limit: 3, total: 4, totalPages: 2, hasNext: true })
    const p2 = await list('?limit=3&page=2')
    expect(
      p2.body.data.map((d: { id: string }) => d.id),
      p2.text,
    ).toEqual([ids.ok1])
    expect(p2.body.pagination.hasNext).toBe(false)

    expectErrorEnvelope(await list('?status=bogus'), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await list('?limit=0'), 400, 'VALIDATION_ERROR')

    // the other endpoint has its own log
    const others = await call(`/api/v1/webhooks/${other.id}/deliveries`, { token: u.accessToken })
    expect(others.body.pagination.total, others.text).toBe(4)
    expect(others.body.data.map((d: { id: string }) => d.id)).not.toContain(ids.failed)
    // an API key with webhooks:read reads it too
    const key = await createApiKey(u, ['webhooks:read'])
    const viaKey = await call(`/api/v1/webhooks/${e.id}/deliveries`, { apiKey: key.key })
    expect(viaKey.status, viaKey.text).toBe(200)
  })

  it('shows three attempts of a delivery that failed twice then succeeded', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const h = harness(answers(500, 502, 200))
    const ev = await emitEvent(u.id, 'SMS_RECEIVED')
    await runEvents(h, [ev])
    const [d] = await deliveriesOf(ev)
    for (let i = 1; i <= 3; i++) {
      await runWebhooks(h, [d!.id], i)
      await env.DB.prepare(`UPDATE webhook_deliveries SET next_retry_at = ? WHERE id = ?`)
        .bind(Date.now() - 1000, d!.id)
        .run()
    }
    const res = await call(`/api/v1/webhooks/${e.id}/deliveries`, { token: u.accessToken })
    expect(res.body.data[0], res.text).toMatchObject({ eventId: ev, status: 'succeeded', attemptCount: 3, httpStatus: 200 })
    expect(
      res.body.data[0].attempts.map((a: { attempt: number; status: string; httpStatus: number }) => [a.attempt, a.status, a.httpStatus]),
      res.text,
    ).toEqual([
      [1, 'failure', 500],
      [2, 'failure', 502],
      [3, 'success', 200],
    ])
  })
})

describe('POST /api/v1/webhooks/:id/test', () => {
  it('sends a signed test event now (event + customPayload), answers the outcome, and logs it', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u, { events: ['SMS_RECEIVED'] })
    const receiver = partnerAnswers(answers(200))
    const res = await callApp(`/api/v1/webhooks/${e.id}/test`, {
      token: u.accessToken,
      body: { event: 'PAYMENT_SUCCEEDED', customPayload: { paymentId: 'pay_42', amount: 10.5 } },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ status: 'succeeded', httpStatus: 200, error: null })
    expect(res.body.data.deliveryId).toMatch(/^dlv_/)
    expect(res.body.data.eventId).toMatch(/^evt_/)
    expect(typeof res.body.data.responseTime).toBe('number')

    expect(receiver.calls).toHaveLength(1)
    const req = receiver.last
    expect(req.url).toBe(e.url)
    expect(req.headers.get('webhook-id')).toBe(res.body.data.eventId)
    const body = new Webhook(e.secret).verify(req.body, Object.fromEntries(req.headers.entries())) as Record<string, unknown>
    expect(body).toMatchObject({ event: 'PAYMENT_SUCCEEDED', test: true, data: { paymentId: 'pay_42', amount: 10.5 }, account: { id: u.id, email: u.email } })
    expect(Date.parse(body.timestamp as string)).not.toBeNaN()

    const log = await call(`/api/v1/webhooks/${e.id}/deliveries`, { token: u.accessToken })
    expect(log.body.data[0], log.text).toMatchObject({ id: res.body.data.deliveryId, event: 'PAYMENT_SUCCEEDED', status: 'succeeded', attemptCount: 1 })
    expect(JSON.parse((await deliveryRow(res.body.data.deliveryId))!.payload).test).toBe(true)
  })

  it('without customPayload sends an example of the event; a failure is answered, logged, and not retried', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const receiver = partnerAnswers(answers(503))
    const res = await callApp(`/api/v1/webhooks/${e.id}/test`, { token: u.accessToken, body: { event: 'SMS_RECEIVED' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ status: 'failed', httpStatus: 503, responseTime: expect.any(Number) })
    expect(res.body.data.error, res.text).toMatch(/^HTTP 503/)
    const sent = JSON.parse(receiver.last.body)
    expect(sent.data, receiver.last.body).toMatchObject({ messageId: expect.any(String), from: expect.any(String), to: expect.any(String), body: expect.any(String) })
    const row = (await deliveryRow(res.body.data.deliveryId))!
    expect(row).toMatchObject({ status: 'failed', next_retry_at: null, attempt_count: 1 })
  })

  it('refuses an event outside the catalogue (and * is not an event)', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const receiver = partnerAnswers(answers(200))
    for (const event of ['nope', '*', '']) {
      const res = await callApp(`/api/v1/webhooks/${e.id}/test`, { token: u.accessToken, body: { event } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    }
    expectErrorEnvelope(await callApp(`/api/v1/webhooks/${e.id}/test`, { token: u.accessToken, body: { event: 'SMS_SENT', customPayload: 'x' } }), 400, 'VALIDATION_ERROR')
    expect(receiver.calls).toHaveLength(0)
  })
})

describe('POST /api/v1/webhooks/:id/retry/:deliveryId', () => {
  it('queues a failed delivery again with the same event id; 409 once it succeeded', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u, { retryPolicy: { maxAttempts: 1 } })
    const failing = harness(answers(500))
    const ev = await emitEvent(u.id, 'NUMBER_PURCHASED')
    await runEvents(failing, [ev])
    const [d] = await deliveriesOf(ev)
    await runWebhooks(failing, [d!.id])
    expect(await deliveryRow(d!.id)).toMatchObject({ status: 'failed', attempt_count: 1 })

    const queue = fakeQueue()
    const res = await callApp(`/api/v1/webhooks/${e.id}/retry/${d!.id}`, { method: 'POST', token: u.accessToken, env: { WEBHOOKS: queue } })
    expect(res.status, res.text).toBe(202)
    expect(res.body.data, res.text).toMatchObject({ id: d!.id, eventId: ev, status: 'pending', nextRetryAt: null, attemptCount: 1 })
    expect(queue.sent).toEqual([{ deliveryId: d!.id }])

    // the queued message is delivered: same webhook-id as the first attempt
    const working = harness(answers(200))
    await runWebhooks(working, [d!.id])
    expect(working.receiver.last.headers.get('webhook-id')).toBe(ev)
    expect(failing.receiver.last.headers.get('webhook-id')).toBe(ev)
    expect(working.receiver.last.body).toBe(failing.receiver.last.body)
    expect(await deliveryRow(d!.id)).toMatchObject({ status: 'succeeded', attempt_count: 2 })
    expect((await attemptsOf(d!.id)).map((a) => a.status)).toEqual(['failure', 'success'])
    expect(await deliveriesOf(ev)).toHaveLength(1)

    const again = await callApp(`/api/v1/webhooks/${e.id}/retry/${d!.id}`, { method: 'POST', token: u.accessToken, env: { WEBHOOKS: queue } })
    expectErrorEnvelope(again, 409, 'DELIVERY_SUCCEEDED')
    expect(queue.sent).toHaveLength(1)
  })

  it('after a 410 the endpoint must be re-enabled first (409 ENDPOINT_DISABLED); then the retry goes out', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const gone = harness(answers(410))
    const ev = await emitEvent(u.id, 'SMS_RECEIVED')
    await runEvents(gone, [ev])
    const [d] = await deliveriesOf(ev)
    await runWebhooks(gone, [d!.id])
    expect(await deliveryRow(d!.id)).toMatchObject({ status: 'failed', http_status: 410 })

    const queue = fakeQueue()
    const refused = await callApp(`/api/v1/webhooks/${e.id}/retry/${d!.id}`, { method: 'POST', token: u.accessToken, env: { WEBHOOKS: queue } })
    expectErrorEnvelope(refused, 409, 'ENDPOINT_DISABLED')
    expect(queue.sent).toEqual([])
    expect(await deliveryRow(d!.id)).toMatchObject({ status: 'failed' })

    const on = await call(`/api/v1/webhooks/${e.id}`, { method: 'PUT', token: u.accessToken, body: { isActive: true } })
    expect(on.body.data, on.text).toMatchObject({ isActive: true, disabledReason: null })
    const queued = await callApp(`/api/v1/webhooks/${e.id}/retry/${d!.id}`, { method: 'POST', token: u.accessToken, env: { WEBHOOKS: queue } })
    expect(queued.status, queued.text).toBe(202)
    const back = harness(answers(200))
    await runWebhooks(back, [d!.id])
    expect(back.receiver.last.headers.get('webhook-id')).toBe(ev)
    expect(await deliveryRow(d!.id)).toMatchObject({ status: 'succeeded', attempt_count: 2 })
  })

  it('an unknown delivery, or one of another endpoint of yours, is a 404', async () => {
    const u = await registerUser()
    const a = await createEndpoint(u, { events: ['SMS_SENT'] })
    const b = await createEndpoint(u, { events: ['CALL_STARTED'] })
    const h = harness()
    const ev = await emitEvent(u.id, 'SMS_SENT')
    await runEvents(h, [ev])
    const [d] = await deliveriesOf(ev)
    const queue = fakeQueue()
    expectErrorEnvelope(await callApp(`/api/v1/webhooks/${a.id}/retry/dlv_nope`, { method: 'POST', token: u.accessToken, env: { WEBHOOKS: queue } }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await callApp(`/api/v1/webhooks/${b.id}/retry/${d!.id}`, { method: 'POST', token: u.accessToken, env: { WEBHOOKS: queue } }), 404, 'NOT_FOUND')
    expect(queue.sent).toEqual([])
  })
})

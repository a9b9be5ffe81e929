import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { registerUser } from '../../helpers/api'
import { answers, createEndpoint, deliveriesOf, emitEvent, harness, runEvents, runWebhooks } from '../../helpers/webhooks'

describe('the events consumer (fan-out)', () => {
  it('one delivery per active endpoint subscribed to the event or to *, each enqueued once', async () => {
    const u = await registerUser()
    const sms = await createEndpoint(u, { events: ['SMS_RECEIVED'] })
    const all = await createEndpoint(u, { events: ['*'] })
    const calls = await createEndpoint(u, { events: ['CALL_STARTED', 'CALL_COMPLETED'] })
    const off = await createEndpoint(u, { events: ['SMS_RECEIVED'] })
    await env.DB.prepare(`UPDATE webhook_endpoints SET is_active = 0 WHERE id = ?`).bind(off.id).run()
    const stranger = await registerUser()
    await createEndpoint(stranger, { events: ['*'] })

    const h = harness()
    const eventId = await emitEvent(u.id, 'SMS_RECEIVED', { messageId: 'sms_1' })
    const result = await runEvents(h, [eventId])
    expect(result.explicitAcks, JSON.stringify(result)).toEqual(result.ids)

    const deliveries = await deliveriesOf(eventId)
    expect(deliveries.map((d) => d.endpoint_id).sort()).toEqual([sms.id, all.id].sort())
    expect(deliveries.map((d) => d.endpoint_id)).not.toContain(calls.id)
    for (const d of deliveries) {
      expect(d).toMatchObject({ user_id: u.id, event_id: eventId, event_type: 'SMS_RECEIVED', status: 'pending', attempt_count: 0 })
      expect(d.payload_size).toBe(new TextEncoder().encode(d.payload).length)
    }
    expect(h.webhooks.sent).toHaveLength(2)
    expect(new Set(h.webhooks.sent.map((m) => (m as { deliveryId: string }).deliveryId))).toEqual(new Set(deliveries.map((d) => d.id)))

    const callEvent = await emitEvent(u.id, 'CALL_COMPLETED', { callId: 'call_1' })
    await runEvents(h, [callEvent])
    expect((await deliveriesOf(callEvent)).map((d) => d.endpoint_id).sort()).toEqual([all.id, calls.id].sort())
  })

  it('the payload carries id, event, timestamp, data and account {id, email}; webhook-id is the outbox event id', async () => {
    const u = await registerUser()
    await createEndpoint(u, { events: ['NUMBER_PURCHASED'] })
    const h = harness(answers(200))
    const data = { numberId: 'pn_1', phoneNumber: '+12025550100', numberType: 'LOCAL', cost: 2.15, currency: 'USD' }
    const eventId = await emitEvent(u.id, 'NUMBER_PURCHASED', data)
    const outboxRow = await env.DB.prepare(`SELECT * FROM outbox WHERE id = ?`).bind(eventId).first<{ created_at: number }>()
    await runEvents(h, [eventId])
    const [d] = await deliveriesOf(eventId)
    const payload = JSON.parse(d!.payload)
    expect(payload).toEqual({
      id: eventId,
      event: 'NUMBER_PURCHASED',
      timestamp: new Date(outboxRow!.created_at).toISOString(),
      data,
      account: { id: u.id, email: u.email },
    })
    await runWebhooks(h, [d!.id])
    expect(h.receiver.last.headers.get('webhook-id')).toBe(eventId)
    expect(h.receiver.last.body).toBe(d!.payload)
  })

  it('an account without endpoints, an event without an account, and an unknown event id: nothing, acked', async () => {
    const u = await registerUser()
    const h = harness()
    const lonely = await emitEvent(u.id, 'SMS_RECEIVED')
    const system = await (async () => {
      const id = await emitEvent(u.id, 'SMS_RECEIVED')
      await env.DB.prepare(`UPDATE outbox SET user_id = NULL WHERE id = ?`).bind(id).run()
      return id
    })()
    const result = await runEvents(h, [lonely, system, 'evt_does_not_exist'])
    expect(result.explicitAcks, JSON.stringify(result)).toEqual(result.ids)
    expect(await deliveriesOf(lonely)).toEqual([])
    expect(await deliveriesOf(system)).toEqual([])
    expect(h.webhooks.sent).toEqual([])
  })

  it('running the same event twice (redelivery after a crash) creates no duplicate deliveries', async () => {
    const u = await registerUser()
    await createEndpoint(u)
    await createEndpoint(u)
    const h = harness(answers(200))
    const eventId = await emitEvent(u.id, 'SMS_DELIVERED')
    await runEvents(h, [eventId])
    await runEvents(h, [eventId], 2)
    // and twice in one batch
    await runEvents(h, [eventId, eventId], 3)
    const deliveries = await deliveriesOf(eventId)
    expect(deliveries).toHaveLength(2)
    // never attempted yet: each redelivery enqueues them again, and the attempt claim absorbs the copies
    const ids = h.webhooks.sent.map((m) => (m as { deliveryId: string }).deliveryId)
    await runWebhooks(h, ids)
    expect(h.receiver.calls).toHaveLength(2)
    for (const d of await deliveriesOf(eventId)) expect(d).toMatchObject({ status: 'succeeded', attempt_count: 1 })
    // once attempted, a redelivered event enqueues nothing more
    const before = h.webhooks.sent.length
    await runEvents(h, [eventId], 4)
    expect(h.webhooks.sent).toHaveLength(before)
  })

  it('a crash mid-batch: that message is retried, the others acked, and its redelivery adds no duplicate rows', async () => {
    const u = await registerUser()
    await createEndpoint(u, { events: ['*'] })
    await createEndpoint(u, { events: ['*'] })
    const h = harness(answers(200))
    const evs = [await emitEvent(u.id, 'SMS_SENT', { n: 1 }), await emitEvent(u.id, 'SMS_SENT', { n: 2 }), await emitEvent(u.id, 'SMS_SENT', { n: 3 })]

    // The queue refuses the second event's deliveries, after its rows were written (a crash between the two).
    const secondEvent = evs[1]!
    const rowsOfSecond = new Set<string>()
    h.webhooks.failWith = (body) => (rowsOfSecond.has((body as { deliveryId: string }).deliveryId) ? new Error('Queue send failed: internal error') : undefined)
    const realSendBatch = h.webhooks.sendBatch.bind(h.webhooks)
    h.webhooks.sendBatch = async (msgs) => {
      for (const d of await deliveriesOf(secondEvent)) rowsOfSecond.add(d.id)
      return realSendBatch(msgs)
    }
    const result = await runEvents(h, evs)
    expect(result.explicitAcks, JSON.stringify(result)).toEqual([result.ids[0], result.ids[2]])
    expect(
      result.retryMessages.map((m) => m.msgId),
      JSON.stringify(result),
    ).toEqual([result.ids[1]])
    expect(result.retryMessages[0]!.delaySeconds).toBeGreaterThan(0)
    expect(await deliveriesOf(secondEvent)).toHaveLength(2)
    expect(h.webhooks.sent).toHaveLength(4)

    // the queue is back; the retried message comes again
    h.webhooks.failWith = undefined
    const again = await runEvents(h, [secondEvent], 2)
    expect(again.explicitAcks).toEqual(again.ids)
    for (const ev of evs) expect(await deliveriesOf(ev)).toHaveLength(2)
    expect(h.webhooks.sent).toHaveLength(6)
    const total = await env.DB.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE user_id = ?`).bind(u.id).first<{ n: number }>()
    expect(total!.n).toBe(6)
  })

  it('a batch of events from several accounts is fanned out in two D1 batches and one queue send, whatever its size', async () => {
    const a = await registerUser()
    const b = await registerUser()
    const quiet = await registerUser()
    const [a1, a2] = [await createEndpoint(a, { events: ['*'] }), await createEndpoint(a, { events: ['SMS_SENT'] })]
    const b1 = await createEndpoint(b, { events: ['*'] })
    const evs: string[] = []
    for (let i = 0; i < 40; i++) evs.push(await emitEvent([a, b, quiet][i % 3]!.id, i % 2 ? 'SMS_SENT' : 'CALL_COMPLETED', { n: i }))

    const h = harness()
    let batches = 0
    const realBatch = h.services.db.batch.bind(h.services.db)
    h.services.db.batch = (async (stmts: Parameters<typeof realBatch>[0]) => {
      batches += 1
      return realBatch(stmts)
    }) as unknown as typeof realBatch
    let sends = 0
    const realSend = h.webhooks.sendBatch.bind(h.webhooks)
    h.webhooks.sendBatch = async (msgs) => {
      sends += 1
      return realSend(msgs)
    }
    const result = await runEvents(h, evs)
    expect(result.explicitAcks, JSON.stringify(result)).toEqual(result.ids)
    expect(batches).toBe(2)
    expect(sends).toBe(1)

    // each event reached exactly its own account's subscribed endpoints
    for (const [i, ev] of evs.entries()) {
      const wanted = [[a1.id, ...(i % 2 ? [a2.id] : [])], [b1.id], []][i % 3]!
      expect((await deliveriesOf(ev)).map((d) => d.endpoint_id).sort(), `event ${i}`).toEqual(wanted.sort())
    }
    const total = evs.reduce((n, _, i) => n + [i % 2 ? 2 : 1, 1, 0][i % 3]!, 0)
    expect(h.webhooks.sent).toHaveLength(total)
  })

  it('a malformed message is dropped (acked), not retried forever', async () => {
    const h = harness()
    const { createMessageBatch, getQueueResult } = await import('cloudflare:test')
    const { eventsConsumer } = await import('../../../src/modules/webhooks/webhooks.consumer')
    const batch = createMessageBatch<unknown>('events', [
      { id: 'bad-1', timestamp: new Date(), attempts: 1, body: { eventId: '' } },
      { id: 'bad-2', timestamp: new Date(), attempts: 1, body: 'evt_x' },
    ])
    await eventsConsumer(batch, h.services)
    const r = await getQueueResult(batch, h.ctx)
    expect(r.explicitAcks.sort()).toEqual(['bad-1', 'bad-2'])
    expect(r.retryMessages).toEqual([])
  })
})

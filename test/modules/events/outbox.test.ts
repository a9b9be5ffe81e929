/**
 * Outbox → events queue → fan-out → webhooks queue → partner, end to end, with the queues
 * replaced by recording fakes and each consumer driven by hand.
 */
import { env } from 'cloudflare:test'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { drainOutbox } from '../../../src/modules/events/outbox'
import { OUTBOX_GRACE_MS } from '../../../src/modules/maintenance/sweeper.job'
import { registerUser } from '../../helpers/api'
import { sellingProvider, uniqueService } from '../../helpers/activations'
import { callApp } from '../../helpers/app'
import { fund } from '../../helpers/catalog'
import { answers, createEndpoint, deliveriesOf, emitEvent, fakeQueue, harness, runEvents, runWebhooks } from '../../helpers/webhooks'

const db = () => createDb(env.DB)

async function sentAt(id: string) {
  return (await env.DB.prepare(`SELECT sent_at FROM outbox WHERE id = ?`).bind(id).first<{ sent_at: number | null }>())!.sent_at
}

async function unsentCount() {
  return (await env.DB.prepare(`SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL`).first<{ n: number }>())!.n
}

describe('drainOutbox', () => {
  it('sends unsent rows to the events queue, oldest first, and marks them; a second drain sends nothing', async () => {
    const u = await registerUser()
    const ids = [await emitEvent(u.id, 'SMS_SENT', { n: 1 }, { unsent: true }), await emitEvent(u.id, 'SMS_SENT', { n: 2 }, { unsent: true })]
    const already = await emitEvent(u.id, 'SMS_SENT', { n: 0 }) // sent before
    const queue = fakeQueue()
    const before = Date.now()
    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } })).toBe(2)
    expect(queue.sent).toEqual(ids.map((eventId) => ({ eventId })))
    expect(queue.sent).not.toContainEqual({ eventId: already })
    for (const id of ids) expect(await sentAt(id)).toBeGreaterThanOrEqual(before)

    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } })).toBe(0)
    expect(queue.sent).toHaveLength(2)
  })

  it('leaves the rows unsent when the queue refuses them, for the next drain to send', async () => {
    const u = await registerUser()
    const id = await emitEvent(u.id, 'SMS_SENT', {}, { unsent: true })
    const queue = fakeQueue()
    queue.failWith = () => new Error('Queue send failed')
    await expect(drainOutbox({ db: db(), env: { EVENTS: queue } })).rejects.toThrow(/Queue send failed/)
    expect(await sentAt(id)).toBeNull()
    queue.failWith = undefined
    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } })).toBe(1)
    expect(queue.sent).toEqual([{ eventId: id }])
  })

  it('drains a backlog larger than one queue batch, marking within D1’s 100-parameter limit', async () => {
    const u = await registerUser()
    const ids: string[] = []
    for (let i = 0; i < 230; i++) ids.push(await emitEvent(u.id, 'usage.recorded', { i }, { unsent: true }))
    const queue = fakeQueue()
    const batchSizes: number[] = []
    const sendBatch = queue.sendBatch.bind(queue)
    queue.sendBatch = async (msgs) => {
      const list = [...msgs]
      batchSizes.push(list.length)
      return sendBatch(list)
    }
    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } })).toBe(230)
    expect(batchSizes).toEqual([100, 100, 30])
    expect(new Set(queue.sent.map((m) => (m as { eventId: string }).eventId))).toEqual(new Set(ids))
    expect(await unsentCount()).toBe(0)
    // a bounded drain leaves the rest for the next one
    for (let i = 0; i < 5; i++) await emitEvent(u.id, 'usage.recorded', { i }, { unsent: true })
    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } }, 3)).toBe(3)
    expect(await unsentCount()).toBe(2)
    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } })).toBe(2)
  })

  it('concurrent drains take disjoint rows: every event is sent once', async () => {
    const u = await registerUser()
    const ids: string[] = []
    for (let i = 0; i < 60; i++) ids.push(await emitEvent(u.id, 'usage.recorded', { i }, { unsent: true }))
    const queue = fakeQueue()
    const counts = await Promise.all(Array.from({ length: 5 }, () => drainOutbox({ db: db(), env: { EVENTS: queue } }, 20)))
    const sent = queue.sent.map((m) => (m as { eventId: string }).eventId)
    expect(counts.reduce((a, b) => a + b, 0)).toBe(sent.length)
    expect(new Set(sent).size, 'an event sent twice').toBe(sent.length)
    // Whatever the five bounded drains left, the next one sends; nothing twice.
    await drainOutbox({ db: db(), env: { EVENTS: queue } })
    const all = queue.sent.map((m) => (m as { eventId: string }).eventId)
    expect(all.length).toBe(new Set(all).size)
    expect(new Set(all)).toEqual(new Set(ids))
  })

  it('rows a drain claimed and never marked (it died) are sent once the claim lapses, not before', async () => {
    const u = await registerUser()
    const id = await emitEvent(u.id, 'SMS_SENT', {}, { unsent: true })
    await env.DB.prepare(`UPDATE outbox SET claimed_until = ? WHERE id = ?`)
      .bind(Date.now() + 30_000, id)
      .run()
    const queue = fakeQueue()
    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } })).toBe(0)
    await env.DB.prepare(`UPDATE outbox SET claimed_until = ? WHERE id = ?`)
      .bind(Date.now() - 1, id)
      .run()
    expect(await drainOutbox({ db: db(), env: { EVENTS: queue } })).toBe(1)
    expect(queue.sent).toEqual([{ eventId: id }])
  })

  it('an event id never changes: a row sent twice (a drain that crashed before marking) fans out once', async () => {
    const u = await registerUser()
    await createEndpoint(u)
    const id = await emitEvent(u.id, 'SMS_SENT', {}, { unsent: true })
    const queue = fakeQueue()
    await drainOutbox({ db: db(), env: { EVENTS: queue } })
    // The drain that crashed had claimed the row; its claim has lapsed.
    await env.DB.prepare(`UPDATE outbox SET sent_at = NULL, claimed_until = ? WHERE id = ?`)
      .bind(Date.now() - 1, id)
      .run()
    await drainOutbox({ db: db(), env: { EVENTS: queue } })
    expect(queue.sent).toEqual([{ eventId: id }, { eventId: id }])
    const h = harness()
    await runEvents(
      h,
      queue.sent.map((m) => (m as { eventId: string }).eventId),
    )
    expect(await deliveriesOf(id)).toHaveLength(1)
  })
})

describe('an API action, end to end', () => {
  it('buying a number writes activation.created with the change; the request sends it; the partner receives it signed', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('whk'), costUsd: 0.5 })
    const u = await registerUser()
    await fund(u.id, 5)
    const e = await createEndpoint(u, { events: ['activation.created'] })
    const events = fakeQueue()
    const res = await callApp('/api/numbers/purchase', {
      token: u.accessToken,
      body: { countryCode: 'US', serviceCode: offer.serviceCode },
      env: { EVENTS: events },
    })
    expect(res.status, res.text).toBe(201)
    // the request sent its event after the response (waitUntil), by id; the consumer marks it sent
    const row = await env.DB.prepare(`SELECT * FROM outbox WHERE type = 'activation.created' AND user_id = ?`).bind(u.id).first<{ id: string; sent_at: number | null }>()
    expect(row, 'the purchase wrote its event').not.toBeNull()
    expect(events.sent).toEqual([{ eventId: row!.id }])
    expect(row!.sent_at).toBeNull()

    const h = harness(answers(200))
    await runEvents(h, [row!.id])
    expect(await sentAt(row!.id)).not.toBeNull()
    const [d] = await deliveriesOf(row!.id)
    expect(d).toMatchObject({ endpoint_id: e.id, event_type: 'activation.created' })
    await runWebhooks(h, [d!.id])
    const req = h.receiver.last
    const payload = new Webhook(e.secret).verify(req.body, Object.fromEntries(req.headers.entries())) as Record<string, any>
    expect(payload).toMatchObject({ id: row!.id, event: 'activation.created', account: { id: u.id, email: u.email }, data: { numberId: res.body.data.id, phone: res.body.data.phone } })
    expect(req.headers.get('webhook-id')).toBe(row!.id)
  })

  it('a failed request (4xx) sends nothing; a request sends only the events it wrote', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('own'), costUsd: 0.5 })
    const u = await registerUser()
    await fund(u.id, 5)
    const other = await emitEvent(u.id, 'SMS_SENT', {}, { unsent: true })
    const events = fakeQueue()
    const bad = await callApp('/api/numbers/purchase', { token: u.accessToken, body: { countryCode: 'US', serviceCode: 'no-such-service' }, env: { EVENTS: events } })
    expect(bad.status, bad.text).toBeGreaterThanOrEqual(400)
    expect(events.sent).toEqual([])
    const ok = await callApp('/api/numbers/purchase', { token: u.accessToken, body: { countryCode: 'US', serviceCode: offer.serviceCode }, env: { EVENTS: events } })
    expect(ok.status, ok.text).toBe(201)
    const mine = await env.DB.prepare(`SELECT id FROM outbox WHERE type = 'activation.created' AND json_extract(payload, '$.numberId') = ?`).bind(ok.body.data.id).first<{ id: string }>()
    expect(events.sent).toEqual([{ eventId: mine!.id }])
    // The row another writer left unsent is the sweeper's: after its grace, not before.
    expect(await sentAt(other)).toBeNull()
    expect(await drainOutbox({ db: db(), env: { EVENTS: events } }, 1000, OUTBOX_GRACE_MS)).toBe(0)
    await env.DB.prepare(`UPDATE outbox SET created_at = ? WHERE id = ?`)
      .bind(Date.now() - OUTBOX_GRACE_MS - 1, other)
      .run()
    expect(await drainOutbox({ db: db(), env: { EVENTS: events } }, 1000, OUTBOX_GRACE_MS)).toBeGreaterThanOrEqual(1)
    expect(events.sent).toContainEqual({ eventId: other })
  })

  it('an id whose batch did not commit reaches the consumer and does nothing', async () => {
    const h = harness(answers(200))
    await runEvents(h, ['evt_never_written'])
    expect(await deliveriesOf('evt_never_written')).toHaveLength(0)
  })
})

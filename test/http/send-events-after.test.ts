/**
 * sendEventsAfter: the events a request wrote go to the `events` queue after its answer, coalesced
 * with those of other requests of the isolate; a send that fails is left to the sweeper.
 */
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { sendEventsAfter } from '../../src/http/drain-outbox'
import { newEventId } from '../../src/modules/events/outbox'

/** A queue that records each sendBatch, or refuses while `failing`. */
function queue() {
  const batches: string[][] = []
  const q = {
    failing: false,
    batches,
    async sendBatch(messages: Iterable<{ body: { eventId: string } }>) {
      if (q.failing) throw new Error('Queue send failed')
      batches.push([...messages].map((m) => m.body.eventId))
    },
  }
  return q
}

/** An app whose handler writes `n` events and whose deferred tasks wait in `tasks` until run. */
function app(q: ReturnType<typeof queue>) {
  const tasks: (() => Promise<unknown>)[] = []
  const a = new Hono<{ Variables: { services: unknown } }>()
  a.use('*', async (c, next) => {
    c.set('services', { env: { EVENTS: q }, afterAnswer: (t: () => Promise<unknown>) => tasks.push(t) })
    await next()
  })
  a.use('*', sendEventsAfter as never)
  a.post('/write/:n', (c) => c.json({ ids: Array.from({ length: Number(c.req.param('n')) }, () => newEventId()) }, 201))
  const post = async (n: number) => ((await (await a.request(`/write/${n}`, { method: 'POST' })).json()) as { ids: string[] }).ids
  return { post, tasks }
}

describe('sendEventsAfter', () => {
  it("sends the events of several requests together: the first deferred flush takes every request's ids", async () => {
    const q = queue()
    const { post, tasks } = app(q)
    const first = await post(2)
    const second = await post(1)
    expect(q.batches).toEqual([])
    await Promise.all(tasks.map((t) => t()))
    expect(q.batches).toEqual([[...first, ...second]])
  })

  it('a failed send does not fail the deferred task; those ids are the sweeper’s, and the next flush sends only its own', async () => {
    const q = queue()
    const { post, tasks } = app(q)
    q.failing = true
    await post(1)
    await expect(tasks.shift()!()).resolves.toBeUndefined()
    q.failing = false
    const later = await post(1)
    await tasks.shift()!()
    expect(q.batches).toEqual([later])
  })
})

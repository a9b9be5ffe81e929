/**
 * A `webhooks` batch of more deliveries than one statement's IN list takes (the queue allows 100 per batch): each is
 * read as itself and delivered once.
 */
import { describe, expect, it } from 'vitest'
import { IDS_PER_STATEMENT } from '../../../src/db/chunk'
import { createEndpoint, deliveryRow, emitEvent, harness, runEvents, runWebhooks } from '../../helpers/webhooks'
import { registerUser } from '../../helpers/api'

describe('a webhooks batch of 100 deliveries', () => {
  it('reads every delivery as itself across the IN-list chunks, sends each once and acks each', async () => {
    const h = harness()
    const u = await registerUser()
    await createEndpoint(u, { events: ['*'] })
    const evs = []
    for (let i = 0; i < 100; i++) evs.push(await emitEvent(u.id, 'SMS_RECEIVED', { n: i }))
    expect(evs.length).toBeGreaterThan(IDS_PER_STATEMENT)
    await runEvents(h, evs)
    const ids = h.webhooks.sent.map((m) => (m as { deliveryId: string }).deliveryId)
    expect(new Set(ids).size).toBe(100)

    const result = await runWebhooks(h, ids)
    expect(result.explicitAcks).toEqual(result.ids)
    expect(result.retryMessages).toEqual([])
    expect(h.receiver.calls).toHaveLength(100)
    for (const id of [ids[0]!, ids[95]!]) expect(await deliveryRow(id)).toMatchObject({ status: 'succeeded', attempt_count: 1 })
  })
})

import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import worker from '../../src/index'
import { CONSUMERS } from '../../src/queue'

const messages = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `msg-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body: { i } }))

describe('queue dispatcher', () => {
  it('retries, never acks, a batch for a queue with no consumer', async () => {
    const queue = 'no-such-queue'
    expect(CONSUMERS[queue]).toBeUndefined()
    const batch = createMessageBatch(queue, messages(3))
    // The test batch does not record retry delays; watch the call instead.
    const retryAll = vi.spyOn(batch, 'retryAll')
    const ctx = createExecutionContext()
    await worker.queue(batch, env, ctx)
    const result = await getQueueResult(batch, ctx)
    const retried = result.retryBatch.retry || result.retryMessages.length === 3
    expect(retried, JSON.stringify(result)).toBe(true)
    expect(result.ackAll, JSON.stringify(result)).toBe(false)
    expect(result.explicitAcks, JSON.stringify(result)).toEqual([])
    // With a delay, so an unconsumed queue is not hammered.
    const delay = result.retryBatch.retry ? retryAll.mock.calls[0]?.[0]?.delaySeconds : result.retryMessages[0]?.delaySeconds
    expect(delay ?? 0, JSON.stringify(result)).toBeGreaterThan(0)
  })

  it.each(['events', 'webhooks', 'messages', 'jobs', 'webhooks-dlq', 'events-staging'])('keeps the messages of %s while it has no registered consumer', async (queue) => {
    if (CONSUMERS[queue.replace(/-(staging|preview)$/, '')]) return // a feature registered its consumer: covered by its own tests
    const batch = createMessageBatch(queue, messages(2))
    const ctx = createExecutionContext()
    await worker.queue(batch, env, ctx)
    const result = await getQueueResult(batch, ctx)
    expect(result.retryBatch.retry || result.retryMessages.length === 2, JSON.stringify(result)).toBe(true)
    expect(result.ackAll || result.explicitAcks.length > 0, JSON.stringify(result)).toBe(false)
  })

  it('hands a batch to the consumer registered for its queue (environment suffix stripped)', async () => {
    const seen: string[] = []
    CONSUMERS['test-dispatch'] = async (batch) => {
      seen.push(batch.queue)
      batch.ackAll()
    }
    try {
      for (const queue of ['test-dispatch', 'test-dispatch-staging']) {
        const batch = createMessageBatch(queue, messages(1))
        const ctx = createExecutionContext()
        await worker.queue(batch, env, ctx)
        const result = await getQueueResult(batch, ctx)
        expect(result.ackAll, JSON.stringify(result)).toBe(true)
        expect(result.retryBatch.retry, JSON.stringify(result)).toBe(false)
      }
      expect(seen).toEqual(['test-dispatch', 'test-dispatch-staging'])
    } finally {
      delete CONSUMERS['test-dispatch']
    }
  })
})

/** Grouping queue messages under one sendBatch's limits: 100 messages, and their size. */
import { describe, expect, it } from 'vitest'
import { batchesOf, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES } from '../../src/lib/queue'

const size = (bodies: unknown[]) => bodies.reduce<number>((s, b) => s + new TextEncoder().encode(JSON.stringify(b)).length, 0)

describe('batchesOf', () => {
  it('small bodies: 100 per batch', () => {
    const groups = batchesOf(Array.from({ length: 250 }, (_, i) => ({ i })))
    expect(groups.map((g) => g.length)).toEqual([MAX_BATCH_MESSAGES, MAX_BATCH_MESSAGES, 50])
  })

  it('large bodies: as many as fit the size, in order, none lost', () => {
    // A bulk top-up chunk is ~7 kB: 100 of them are ~700 kB, over the 256 KB of one sendBatch.
    const bodies = Array.from({ length: 100 }, (_, n) => ({ n, items: Array.from({ length: 100 }, (_, i) => ({ i, iccid: '8988228000000000000', quota_type: 'data', volume: 1048576 })) }))
    const groups = batchesOf(bodies)
    expect(groups.length).toBeGreaterThan(3)
    for (const g of groups) expect(size(g)).toBeLessThanOrEqual(MAX_BATCH_BYTES)
    expect(groups.flat()).toEqual(bodies)
  })

  it('a body larger than the budget goes alone', () => {
    const big = { text: 'x'.repeat(MAX_BATCH_BYTES) }
    expect(batchesOf([{ a: 1 }, big, { b: 2 }]).map((g) => g.length)).toEqual([1, 1, 1])
  })

  it('nothing to send: no batch', () => {
    expect(batchesOf([])).toEqual([])
  })
})

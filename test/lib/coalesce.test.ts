import { describe, expect, it } from 'vitest'
import { coalescedFlush } from '../../src/lib/coalesce'

/** A pending list and a flush whose writes wait until `release()` is called. */
function harness(opts: { leaseMs?: number } = {}) {
  let pending: number[] = []
  const written: number[][] = []
  let release: (ok: boolean) => void = () => {}
  const flush = coalescedFlush<number[], string>({
    take: () => {
      if (!pending.length) return null
      const items = pending
      pending = []
      return items
    },
    write: (items, arg) => {
      written.push([...items, arg.length])
      return new Promise<boolean>((resolve) => {
        release = resolve
      })
    },
    leaseMs: opts.leaseMs,
  })
  return {
    add: (n: number) => pending.push(n),
    flush: (arg = '', windowMs?: number) => flush.flush(arg, windowMs),
    written,
    pending: () => pending,
    release: (ok = true) => release(ok),
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('coalescedFlush', () => {
  it('writes everything pending at once, and what arrives meanwhile in the next round of the same flush', async () => {
    const h = harness()
    h.add(1)
    h.add(2)
    const first = h.flush('ab')
    h.add(3)
    // A second flush while one runs returns at once: the running one takes its items.
    h.add(4)
    await h.flush('xyz')
    expect(h.written).toEqual([[1, 2, 2]])
    h.release()
    await tick()
    expect(h.written).toEqual([
      [1, 2, 2],
      [3, 4, 2],
    ])
    h.release()
    await first
    expect(h.pending()).toEqual([])
  })

  it('a failed write stops the flush; what was pending since waits for the next flush', async () => {
    const h = harness()
    h.add(1)
    const first = h.flush()
    h.add(2)
    h.release(false)
    await first
    expect(h.written).toEqual([[1, 0]])
    expect(h.pending()).toEqual([2])
    const second = h.flush()
    h.release()
    await second
    expect(h.written).toEqual([
      [1, 0],
      [2, 0],
    ])
  })

  it('a flush that stopped looking (its request cut off) loses its lease after leaseMs', async () => {
    const h = harness({ leaseMs: 30 })
    h.add(1)
    void h.flush() // never released: a flush cut off mid-write
    h.add(2)
    await h.flush()
    expect(h.written).toEqual([[1, 0]])
    await new Promise((r) => setTimeout(r, 40))
    const next = h.flush()
    expect(h.written).toEqual([
      [1, 0],
      [2, 0],
    ])
    h.release()
    await next
  })

  it('paced: after a quiet spell a flush starts at once; flushes asked within the window wait for its end, and one writes for them all', async () => {
    const h = harness()
    h.add(1)
    const first = h.flush('a', 150)
    expect(h.written).toEqual([[1, 1]])
    h.release()
    await first
    const asked = Date.now()
    h.add(2)
    const second = h.flush('bb', 150)
    h.add(3)
    // One flush already waits for this window: the next returns at once, leaving its item to it.
    await h.flush('ccc', 150)
    expect(h.written).toEqual([[1, 1]])
    // The waiting one wakes at the window's end and writes for both.
    await new Promise((r) => setTimeout(r, 250))
    expect(h.written).toEqual([
      [1, 1],
      [2, 3, 2],
    ])
    h.release()
    await second
    expect(Date.now() - asked).toBeGreaterThanOrEqual(100)
    // The next window has a waiting flush of its own again.
    h.add(4)
    const next = h.flush('e', 150)
    await tick()
    expect(h.written).toHaveLength(2)
    await new Promise((r) => setTimeout(r, 250))
    expect(h.written.at(-1)).toEqual([4, 1])
    h.release()
    await next
    expect(h.pending()).toEqual([])
    // Without a window (0, the default) a flush starts at once whenever none is running.
    h.add(5)
    const now = h.flush('d')
    expect(h.written).toHaveLength(4)
    h.release()
    await now
  })
})

import { sleep } from './concurrency'

/**
 * Work that many requests of one isolate defer past their answers, written together: requests add
 * to something pending (synchronously), and each request's deferred `flush()` writes whatever is
 * pending — its own items and those of every request before it — unless a flush is already running
 * in this isolate, which then takes them. Under load N requests cost a few writes, not N.
 *
 * - No promise crosses requests: the lease is a timestamp, never a promise. In workerd a promise
 *   made in one request's context and awaited from another's never settles once its own request is
 *   done, so a flush never waits for another request's flush; it leaves its items to it.
 * - Nothing is stranded: the running flush takes everything pending in one synchronous swap
 *   (`take`), and after each write looks again, in the same turn as it gives the lease up — an item
 *   added after that look finds no flush running and its request's flush starts one.
 * - A flush cut off mid-write (its request's waitUntil ended) keeps the lease only `leaseMs`; then
 *   another may start. What it had taken is the caller's to recover (`write` returns false to stop).
 * - Paced (`windowMs`, lib/deferral.ts): a flush asked for within `windowMs` of the last one's
 *   start waits for the window's end (a timer in its own request's waitUntil) and then follows the
 *   rules above; while one waits, the flushes of the window's other requests return at once and
 *   leave their items to it — one timer and one write per window, not one per request. A waiting
 *   flush cut off with its request is presumed gone `leaseMs` after its window ended.
 */
export interface CoalescedFlush<A> {
  /**
   * Writes what is pending, round after round, with the caller's `arg` (say, its request's
   * database handle), unless a flush is running in this isolate. With `windowMs`, not sooner
   * than `windowMs` after the last flush started.
   */
  flush(arg: A, windowMs?: number): Promise<void>
}

export function coalescedFlush<T, A = void>(opts: {
  /** Takes everything pending (leaving nothing), or null when nothing is. Must be synchronous. */
  take: () => T | null
  /** Writes what was taken; false stops this flush (what failed is the caller's to put back or leave). */
  write: (taken: T, arg: A) => Promise<boolean>
  /** How long a flush that has not looked at the pending items is presumed alive. */
  leaseMs?: number
  /** Rounds per flush: bounds how long one request's waitUntil keeps working under a steady stream. */
  maxRounds?: number
}): CoalescedFlush<A> {
  const leaseMs = opts.leaseMs ?? 10_000
  const maxRounds = opts.maxRounds ?? 20
  let lease: { at: number } | null = null
  let lastStart = Number.NEGATIVE_INFINITY
  /** When the flush waiting for the current window wakes (none: -Infinity). */
  let waitingUntil = Number.NEGATIVE_INFINITY
  return {
    async flush(arg: A, windowMs = 0) {
      const now = Date.now()
      const wait = lastStart + windowMs - now
      if (windowMs > 0 && wait > 0) {
        if (now < waitingUntil + leaseMs) return
        const until = now + wait
        waitingUntil = until
        await sleep(wait)
        if (waitingUntil === until) waitingUntil = Number.NEGATIVE_INFINITY
      }
      if (lease && Date.now() - lease.at < leaseMs) return
      const mine = { at: Date.now() }
      lease = mine
      lastStart = mine.at
      try {
        for (let round = 0; round < maxRounds; round++) {
          mine.at = Date.now()
          const taken = opts.take()
          if (taken === null) return
          if (!(await opts.write(taken, arg))) return
        }
      } finally {
        // In the same turn as the last look. A flush that outlived its lease leaves the lease of the
        // one that replaced it alone.
        if (lease === mine) lease = null
      }
    },
  }
}

import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { RateLimiter } from '../../../src/modules/rate-limit/rate-limiter.do'

const WINDOW = 60_000
let n = 0
const stub = (tag: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`test:${tag}:${++n}`))
/** The start of a window well in the future, so no real alarm fires while a test counts. */
const futureWindow = () => (Math.floor(Date.now() / WINDOW) + 100) * WINDOW

const storedWindow = (s: DurableObjectStub<RateLimiter>) => runInDurableObject(s, (_: RateLimiter, state) => state.storage.kv.get<{ start: number; end: number; count: number }>('window'))

describe('RateLimiter object', () => {
  it('counts exactly and refuses past the limit with retryAfter', async () => {
    const s = stub('count')
    const start = futureWindow()
    const results = []
    for (let i = 0; i < 5; i++) results.push(await s.hit(3, WINDOW, start + 1000 + i))
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false, false])
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0, 0])
    for (const r of results) {
      expect(r.limit).toBe(3)
      expect(r.resetAt).toBe(start + WINDOW)
    }
    expect(results.slice(0, 3).map((r) => r.retryAfter)).toEqual([0, 0, 0])
    // Refused 1004 ms into the window: 58.996 s left → 59 s.
    expect(results[3]!.retryAfter).toBe(59)
    expect((await storedWindow(s))?.count).toBe(3)
  })

  it('rounds retryAfter up and never below 1 s', async () => {
    const s = stub('retry')
    const start = futureWindow()
    await s.hit(1, WINDOW, start)
    expect((await s.hit(1, WINDOW, start + WINDOW - 1)).retryAfter).toBe(1)
    expect((await s.hit(1, WINDOW, start + 30_500)).retryAfter).toBe(30)
  })

  it('resets when the next window starts', async () => {
    const s = stub('reset')
    const start = futureWindow()
    for (let i = 0; i < 2; i++) expect((await s.hit(2, WINDOW, start + i)).allowed).toBe(true)
    expect((await s.hit(2, WINDOW, start + WINDOW - 1)).allowed).toBe(false)
    const next = await s.hit(2, WINDOW, start + WINDOW)
    expect(next).toMatchObject({ allowed: true, remaining: 1, resetAt: start + 2 * WINDOW, retryAfter: 0 })
    expect((await s.hit(2, WINDOW, start + WINDOW + 1)).allowed).toBe(true)
    expect((await s.hit(2, WINDOW, start + WINDOW + 2)).allowed).toBe(false)
  })

  it('keeps separate counts per object (subject)', async () => {
    const a = stub('a')
    const b = stub('b')
    const start = futureWindow()
    await a.hit(1, WINDOW, start)
    expect((await a.hit(1, WINDOW, start + 1)).allowed).toBe(false)
    expect((await b.hit(1, WINDOW, start + 1)).allowed).toBe(true)
  })

  it('never lets more than the limit through under concurrent hits', async () => {
    const s = stub('concurrent')
    const start = futureWindow()
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => s.hit(7, WINDOW, start + i)))
    expect(results.filter((r) => r.allowed)).toHaveLength(7)
    expect(
      results
        .filter((r) => r.allowed)
        .map((r) => r.remaining)
        .sort(),
    ).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect((await storedWindow(s))?.count).toBe(7)
  })

  it('schedules an alarm at the end of the window', async () => {
    const s = stub('alarm-at')
    const start = futureWindow()
    await s.hit(5, WINDOW, start)
    const alarm = await runInDurableObject(s, (_: RateLimiter, state) => state.storage.getAlarm())
    expect(alarm).toBe(start + WINDOW)
  })

  it('its alarm clears storage once the window is over', async () => {
    const s = stub('alarm-clear')
    // A window that ended a minute ago: its alarm is due now.
    const start = (Math.floor(Date.now() / WINDOW) - 2) * WINDOW
    await s.hit(5, WINDOW, start + 1)
    await s.hit(5, WINDOW, start + 2)
    // The runtime may already have fired the overdue alarm by itself; either way it must clear.
    await runDurableObjectAlarm(s)
    expect(await storedWindow(s)).toBeUndefined()
    const keys = await runInDurableObject(s, (_: RateLimiter, state) => [...state.storage.kv.list()])
    expect(keys).toEqual([])
    // A fresh window starts from zero afterwards.
    const fresh = futureWindow()
    expect(await s.hit(5, WINDOW, fresh)).toMatchObject({ allowed: true, remaining: 4 })
  })

  it('its alarm keeps a window that is still running', async () => {
    const s = stub('alarm-keep')
    const start = futureWindow()
    await s.hit(5, WINDOW, start)
    await s.hit(5, WINDOW, start + 1)
    expect(await runDurableObjectAlarm(s)).toBe(true)
    expect((await storedWindow(s))?.count).toBe(2)
    expect((await s.hit(5, WINDOW, start + 2)).remaining).toBe(2)
  })
})

/**
 * One RateLimiter object per (route class, subject). It counts requests exactly in fixed windows
 * aligned to the clock (a 60 s window resets on the minute), so every isolate sees the same count
 * and `X-RateLimit-Reset` is the same for all of them. State lives in synchronous SQLite-backed KV,
 * so a `hit` has no await and two hits cannot interleave.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../../env'

export interface RateLimitResult {
  allowed: boolean
  limit: number
  remaining: number
  /** Epoch ms at which the window resets. */
  resetAt: number
  /** Seconds until a refused caller may try again (0 when allowed). */
  retryAfter: number
}

interface Window {
  start: number
  end: number
  count: number
}

export class RateLimiter extends DurableObject<Env> {
  /** The stored window as this object last wrote it (undefined: none stored; null: not read yet). */
  private window: Window | undefined | null = null

  ping(): 'pong' {
    return 'pong'
  }

  hit(limit: number, windowMs: number, now: number = Date.now()): RateLimitResult {
    const start = Math.floor(now / windowMs) * windowMs
    const resetAt = start + windowMs
    // Every hit is stored before it is answered; only the read comes from memory.
    if (this.window === null) this.window = this.ctx.storage.kv.get<Window>('window')
    let w = this.window
    if (!w || w.start !== start) {
      w = { start, end: resetAt, count: 0 }
      // Forget idle subjects: clear storage once this window is over (the latest window's alarm wins).
      void this.ctx.storage.setAlarm(resetAt)
    }
    if (w.count >= limit) {
      return { allowed: false, limit, remaining: 0, resetAt, retryAfter: Math.max(1, Math.ceil((resetAt - now) / 1000)) }
    }
    const counted = { ...w, count: w.count + 1 }
    this.ctx.storage.kv.put('window', counted)
    this.window = counted
    return { allowed: true, limit, remaining: limit - counted.count, resetAt, retryAfter: 0 }
  }

  /**
   * Pacing (messaging connectors): one slot every `intervalMs`, none before `notBefore`. A caller
   * whose slot is at most `maxWaitMs` away takes it (`granted`: send after `waitMs`); a later one
   * takes nothing and is told how long to wait (`granted: false`). A burst is spread, never refused.
   */
  pace(intervalMs: number, maxWaitMs: number, notBefore = 0, now: number = Date.now()): { granted: boolean; waitMs: number } {
    const next = Math.max(now, notBefore, this.ctx.storage.kv.get<number>('next') ?? 0)
    const waitMs = next - now
    if (waitMs > maxWaitMs) return { granted: false, waitMs }
    this.ctx.storage.kv.put('next', next + intervalMs)
    void this.ctx.storage.setAlarm(next + intervalMs + 60_000)
    return { granted: true, waitMs }
  }

  override async alarm(): Promise<void> {
    const w = this.ctx.storage.kv.get<Window>('window')
    const next = this.ctx.storage.kv.get<number>('next')
    if ((!w || Date.now() >= w.end) && (next === undefined || Date.now() >= next)) {
      this.window = null
      await this.ctx.storage.deleteAll()
    }
  }
}

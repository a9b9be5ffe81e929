/**
 * NumberLock — one per E.164 number; guarantees at most one holder at a time (docs/money-and-flows.md).
 *
 * A holder first `reserve`s the number for a while (a purchase in flight, or a client's
 * 30-minute reservation), then either `confirm`s it (bought: held until released) or lets it go
 * (`release`, or the expiry alarm). Each call is synchronous storage work, so concurrent callers
 * are served one after another and only one can win.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../../env'

interface LockState {
  holder: string
  /** Epoch ms; null once confirmed (owned until released). */
  expiresAt: number | null
}

export type LockResult = { ok: true; holder: string; expiresAt: number | null } | { ok: false; reason: 'HELD_BY_ANOTHER' | 'NOT_HELD' }

export class NumberLock extends DurableObject<Env> {
  ping(): 'pong' {
    return 'pong'
  }

  private current(now = Date.now()): LockState | null {
    const s = this.ctx.storage.kv.get<LockState>('lock')
    if (!s) return null
    if (s.expiresAt !== null && s.expiresAt <= now) {
      this.ctx.storage.kv.delete('lock')
      return null
    }
    return s
  }

  /** Takes or renews a timed hold. Refused while another holder has it. A confirmed owner keeps it. */
  reserve(holder: string, ttlMs: number): LockResult {
    const s = this.current()
    if (s && s.holder !== holder) return { ok: false, reason: 'HELD_BY_ANOTHER' }
    if (s && s.expiresAt === null) return { ok: true, holder, expiresAt: null }
    const expiresAt = Date.now() + ttlMs
    this.ctx.storage.kv.put('lock', { holder, expiresAt } satisfies LockState)
    void this.ctx.storage.setAlarm(expiresAt)
    return { ok: true, holder, expiresAt }
  }

  /** Makes a holder's timed hold permanent (the number was bought). */
  confirm(holder: string): LockResult {
    const s = this.current()
    if (!s) return { ok: false, reason: 'NOT_HELD' }
    if (s.holder !== holder) return { ok: false, reason: 'HELD_BY_ANOTHER' }
    this.ctx.storage.kv.put('lock', { holder, expiresAt: null } satisfies LockState)
    void this.ctx.storage.deleteAlarm()
    return { ok: true, holder, expiresAt: null }
  }

  /** Lets the number go. Only its holder can; releasing a free number is a no-op success. */
  release(holder: string): LockResult {
    const s = this.current()
    if (!s) return { ok: true, holder, expiresAt: null }
    if (s.holder !== holder) return { ok: false, reason: 'HELD_BY_ANOTHER' }
    this.ctx.storage.kv.delete('lock')
    void this.ctx.storage.deleteAlarm()
    return { ok: true, holder, expiresAt: null }
  }

  /** Who holds it now (null when free). */
  state(): LockState | null {
    return this.current()
  }

  override async alarm(): Promise<void> {
    this.current()
  }
}

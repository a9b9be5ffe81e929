import type { Env } from '../../env'
import type { RateLimitResult } from './rate-limiter.do'

export class RateLimitService {
  constructor(private readonly ns: Env['RATE_LIMITER']) {}

  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    return this.ns.get(this.ns.idFromName(key)).hit(limit, windowMs)
  }

  /** A pacing slot on `key` (RateLimiter.pace): one every `intervalMs`, none before `notBefore`, taken only when at most `maxWaitMs` away. */
  pace(key: string, intervalMs: number, maxWaitMs: number, notBefore = 0): Promise<{ granted: boolean; waitMs: number }> {
    return this.ns.get(this.ns.idFromName(key)).pace(intervalMs, maxWaitMs, notBefore)
  }
}

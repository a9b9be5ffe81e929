import type { Env } from '../../env'
import type { RateLimitResult } from './rate-limiter.do'

export class RateLimitService {
  constructor(private readonly ns: Env['RATE_LIMITER']) {}

  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    return this.ns.get(this.ns.idFromName(key)).hit(limit, windowMs)
  }
}

/**
 * NumberLock — one per E.164 number; guarantees one holder at a time (DESIGN.md).
 * The foundation declares the binding and answers readiness pings; the numbers-and-money issue
 * adds reserve / confirm / release with alarm expiry.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../../env'

export class NumberLock extends DurableObject<Env> {
  ping(): 'pong' {
    return 'pong'
  }
}

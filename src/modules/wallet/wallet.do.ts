/**
 * Wallet — one per account; the source of truth for money (DESIGN.md "Wallet DO").
 * The foundation declares the binding and answers readiness pings; the numbers-and-money issue
 * adds balance, holds, captures and the ledger.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../../env'

export class Wallet extends DurableObject<Env> {
  ping(): 'pong' {
    return 'pong'
  }
}

/**
 * The Wallet Durable Object seen from the Worker: one object per account, reached by account id.
 * Refusals come back as results; `hold`, `debit` turn INSUFFICIENT_BALANCE into the 400 error.
 */
import type { Env } from '../../env'
import { InsufficientBalance } from '../../lib/errors'
import type { Reference } from './wallet.do'

export class WalletService {
  constructor(private readonly ns: Env['WALLET']) {}

  stub(userId: string) {
    return this.ns.get(this.ns.idFromName(userId))
  }

  balance(userId: string) {
    return this.stub(userId).balance(userId)
  }

  history(userId: string, page: number, limit: number) {
    return this.stub(userId).history(userId, page, limit)
  }

  credit(userId: string, op: { opId: string; amount: number; reference?: Reference; description?: string }) {
    return this.stub(userId).credit(userId, op)
  }

  async debit(userId: string, op: { opId: string; amount: number; reference?: Reference; description?: string }) {
    const r = await this.stub(userId).debit(userId, op)
    if (!r.ok && r.reason === 'INSUFFICIENT_BALANCE') throw new InsufficientBalance(op.amount, r.available ?? 0)
    return r
  }

  /** Reserves money for a flow; the hold's id is `opId`. Throws 400 INSUFFICIENT_BALANCE. */
  async hold(userId: string, op: { opId: string; amount: number; ttlMs: number; reference?: Reference; description?: string }) {
    const r = await this.stub(userId).hold(userId, op)
    if (!r.ok) {
      if (r.reason === 'INSUFFICIENT_BALANCE') throw new InsufficientBalance(op.amount, r.available ?? 0)
      throw new Error(`wallet hold refused: ${r.reason}`)
    }
    return r
  }

  capture(userId: string, op: { opId: string; holdId: string; amount?: number; description?: string }) {
    return this.stub(userId).capture(userId, op)
  }

  void(userId: string, op: { opId: string; holdId: string }) {
    return this.stub(userId).void(userId, op)
  }
}

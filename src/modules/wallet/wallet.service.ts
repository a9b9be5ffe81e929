/**
 * The Wallet Durable Object seen from the Worker: one object per account, reached by account id.
 *
 * One contract: every money operation (`credit`, `debit`, `returnDebit`, `hold`, `capture`, `void`)
 * returns the object's `WalletResult` union and never throws a refusal. A refusal is a result the
 * flows branch on — a purchase answers INSUFFICIENT_BALANCE with a 400, a renewal leaves the
 * month unpaid, an SMS charge is withheld, an invoice payment records a failed attempt — so only the
 * flow knows which refusals are HTTP errors. Throwing in here made half the callers catch the
 * error back into a branch. What does throw is the object being unreachable (RPC errors).
 * `orThrow` is the common case for a flow that cannot go on without the money.
 */
import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { auditLog, users } from '../../db/schema'
import type { Env } from '../../env'
import { sha256Hex } from '../../lib/crypto'
import { AppError, InsufficientBalance, NotFound } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import type { AuditService } from '../audit/audit.service'
import { actingUserId, type RequestContext } from '../../lib/context'
import type { Balance, CaptureOp, Hold, LedgerEntry, Reference, Settled, WalletResult } from './wallet.do'
import { sleep } from '../../lib/concurrency'
import { logger } from '../../lib/logger'

/**
 * Captures deferred past their answers and not sent yet, by account (`captureSoon`). Operations
 * only, never a promise (lib/coalesce.ts says why): whichever request sends them — the account's
 * next hold in this isolate, or the request whose timer (`sending`) wakes — takes all of the
 * account's. One that is never sent (the isolate died) is made by the Wallet's alarm at the hold's
 * expiry, from the purchase's recorded outcome.
 */
const waiting = new Map<string, CaptureOp[]>()

/**
 * Accounts whose waiting captures a request's timer sends when its window ends: when it wakes. The
 * captures of the window's other requests go with it (or with a hold before it): one timer per
 * account and window, not one per capture. A timer cut off with its request is presumed gone
 * SENDER_LEASE_MS after it was due; the next capture then starts one.
 */
const sending = new Map<string, number>()
const SENDER_LEASE_MS = 10_000

function takeWaiting(userId: string): CaptureOp[] {
  const ops = waiting.get(userId)
  if (!ops) return []
  waiting.delete(userId)
  return ops
}

function addWaiting(userId: string, ops: CaptureOp[]) {
  const list = waiting.get(userId)
  if (list) list.push(...ops)
  else waiting.set(userId, [...ops])
}

/** A refusal of a capture sent for another request: logged here, as that request cannot see it. */
function reportRefused(userId: string, settled: Settled[], except?: CaptureOp) {
  for (const r of settled) {
    if (!r.ok && r.opId !== except?.opId) logger.error('wallet: a deferred capture was refused; the alarm settles the hold at its expiry', { module: 'wallet', userId, opId: r.opId, reason: r.reason })
  }
}

export class WalletService {
  constructor(private readonly ns: Env['WALLET']) {}

  stub(userId: string) {
    return this.ns.get(this.ns.idFromName(userId))
  }

  async balance(userId: string): Promise<Balance> {
    return this.stub(userId).balance(userId)
  }

  async history(userId: string, page: number, limit: number): Promise<{ entries: LedgerEntry[]; total: number }> {
    return this.stub(userId).history(userId, page, limit)
  }

  async credit(userId: string, op: { opId: string; amount: number; reference?: Reference; description?: string }): Promise<WalletResult<{ entry: LedgerEntry; balance: Balance }>> {
    return this.stub(userId).credit(userId, op)
  }

  /** Gives the debit `debitOpId` back once, if it was made; cancels it for good otherwise (wallet.do.ts). */
  async returnDebit(userId: string, op: { opId: string; debitOpId: string; reference?: Reference; description?: string }): Promise<WalletResult<{ entry: LedgerEntry | null; balance: Balance }>> {
    return this.stub(userId).returnDebit(userId, op)
  }

  async debit(userId: string, op: { opId: string; amount: number; reference?: Reference; description?: string }): Promise<WalletResult<{ entry: LedgerEntry; balance: Balance }>> {
    return this.stub(userId).debit(userId, op)
  }

  /**
   * Reserves money for a flow; the hold's id is `opId`. Carries the account's captures waiting in
   * this isolate (`captureSoon`): they are made before the hold, in the same call.
   */
  async hold(userId: string, op: { opId: string; amount: number; ttlMs: number; reference?: Reference; description?: string }): Promise<WalletResult<{ hold: Hold; balance: Balance }>> {
    const carried = takeWaiting(userId)
    if (!carried.length) return this.stub(userId).hold(userId, op)
    let r: { hold: WalletResult<{ hold: Hold; balance: Balance }>; captures: Settled[] }
    try {
      r = await this.stub(userId).holdCarrying(userId, op, carried)
    } catch (e) {
      // The hold is asked for again on its own (a hold is made once per operation id, so one made
      // by the failed call is replayed), and the captures are not carried again: whatever made the
      // call fail must not fail the account's every hold. The Wallet's alarm settles their holds at
      // expiry from the recorded outcomes.
      logger.error('wallet: a hold carrying captures failed; the alarm settles the carried holds', {
        module: 'wallet',
        userId,
        captures: carried.map((c) => c.opId),
        error: (e as Error).message,
      })
      return this.stub(userId).hold(userId, op)
    }
    reportRefused(userId, r.captures)
    return r.hold
  }

  /**
   * A capture that may wait `windowMs` (lib/deferral.ts) to go with the account's next hold in
   * this isolate, or with the account's other waiting captures. Resolves to its own outcome when
   * this call sent it; null when another call carried it or will send it (that call logs a
   * refusal) — at once when another request's timer already waits for the account. 0: at once.
   */
  async captureSoon(userId: string, op: CaptureOp, windowMs: number): Promise<Settled | null> {
    if (windowMs <= 0) {
      const r = await this.capture(userId, op)
      return r.ok ? { opId: op.opId, ok: true } : { opId: op.opId, ok: false, reason: r.reason }
    }
    addWaiting(userId, [op])
    const now = Date.now()
    const due = sending.get(userId)
    if (due !== undefined && now < due + SENDER_LEASE_MS) return null
    const mine = now + windowMs
    sending.set(userId, mine)
    await sleep(windowMs)
    if (sending.get(userId) === mine) sending.delete(userId)
    const ops = takeWaiting(userId)
    if (!ops.length) return null
    let settled: Settled[]
    try {
      settled = await this.stub(userId).captureMany(userId, ops)
    } catch (e) {
      addWaiting(userId, ops)
      throw e
    }
    reportRefused(userId, settled, op)
    return settled.find((r) => r.opId === op.opId) ?? null
  }

  async capture(userId: string, op: { opId: string; holdId: string; amount?: number; description?: string }): Promise<WalletResult<{ entry: LedgerEntry | null; hold: Hold; balance: Balance }>> {
    return this.stub(userId).capture(userId, op)
  }

  async void(userId: string, op: { opId: string; holdId: string }): Promise<WalletResult<{ hold: Hold; balance: Balance }>> {
    return this.stub(userId).void(userId, op)
  }
}

/**
 * The success of a wallet operation a flow cannot go without, or the refusal as an error:
 * INSUFFICIENT_BALANCE is the client's 400 (`amount` required, what is available); any other
 * refusal (INVALID_AMOUNT and the like) is the caller's arithmetic, not the client's input: a 500
 * with `message` and the reason.
 */
export function orThrow<T>(r: WalletResult<T>, amount: number, message: string): Extract<WalletResult<T>, { ok: true }> {
  if (r.ok) return r as Extract<WalletResult<T>, { ok: true }>
  if (r.reason === 'INSUFFICIENT_BALANCE') throw new InsufficientBalance(amount, r.available ?? 0)
  throw new AppError(500, 'INTERNAL_ERROR', message, { reason: r.reason })
}

export interface TopUpInput {
  userId: string
  /** Micro-units, > 0. */
  amount: number
  reason: string
  /** The request's Idempotency-Key, when it has one. */
  idempotencyKey?: string
}

/**
 * An admin credits a user's wallet (POST /api/wallet/topup).
 *
 * The credit and its audit entry cannot share a D1 batch (the money lives in the Wallet object),
 * so the credit goes first and the audit entry second. A failure between them leaves money
 * credited without its entry — and the retry with the same Idempotency-Key derives the same
 * operation id, so the Wallet replays the credit (no second credit) and the missing entry is
 * written then. Auditing first would instead leave entries for money that never moved.
 * Without an Idempotency-Key every call is a new credit.
 */
export async function topUp(deps: { db: Db; audit: AuditService; wallet: WalletService }, ctx: RequestContext, input: TopUpInput) {
  const { db, audit, wallet } = deps
  const user = await db.select({ id: users.id }).from(users).where(eq(users.id, input.userId)).get()
  if (!user) throw new NotFound('User')

  // The same admin, key and request → the same operation (also after the 24 h of the key's record).
  const opId = input.idempotencyKey ? `topup_${(await sha256Hex([actingUserId(ctx), input.idempotencyKey, input.userId, input.amount, input.reason].join('\n'))).slice(0, 40)}` : newId('topup')
  const r = await wallet.credit(input.userId, { opId, amount: input.amount, description: `Top-up: ${input.reason}` })
  if (!r.ok) throw new AppError(500, 'INTERNAL_ERROR', 'The credit could not be booked', { reason: r.reason })

  const details = { amount: fromMicros(input.amount), amountMicros: input.amount, reason: input.reason, entryId: r.entry.id }
  const audited =
    r.replayed &&
    (await db
      .select({ id: auditLog.id })
      .from(auditLog)
      .where(and(eq(auditLog.action, 'wallet.topup'), eq(auditLog.targetType, 'user'), eq(auditLog.targetId, input.userId), sql`json_extract(${auditLog.details}, '$.entryId') = ${r.entry.id}`))
      .get())
  if (!audited) await audit.entry(ctx, 'wallet.topup', 'user', input.userId, details)
  return { entry: r.entry, balance: r.balance }
}

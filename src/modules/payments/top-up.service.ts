/**
 * Wallet top-up paid by a payment method.
 *
 * Steps, each safe to repeat:
 *   1. The attempt is recorded as a `payments` row (`wallet_topup`, `pending`) under its
 *      attemptKey: derived from the account and the request's Idempotency-Key when there is one
 *      (a retry finds the same row), else a new id.
 *   2. The method is charged with the attemptKey as the processor's idempotency key (a retry
 *      gets the first charge's result, never a second charge).
 *   3. On success the wallet is credited with opId `topup_pay_<paymentId>`: a retry after a crash
 *      between charge and credit replays the credit instead of crediting twice.
 *   4. One batch marks the row `succeeded` (or `failed` with the reason) and writes
 *      `PAYMENT_SUCCEEDED` (or `PAYMENT_FAILED`) into the outbox; the event is guarded by the row
 *      still being `pending`, so it is written once.
 * A processor that cannot be reached leaves the row `pending` and answers 502: retrying with the
 * same Idempotency-Key finishes it (the processor replays its answer for the same key).
 */
import { STALE_CLAIM_MS } from '../../providers/payments/types'
import { newEventId } from '../events/outbox'
import { and, eq, sql } from 'drizzle-orm'
import { outbox, paymentMethods, payments } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import { AppError, NotFound } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import type { Db } from '../../db/client'
import type { WalletService } from '../wallet/wallet.service'
import { runBatch } from '../../db/batch'
import { insertWhere } from '../../db/insert-where'
import type { Balance } from '../wallet/wallet.do'
import type { PaymentMethodsService, PaymentMethodRow, DetailedCharge } from './payment-methods.service'
import { paymentView } from './schemas'
import { isAutoTopUp } from './auto-top-up-key'
import type { RequestContext } from '../../lib/context'

export type PaymentRow = typeof payments.$inferSelect

export interface TopUpInput {
  /** Micro-units, whole cents. */
  amount: number
  paymentMethodId?: string
  /** The request's Idempotency-Key, when it has one. */
  idempotencyKey?: string
  /**
   * The attempt's key chosen by the platform or the caller instead of one derived from
   * idempotencyKey (the automatic top-up's, per account and day; an order paid by card derives it
   * from the order or its request): the same key finds the same payment.
   */
  attemptKey?: string
}

export class TopUpService {
  private readonly methods: PaymentMethodsService

  constructor(private readonly deps: { db: Db; wallet: Pick<WalletService, 'credit'>; methods: PaymentMethodsService }) {
    this.methods = deps.methods
  }

  private get db() {
    return this.deps.db
  }

  /** The attempt's natural key: the same account and Idempotency-Key give the same key. */
  static async attemptKey(userId: string, idempotencyKey?: string): Promise<string> {
    if (!idempotencyKey) return newId('topup')
    return `topup_${(await sha256Hex(`${userId}\n${idempotencyKey}`)).slice(0, 48)}`
  }

  async topUp(ctx: RequestContext, input: TopUpInput): Promise<{ payment: PaymentRow; balance: Balance }> {
    const userId = ctx.accountId
    const attemptKey = input.attemptKey ?? (await TopUpService.attemptKey(userId, input.idempotencyKey))
    const attempt = await this.attempt(userId, attemptKey, input)
    const { payment, balance, charged } = await this.finish(attempt.payment, attempt.method)
    if (payment.status === 'failed') throw paymentFailed(payment, charged?.code, charged?.declineCode)
    if (payment.status !== 'succeeded') throw new AppError(409, 'CONFLICT', `The payment is ${payment.status}`, { paymentId: payment.id })
    // A retry of a finished top-up replays the credit (same opId): the balance, nothing moved twice.
    return { payment, balance: balance ?? (await this.credit(payment, attempt.method)) }
  }

  /**
   * Pays at least `amount` for one request under `attemptKey`, for a request that may come again
   * with another amount: an order paid by card whose retry (same Idempotency-Key, after a 5xx)
   * finds a different total because a number was sold or became free meanwhile. The payments
   * already made for it — under `attemptKey`, then `<attemptKey>_2`, `_3`, … — are finished or
   * replayed as they were first asked (same amount: the processor answers with the first charge,
   * the credit replays), and only when they come to less than `amount` is the difference charged,
   * under the next derived key. So a retry never charges twice and never answers 422 for a changed
   * amount; what was paid beyond `amount` stays in the wallet. An earlier declined payment is
   * declined again (402), as a retry of the same amount would be; another payment method than the
   * first attempt's is still a different request (422).
   */
  async topUpAtLeast(ctx: RequestContext, input: { amount: number; paymentMethodId?: string; attemptKey: string }): Promise<{ paid: number; payments: PaymentRow[] }> {
    const userId = ctx.accountId
    const made: PaymentRow[] = []
    let paid = 0
    for (let n = 1; ; n++) {
      const attemptKey = n === 1 ? input.attemptKey : `${input.attemptKey}_${n}`
      const earlier = await this.db
        .select()
        .from(payments)
        .where(and(eq(payments.attemptKey, attemptKey), eq(payments.userId, userId)))
        .get()
      if (!earlier && paid >= input.amount) return { paid, payments: made }
      const { payment } = await this.topUp(ctx, { amount: earlier ? earlier.amount : input.amount - paid, paymentMethodId: input.paymentMethodId, attemptKey })
      made.push(payment)
      paid += payment.amount
      if (!earlier) return { paid, payments: made }
    }
  }

  /**
   * Finishes a pending top-up found by the sweeper (its client never came back): the same key and
   * method, so the processor answers with the first charge and the credit replays. The status it ends in.
   */
  async resume(pending: PaymentRow): Promise<PaymentRow['status']> {
    const method = await this.db
      .select()
      .from(paymentMethods)
      .where(and(eq(paymentMethods.userId, pending.userId), eq(paymentMethods.id, pending.paymentMethodId ?? '')))
      .get()
    if (!method) return pending.status
    const { payment } = await this.finish(pending, method)
    if (payment.status === 'succeeded') await this.credit(payment, method)
    return payment.status
  }

  /** Charges a pending attempt (same key: a repeat answers the first charge), credits it and records the outcome once. */
  private async finish(payment: PaymentRow, method: PaymentMethodRow): Promise<{ payment: PaymentRow; balance?: Balance; charged?: DetailedCharge }> {
    if (payment.status !== 'pending') return { payment }
    // Processors forget idempotency keys after about a day: an old attempt is not sent again (it could charge twice).
    if (Date.now() - payment.createdAt.getTime() > STALE_CLAIM_MS) {
      throw new AppError(409, 'PAYMENT_UNDER_REVIEW', 'This top-up did not finish and is too old to retry safely; it is being reviewed', { paymentId: payment.id })
    }
    const charged = await this.methods.chargeDetailed(
      payment.userId,
      { amount: payment.amount, currency: payment.currency, attemptKey: payment.attemptKey, description: `Wallet top-up ${payment.id}` },
      method,
    )
    const now = new Date()
    const stillPending = sql`exists (select 1 from ${payments} where ${and(eq(payments.id, payment.id), eq(payments.status, 'pending'))})`
    const pendingRow = and(eq(payments.id, payment.id), eq(payments.status, 'pending'))
    let balance: Balance | undefined
    if (charged.result.ok) {
      balance = await this.credit(payment, method)
      await runBatch(this.db, [
        insertWhere(this.db, outbox, event('PAYMENT_SUCCEEDED', payment, method, now), stillPending),
        this.db.update(payments).set({ status: 'succeeded', processorRef: charged.result.processorRef, processedAt: now, updatedAt: now }).where(pendingRow),
      ])
    } else {
      const failureReason = charged.result.failureReason
      await runBatch(this.db, [
        insertWhere(this.db, outbox, event('PAYMENT_FAILED', payment, method, now, failureReason), stillPending),
        this.db.update(payments).set({ status: 'failed', failureReason, processedAt: now, updatedAt: now }).where(pendingRow),
      ])
    }
    const after = (await this.db.select().from(payments).where(eq(payments.id, payment.id)).get())!
    return { payment: after, balance, charged }
  }

  /** The attempt's row (created `pending` on first sight) and the method it charges. */
  private async attempt(userId: string, attemptKey: string, input: TopUpInput): Promise<{ payment: PaymentRow; method: PaymentMethodRow }> {
    const byKey = and(eq(payments.attemptKey, attemptKey), eq(payments.userId, userId))
    const existing = await this.db.select().from(payments).where(byKey).get()
    if (existing) {
      if (existing.amount !== input.amount || (input.paymentMethodId !== undefined && input.paymentMethodId !== existing.paymentMethodId)) {
        throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different top-up; use a new key for a new request', {
          paymentId: existing.id,
        })
      }
      // The first attempt's method, even if it was deleted since: the retry finishes that attempt.
      const method = await this.db
        .select()
        .from(paymentMethods)
        .where(and(eq(paymentMethods.userId, userId), eq(paymentMethods.id, existing.paymentMethodId ?? '')))
        .get()
      if (!method) throw new NotFound('Payment method')
      return { payment: existing, method }
    }
    const method = await this.methods.resolve(userId, input.paymentMethodId)
    const now = new Date()
    await this.db
      .insert(payments)
      .values({
        id: newId('pay', now.getTime()),
        userId,
        purpose: 'wallet_topup',
        amount: input.amount,
        currency: 'USD',
        status: 'pending',
        processor: method.processor,
        paymentMethodId: method.id,
        attemptKey,
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoNothing({ target: payments.attemptKey })
      .run()
    const payment = await this.db.select().from(payments).where(byKey).get()
    if (!payment) throw new AppError(500, 'INTERNAL_ERROR', 'The payment could not be recorded')
    return { payment, method }
  }

  private async credit(payment: PaymentRow, method: PaymentMethodRow): Promise<Balance> {
    const what = method.last4 ? `${method.brand ?? method.bankName ?? method.type} •••• ${method.last4}` : method.type
    const r = await this.deps.wallet.credit(payment.userId, {
      opId: `topup_pay_${payment.id}`,
      amount: payment.amount,
      reference: { type: 'payment', id: payment.id },
      description: `${isAutoTopUp(payment) ? 'Automatic top-up' : 'Top-up'} by ${what}`,
    })
    if (!r.ok) throw new AppError(500, 'INTERNAL_ERROR', 'The credit could not be booked', { reason: r.reason, paymentId: payment.id })
    return r.balance
  }
}

/** The data of the DID API's PAYMENT_SUCCEEDED / PAYMENT_FAILED events. */
function event(type: 'PAYMENT_SUCCEEDED' | 'PAYMENT_FAILED', p: PaymentRow, m: PaymentMethodRow, now: Date, failureReason?: string) {
  const data: Record<string, unknown> = {
    paymentId: p.id,
    purpose: p.purpose,
    amount: fromMicros(p.amount),
    currency: p.currency,
    status: type === 'PAYMENT_SUCCEEDED' ? 'succeeded' : 'failed',
    paymentMethod: m.id,
    processor: m.processor,
  }
  if (failureReason) data.failureReason = failureReason
  if (isAutoTopUp(p)) data.autoTopUp = true
  return { id: newEventId(now), type, userId: p.userId, payload: data, createdAt: now }
}

function paymentFailed(p: PaymentRow, code?: string, declineCode?: string): AppError {
  return new AppError(402, 'PAYMENT_FAILED', `The payment was declined: ${p.failureReason ?? 'declined'}`, {
    paymentId: p.id,
    paymentMethodId: p.paymentMethodId,
    failureReason: p.failureReason,
    ...(code ? { code } : {}),
    ...(declineCode ? { declineCode } : {}),
    payment: paymentView(p),
  })
}

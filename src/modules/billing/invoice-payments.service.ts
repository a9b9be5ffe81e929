/**
 * Paying an invoice (POST /api/v1/billing/invoices/:id/pay), from the wallet or a saved
 * payment method, in full or in part.
 *
 * Invariants:
 * - `payment_seq` is a compare-and-set claim. A payment reads the invoice at seq N and moves money
 *   under the natural key `invpay_<invoice>_<N+1>` (the wallet's opId, the processor's
 *   idempotency key). Every seq bump comes with the payment row of that key (declines too).
 * - Claim first, then move money: the key is claimed by inserting a `pending` payment row (unique
 *   attempt key), and only then is the wallet debited or the card charged. So money never moves
 *   under a key that no row records — a crash after the debit or charge leaves the claim pending,
 *   and the next attempt on the invoice settles it (a wallet debit under the same opId replays;
 *   a processor answers the same key with the same charge) before anything else can be paid.
 * - The claim is settled by one batch guarded by "the row is still pending": the invoice's
 *   compare-and-set, the events, the row's final status. Whoever settles it (the claimant, a
 *   double submit, a retry after a crash) lands at most once.
 * - A card claim older than `STALE_CLAIM_MS` is not sent to the processor again: processors keep
 *   idempotency keys about a day, after which the same key would charge anew. It answers 409
 *   `PAYMENT_UNDER_REVIEW` until someone settles it by hand. A wallet claim never goes stale (the
 *   wallet keeps its operation ids).
 * - A wallet payment checks the available balance before claiming, so a wallet that cannot pay
 *   is refused (400 INSUFFICIENT_BALANCE) with nothing recorded; if the balance fell in between,
 *   the claim settles as failed and the answer is the same 400.
 */
import { STALE_CLAIM_MS } from '../../providers/payments/types'
import { and, eq, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { invoices, outbox, payments } from '../../db/schema'
import { AppError, Conflict, InsufficientBalance, NotFound, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros, toMicros } from '../../lib/money'
import { runBatch, type Stmt } from '../../db/batch'
import { outboxInsert, newEventId } from '../events/outbox'
import type { ChargeInput, ChargeResult } from '../payments/payment-methods.service'
import { insertWhere } from '../../db/insert-where'
import type { WalletService } from '../wallet/wallet.service'
import { CENT } from './invoice-compose'
import type { PayInvoiceBody } from './schemas'
import { amountDue, usageInvoiceView, summaryView, type Invoice, type Payment } from './invoice-views'
import type { RequestContext } from '../../lib/context'

/** PaymentMethodsService.chargeRecorded: idempotent by `attemptKey`, writes nothing; the method may have been deleted since the claim. */
export type Charge = (userId: string, input: ChargeInput & { paymentMethodId: string }) => Promise<ChargeResult>

export interface InvoicePaymentsDeps {
  db: Db
  wallet: WalletService
  /** The account's live payment method (throws 404 for an unknown, foreign or deleted one). */
  method: (userId: string, id: string) => Promise<{ id: string; processor: string }>
  /** Charges the claim's payment method (PaymentMethodsService.chargeRecorded). */
  charge: Charge
}

export const WALLET = 'wallet'

/** A payment of an invoice that went through, and the invoice after it. */
export interface InvoicePaid {
  payment: Payment
  invoice: Invoice
}

interface Outcome {
  status: 'succeeded' | 'failed'
  amount: number
  processor: string
  paymentMethodId: string
  processorRef: string | null
  failureReason: string | null
}

export class InvoicePaymentsService {
  constructor(private readonly deps: InvoicePaymentsDeps) {}

  private get db() {
    return this.deps.db
  }

  private invoice(userId: string, id: string) {
    return this.db
      .select()
      .from(invoices)
      .where(and(eq(invoices.id, id), eq(invoices.userId, userId)))
      .get()
  }

  private paymentByKey(attemptKey: string) {
    return this.db.select().from(payments).where(eq(payments.attemptKey, attemptKey)).get()
  }

  async pay(ctx: RequestContext, invoiceId: string, body: PayInvoiceBody, now = new Date()): Promise<InvoicePaid> {
    const userId = ctx.accountId
    const inv = await this.invoice(userId, invoiceId)
    if (!inv) throw new NotFound('Invoice')
    const due = amountDue(inv)
    if (inv.status === 'paid' || inv.status === 'void' || inv.status === 'draft' || due <= 0) {
      throw new Conflict('INVOICE_NOT_PAYABLE', `The invoice is ${inv.status === 'draft' || inv.status === 'void' ? inv.status : 'paid'}; nothing is due`, {
        status: inv.status,
        amountDue: fromMicros(due),
      })
    }
    const amount = body.amount === undefined ? due : toMicros(body.amount)
    if (amount <= 0 || amount % CENT !== 0) throw ValidationError.field('amount', 'amount must be a positive amount in whole cents')
    if (amount > due) {
      throw new ValidationError(`amount exceeds the amount due (${fromMicros(due)})`, [{ field: 'amount', message: `At most ${fromMicros(due)} is due`, value: body.amount }])
    }

    const method = body.paymentMethodId ?? WALLET
    const attemptKey = `invpay_${inv.id}_${inv.paymentSeq + 1}`
    // Our read is stale (a payment took this seq already) or a claim waits to be settled.
    const prior = await this.paymentByKey(attemptKey)
    if (prior) return this.afterOther(userId, inv, prior, amount, method)
    let m: { id: string; processor: string }
    if (method === WALLET) {
      const { available } = await this.deps.wallet.balance(userId)
      if (available < amount) throw new InsufficientBalance(amount, available)
      m = { id: WALLET, processor: WALLET }
    } else m = await this.deps.method(userId, method)
    const claim = paymentRow(userId, inv, attemptKey, { status: 'succeeded', amount, processor: m.processor, paymentMethodId: m.id, processorRef: null, failureReason: null }, now)
    claim.status = 'pending'
    claim.processedAt = null
    try {
      await this.db.insert(payments).values(claim).run()
    } catch (e) {
      const other = await this.paymentByKey(attemptKey)
      if (!other) throw e
      return this.afterOther(userId, inv, other, amount, m.id)
    }
    return this.settleClaim(userId, inv, claim, now)
  }

  /**
   * Settles a pending claim found by the sweeper (its payer never came back): moved under the same
   * key, so nothing moves twice. The status it ends in.
   */
  async resume(claim: Payment, now = new Date()): Promise<Payment['status']> {
    const inv = claim.invoiceId ? await this.invoice(claim.userId, claim.invoiceId) : undefined
    if (!inv) return claim.status
    try {
      await this.settleClaim(claim.userId, inv, claim, now)
    } catch (e) {
      // A decline or an empty wallet is recorded by the settlement itself; anything else waits for the next run.
      if (!(e instanceof AppError && (e.code === 'PAYMENT_FAILED' || e.code === 'INSUFFICIENT_BALANCE'))) throw e
    }
    return (await this.paymentByKey(claim.attemptKey))?.status ?? claim.status
  }

  // ---- settling a claim ---------------------------------------------------------------------

  /** Moves a pending claim's money (again, for a claim found pending: same key, so no second move) and records the outcome once. */
  private async settleClaim(userId: string, inv: Invoice, claim: Payment, now: Date): Promise<InvoicePaid> {
    const outcome = claim.processor === WALLET ? await this.debitWallet(userId, inv, claim) : await this.chargeMethod(userId, inv, claim, now)
    const stillPending = sql`exists (select 1 from payments p where p.attempt_key = ${claim.attemptKey} and p.status = 'pending')`
    const { stmts, after } = this.settlement(userId, inv, claim, outcome, now, stillPending)
    const settle = this.db
      .update(payments)
      .set({ status: outcome.status, processor: outcome.processor, processorRef: outcome.processorRef, failureReason: outcome.failureReason, processedAt: now, updatedAt: now })
      .where(and(eq(payments.attemptKey, claim.attemptKey), eq(payments.status, 'pending')))
    // The guarded statements first: the last one ends the claim.
    const results = await runBatch(this.db, [...stmts, settle])
    const settledHere = ((results.at(-1) as D1Result | undefined)?.meta.changes ?? 0) > 0
    if (!settledHere) {
      // Another request settled this claim first; its record stands.
      const settled = (await this.paymentByKey(claim.attemptKey))!
      if (settled.status === 'failed') throw declined(settled)
      return { payment: settled, invoice: (await this.invoice(userId, inv.id)) ?? after }
    }
    const row: Payment = { ...claim, status: outcome.status, processor: outcome.processor, processorRef: outcome.processorRef, failureReason: outcome.failureReason, processedAt: now, updatedAt: now }
    if (outcome.status === 'failed') throw declined(row)
    return { payment: row, invoice: after }
  }

  /** The wallet side of a claim: a debit under the claim's key (a replay when it was made before). */
  private async debitWallet(userId: string, inv: Invoice, claim: Payment): Promise<Outcome> {
    const base = { amount: claim.amount, processor: WALLET, paymentMethodId: WALLET }
    const r = await this.deps.wallet.debit(userId, { opId: claim.attemptKey, amount: claim.amount, reference: { type: 'invoice', id: inv.id }, description: `Invoice ${inv.invoiceNumber}` })
    if (!r.ok && r.reason === 'INSUFFICIENT_BALANCE') return { ...base, status: 'failed', processorRef: null, failureReason: 'INSUFFICIENT_BALANCE' }
    if (!r.ok) throw new AppError(500, 'INTERNAL_ERROR', 'The wallet payment could not be booked', { reason: r.reason })
    // A replay answers the first debit under this key: record what actually moved.
    return { ...base, amount: -r.entry.amount, status: 'succeeded', processorRef: r.entry.id, failureReason: null }
  }

  /** The card side of a claim: a charge under the claim's key, unless the key is too old to be safe to send again. */
  private async chargeMethod(userId: string, inv: Invoice, claim: Payment, now: Date): Promise<Outcome> {
    if (now.getTime() - claim.createdAt.getTime() > STALE_CLAIM_MS) {
      throw new Conflict('PAYMENT_UNDER_REVIEW', 'An earlier payment of this invoice did not finish and is too old to retry safely; it is being reviewed', {
        paymentId: claim.id,
        invoiceId: inv.id,
      })
    }
    const r = await this.deps.charge(userId, {
      paymentMethodId: claim.paymentMethodId ?? '',
      amount: claim.amount,
      currency: claim.currency,
      attemptKey: claim.attemptKey,
      description: `Invoice ${inv.invoiceNumber}`,
    })
    return r.ok
      ? { status: 'succeeded', amount: claim.amount, processor: r.processor, paymentMethodId: r.paymentMethodId, processorRef: r.processorRef, failureReason: null }
      : { status: 'failed', amount: claim.amount, processor: r.processor, paymentMethodId: r.paymentMethodId, processorRef: null, failureReason: r.failureReason }
  }

  // ---- shared -------------------------------------------------------------------------------

  /**
   * The invoice's compare-and-set and the events of a payment outcome. With `guard`, every
   * statement applies only while it holds (a claim still pending).
   */
  private settlement(userId: string, inv: Invoice, row: Payment, outcome: Outcome, now: Date, guard: SQL | null) {
    const succeeded = outcome.status === 'succeeded'
    const paidNow = succeeded && inv.amountPaid + outcome.amount >= inv.total
    const after: Invoice = succeeded
      ? {
          ...inv,
          amountPaid: inv.amountPaid + outcome.amount,
          paymentSeq: inv.paymentSeq + 1,
          status: paidNow ? 'paid' : inv.status === 'overdue' ? 'overdue' : 'partially_paid',
          paidAt: paidNow ? now : inv.paidAt,
          updatedAt: now,
        }
      : { ...inv, paymentSeq: inv.paymentSeq + 1 }
    const data = {
      paymentId: row.id,
      invoiceId: inv.id,
      amount: fromMicros(outcome.amount),
      currency: inv.currency,
      status: outcome.status,
      paymentMethod: outcome.paymentMethodId,
      ...(outcome.failureReason ? { failureReason: outcome.failureReason } : {}),
    }
    const events: { type: string; data: Record<string, unknown> }[] = [{ type: succeeded ? 'PAYMENT_SUCCEEDED' : 'PAYMENT_FAILED', data }]
    if (paidNow) events.push({ type: 'invoice.paid', data: usageInvoiceView(after) })

    const cas = and(eq(invoices.id, inv.id), eq(invoices.userId, userId), eq(invoices.paymentSeq, inv.paymentSeq), guard ?? undefined)
    const seqUnchanged = sql`exists (select 1 from invoices i where i.id = ${inv.id} and i.payment_seq = ${inv.paymentSeq})`
    const stmts: Stmt[] = events.map((e) =>
      guard
        ? insertWhere(this.db, outbox, { id: newEventId(now), type: e.type, userId, payload: e.data, createdAt: now }, and(guard, seqUnchanged)!)
        : outboxInsert(this.db, { type: e.type, userId, data: e.data }, now),
    )
    if (succeeded) {
      const newPaid = sql`${invoices.amountPaid} + ${outcome.amount}`
      stmts.push(
        this.db
          .update(invoices)
          .set({
            amountPaid: newPaid,
            paymentSeq: sql`${invoices.paymentSeq} + 1`,
            // Decided in SQL, so an overdue mark that landed since our read is kept.
            status: sql`case when ${newPaid} >= ${invoices.total} then 'paid' when ${invoices.status} = 'overdue' then 'overdue' else 'partially_paid' end`,
            paidAt: sql`case when ${newPaid} >= ${invoices.total} then ${now.getTime()} else ${invoices.paidAt} end`,
            updatedAt: now,
          })
          .where(cas),
      )
    } else {
      // A decline changes nothing on the invoice but the seq, so the next attempt is a new attempt upstream.
      stmts.push(
        this.db
          .update(invoices)
          .set({ paymentSeq: sql`${invoices.paymentSeq} + 1` })
          .where(cas),
      )
    }
    return { stmts, after }
  }

  /**
   * Another payment holds this invoice's next key: settle it if it is a pending claim, then answer
   * with it when it was the same payment (same method and amount: a double submit or a retry) and
   * 409 otherwise.
   */
  private async afterOther(userId: string, read: Invoice, other: Payment, amount: number, method: string): Promise<InvoicePaid> {
    let final = other
    if (other.status === 'pending') {
      try {
        await this.settleClaim(userId, read, other, new Date())
      } catch (e) {
        if (!(e instanceof AppError && e.code === 'PAYMENT_FAILED')) throw e
      }
      final = (await this.paymentByKey(other.attemptKey)) ?? other
    }
    const current = (await this.invoice(userId, read.id)) ?? read
    const sameMethod = method === WALLET ? final.processor === WALLET : final.paymentMethodId === method
    if (sameMethod && final.amount === amount) {
      if (final.status === 'succeeded') return { payment: final, invoice: current }
      if (final.status === 'failed') throw declined(final)
    }
    throw new Conflict('PAYMENT_CONFLICT', 'Another payment of this invoice came first; read the invoice and pay what is still due', {
      invoice: summaryView(current),
    })
  }
}

function paymentRow(userId: string, inv: Invoice, attemptKey: string, o: Outcome, now: Date): Payment {
  return {
    id: newId('pay', now.getTime()),
    userId,
    purpose: 'invoice',
    invoiceId: inv.id,
    amount: o.amount,
    currency: inv.currency,
    status: o.status,
    processor: o.processor,
    paymentMethodId: o.paymentMethodId,
    processorRef: o.processorRef,
    failureReason: o.failureReason,
    attemptKey,
    resumeAttempts: 0,
    resumeAfter: null,
    processedAt: now,
    createdAt: now,
    updatedAt: now,
  }
}

function declined(p: Pick<Payment, 'failureReason' | 'processor' | 'paymentMethodId' | 'id' | 'amount'>) {
  if (p.processor === WALLET) {
    return new AppError(400, 'INSUFFICIENT_BALANCE', 'The wallet cannot pay this amount', { paymentId: p.id, required: fromMicros(p.amount) })
  }
  return new AppError(402, 'PAYMENT_FAILED', `The payment was declined: ${p.failureReason ?? 'unknown reason'}`, {
    paymentId: p.id,
    failureReason: p.failureReason,
    processor: p.processor,
    paymentMethodId: p.paymentMethodId,
  })
}

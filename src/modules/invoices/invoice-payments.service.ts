/**
 * Paying an invoice (seed 001 POST /api/v1/billing/invoices/:id/pay), from the wallet or a saved
 * payment method, in full or in part.
 *
 * Invariants:
 * - `payment_seq` is a compare-and-set claim. A payment reads the invoice at seq N and moves money
 *   under the natural key `invpay_<invoice>_<N+1>` (the wallet's opId, the processor's
 *   idempotency key); the batch that records it writes the payment row (attempt key unique),
 *   `UPDATE invoices … WHERE payment_seq = N` and its events together. Every seq bump comes with
 *   the payment row of that key (declines too), so a row with key N+1 exists once seq ≥ N+1: a
 *   writer that lost the race fails on the unique key and its whole batch rolls back.
 * - Wallet: the debit comes first, then the batch. Two wallet payers with the same seq share one
 *   opId, so the second debit is a replay of the first. The amount recorded is what the wallet
 *   actually debited (a replay returns the first caller's amount); a caller whose own amount
 *   differs gets 409. A crash between debit and batch heals on retry: the invoice still says seq
 *   N, the key is the same, the wallet replays, and the batch lands.
 * - Payment method: the key is claimed first (a `pending` payment row), and only the claimant
 *   charges, so a card is never charged for a payment that cannot be recorded. The claim is then
 *   settled by one batch guarded by "the row is still pending": the invoice's compare-and-set,
 *   the events, the row's final status. Whoever finds a pending claim (a double submit, a retry
 *   after a crash) settles it again with the claim's own method and amount — the processor
 *   answers the same key with the same charge — and the guards let only one settlement land.
 * - A wallet debit that loses to a claimed card payment under the same key is credited back
 *   (`<key>_returned`): money leaves the wallet only for a recorded payment.
 * - A claim stays pending while its processor cannot be reached; further payments of that invoice
 *   wait for it (each attempt tries to settle it first).
 */
import { and, eq, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { invoices, outbox, payments } from '../../db/schema'
import { AppError, Conflict, NotFound, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros, toMicros } from '../../lib/money'
import { runBatch, type Stmt } from '../dids/batch'
import { outboxInsert, newEventId } from '../events/outbox'
import type { ChargeInput, ChargeResult } from '../payments/payment-methods.service'
import { insertWhere } from '../../db/insert-where'
import type { WalletService } from '../wallet/wallet.service'
import { CENT } from './compose'
import type { PayInvoiceBody } from './schemas'
import { amountDue, paymentView, seed003View, summaryView, type Invoice, type Payment } from './views'

/** PaymentMethodsService.charge: idempotent by `attemptKey`, writes nothing. */
export type Charge = (userId: string, input: ChargeInput) => Promise<ChargeResult>

export interface InvoicePaymentsDeps {
  db: Db
  wallet: WalletService
  /** The account's live payment method (throws 404 for an unknown, foreign or deleted one). */
  method: (userId: string, id: string) => Promise<{ id: string; processor: string }>
  /** Charges a saved payment method (PaymentMethodsService.charge). */
  charge: Charge
}

export const WALLET = 'wallet'

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
    return this.db.select().from(invoices).where(and(eq(invoices.id, id), eq(invoices.userId, userId))).get()
  }

  private paymentByKey(attemptKey: string) {
    return this.db.select().from(payments).where(eq(payments.attemptKey, attemptKey)).get()
  }

  async pay(userId: string, invoiceId: string, body: PayInvoiceBody, now = new Date()) {
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
    if (prior) return this.afterOther(userId, inv, prior, null, amount, method)
    return method === WALLET ? this.payFromWallet(userId, inv, amount, attemptKey, now) : this.payByMethod(userId, inv, amount, method, attemptKey, now)
  }

  // ---- wallet -------------------------------------------------------------------------------

  private async payFromWallet(userId: string, inv: Invoice, amount: number, attemptKey: string, now: Date) {
    const r = await this.deps.wallet.debit(userId, { opId: attemptKey, amount, reference: { type: 'invoice', id: inv.id }, description: `Invoice ${inv.invoiceNumber}` })
    if (!r.ok) throw new AppError(500, 'INTERNAL_ERROR', 'The wallet payment could not be booked', { reason: r.reason })
    // A replay answers the first debit under this key, whoever asked for it.
    const outcome: Outcome = { status: 'succeeded', amount: -r.entry.amount, processor: WALLET, paymentMethodId: WALLET, processorRef: r.entry.id, failureReason: null }
    const row = paymentRow(userId, inv, attemptKey, outcome, now)
    const { stmts, after } = this.settlement(userId, inv, row, outcome, now, null)
    try {
      await runBatch(this.db, [this.db.insert(payments).values(row), ...stmts])
    } catch (e) {
      const winner = await this.paymentByKey(attemptKey)
      if (!winner) throw e
      return this.afterOther(userId, inv, winner, outcome, amount, WALLET)
    }
    if (outcome.amount !== amount) {
      throw new Conflict('PAYMENT_CONFLICT', 'Another payment of this invoice was in flight; it has been applied instead of yours. Read the invoice and pay what is still due.', {
        appliedAmount: fromMicros(outcome.amount),
        invoice: summaryView(after),
      })
    }
    return { payment: paymentView(row), invoice: summaryView(after) }
  }

  // ---- payment method -----------------------------------------------------------------------

  private async payByMethod(userId: string, inv: Invoice, amount: number, methodId: string, attemptKey: string, now: Date) {
    const m = await this.deps.method(userId, methodId)
    const claim = paymentRow(userId, inv, attemptKey, { status: 'succeeded', amount, processor: m.processor, paymentMethodId: m.id, processorRef: null, failureReason: null }, now)
    claim.status = 'pending'
    claim.processedAt = null
    try {
      await this.db.insert(payments).values(claim).run()
    } catch (e) {
      const other = await this.paymentByKey(attemptKey)
      if (!other) throw e
      return this.afterOther(userId, inv, other, null, amount, m.id)
    }
    return this.settleClaim(userId, inv, claim, now)
  }

  /** Charges a pending claim (again, for a claim found pending: same key, same charge) and records the outcome once. */
  private async settleClaim(userId: string, inv: Invoice, claim: Payment, now: Date) {
    const r = await this.deps.charge(userId, {
      paymentMethodId: claim.paymentMethodId ?? undefined,
      amount: claim.amount,
      currency: claim.currency,
      attemptKey: claim.attemptKey,
      description: `Invoice ${inv.invoiceNumber}`,
    })
    const outcome: Outcome = r.ok
      ? { status: 'succeeded', amount: claim.amount, processor: r.processor, paymentMethodId: r.paymentMethodId, processorRef: r.processorRef, failureReason: null }
      : { status: 'failed', amount: claim.amount, processor: r.processor, paymentMethodId: r.paymentMethodId, processorRef: null, failureReason: r.failureReason }
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
      return { payment: paymentView(settled), invoice: summaryView((await this.invoice(userId, inv.id)) ?? after) }
    }
    const row: Payment = { ...claim, status: outcome.status, processor: outcome.processor, processorRef: outcome.processorRef, failureReason: outcome.failureReason, processedAt: now, updatedAt: now }
    if (outcome.status === 'failed') throw declined(row)
    return { payment: paymentView(row), invoice: summaryView(after) }
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
    if (paidNow) events.push({ type: 'invoice.paid', data: seed003View(after) })

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
      stmts.push(this.db.update(invoices).set({ paymentSeq: sql`${invoices.paymentSeq} + 1` }).where(cas))
    }
    return { stmts, after }
  }

  /**
   * Another payment holds this invoice's next key: settle it if it is a pending claim, give back a
   * wallet debit of ours that moved apart from it, then answer with it when it was the same
   * payment (same method and amount: a double submit or a retry) and 409 otherwise.
   */
  private async afterOther(userId: string, read: Invoice, other: Payment, ours: Outcome | null, amount: number, method: string) {
    if (ours && ours.status === 'succeeded' && ours.processor === WALLET && other.processor !== WALLET) {
      const back = await this.deps.wallet.credit(userId, {
        opId: `${other.attemptKey}_returned`,
        amount: ours.amount,
        reference: { type: 'invoice', id: read.id },
        description: `Invoice ${read.invoiceNumber}: payment returned (another payment came first)`,
      })
      if (!back.ok) throw new AppError(500, 'INTERNAL_ERROR', 'A wallet payment that lost a race could not be returned', { reason: back.reason })
    }
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
      if (final.status === 'succeeded') return { payment: paymentView(final), invoice: summaryView(current) }
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
    processedAt: now,
    createdAt: now,
    updatedAt: now,
  }
}

function declined(p: Pick<Payment, 'failureReason' | 'processor' | 'paymentMethodId' | 'id'>) {
  return new AppError(402, 'PAYMENT_FAILED', `The payment was declined: ${p.failureReason ?? 'unknown reason'}`, {
    paymentId: p.id,
    failureReason: p.failureReason,
    processor: p.processor,
    paymentMethodId: p.paymentMethodId,
  })
}

/**
 * Auto-pay: the billing job (`runInvoiceJob`) pays the invoice it generated when the account has
 * `autoPayEnabled` (PUT /api/v1/billing/account).
 *
 * Invariants:
 * - It pays through InvoicePaymentsService.pay, the path of POST /api/v1/billing/invoices/:id/pay:
 *   the whole amount due, with the same compare-and-set on `payment_seq` and the same natural keys
 *   (`invpay_<invoice>_<seq>`), so a job delivered twice, two jobs at once, or a job racing the
 *   user paying by hand move money once.
 * - What pays: the account's default payment method when it has one (live, `is_default`), else
 *   the wallet. Never a non-default method.
 * - Idempotent by the invoice's state: an invoice with nothing due (paid at generation because
 *   prepaid, paid since, void, draft) is left alone without a query; auto-pay off: nothing. A
 *   rerun of the job for an invoice still due tries once more — one attempt per job run.
 * - A refusal leaves the invoice as it was and does not fail the job (a queue retry would only
 *   repeat it): a declined card is recorded by the payment service (failed payment row,
 *   `PAYMENT_FAILED` event); too little money in the wallet moves and records nothing (the wallet
 *   refuses before any write) — the invoice stays due for the user, or the next run. A payment
 *   another request made first (409) is that request's. Anything else (processor unreachable,
 *   D1) is thrown so the job is retried; a card claim left pending is settled by the retry under
 *   the same key, never charged twice.
 */
import { and, eq, isNull } from 'drizzle-orm'
import { billingAccounts, paymentMethods } from '../../db/schema'
import { AppError } from '../../lib/errors'
import { fromMicros } from '../../lib/money'
import type { Services } from '../../services'
import { WALLET } from './invoice-payments.service'
import { amountDue, type Invoice } from './invoice-views'
import { systemContext } from '../../lib/context'

/** Statuses that can still be paid (as the payment service decides). */
const PAYABLE: ReadonlySet<Invoice['status']> = new Set(['pending', 'partially_paid', 'overdue'])

export type AutoPayResult =
  | { status: 'skipped'; reason: 'nothing_due' | 'disabled' }
  // `amount` in USD (decimal), as the billing job's log line shows it.
  | { status: 'paid'; paymentId: string; paymentMethod: string; amount: number; invoiceStatus: string }
  | { status: 'refused'; reason: 'declined' | 'insufficient_funds' | 'conflict'; paymentMethod: string; code: string; error: string }

/** Pays `invoice` (as just generated or read) when the account has auto-pay on; see the module comment. */
export async function autoPayInvoice(services: Services, invoice: Invoice, now = new Date()): Promise<AutoPayResult> {
  if (!PAYABLE.has(invoice.status) || amountDue(invoice) <= 0) return { status: 'skipped', reason: 'nothing_due' }
  const { db } = services
  const [account, method] = await db.batch([
    db.select({ autoPay: billingAccounts.autoPayEnabled }).from(billingAccounts).where(eq(billingAccounts.userId, invoice.userId)),
    db
      .select({ id: paymentMethods.id })
      .from(paymentMethods)
      .where(and(eq(paymentMethods.userId, invoice.userId), eq(paymentMethods.isDefault, true), isNull(paymentMethods.deletedAt))),
  ])
  if (!account[0]?.autoPay) return { status: 'skipped', reason: 'disabled' }

  const paymentMethod = method[0]?.id ?? WALLET
  try {
    const { payment, invoice: after } = await services.invoicePayments.pay(systemContext('autopay', invoice.userId), invoice.id, { paymentMethodId: paymentMethod }, now)
    return { status: 'paid', paymentId: payment.id, paymentMethod, amount: fromMicros(payment.amount), invoiceStatus: after.status }
  } catch (e) {
    const reason = e instanceof AppError ? refusal(e.code) : null
    if (!reason) throw e
    return { status: 'refused', reason, paymentMethod, code: (e as AppError).code, error: (e as AppError).message }
  }
}

function refusal(code: string): 'declined' | 'insufficient_funds' | 'conflict' | null {
  if (code === 'PAYMENT_FAILED') return 'declined'
  if (code === 'INSUFFICIENT_BALANCE') return 'insufficient_funds'
  if (code === 'PAYMENT_CONFLICT' || code === 'INVOICE_NOT_PAYABLE') return 'conflict'
  return null
}

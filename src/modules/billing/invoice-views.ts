/** Invoice rows as the API shows them: usage billing's invoice, the DID API's summary and details. */
import type { z } from '@hono/zod-openapi'
import type { invoiceLineItems, invoices, payments } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import type { InvoiceDocument } from './invoice-document'
import type { InvoiceDetails, InvoiceLine, InvoicePayment, InvoicesSummary, InvoiceSummary, UsageInvoice } from './schemas'

export type Invoice = typeof invoices.$inferSelect
export type InvoiceLineRow = typeof invoiceLineItems.$inferSelect
export type Payment = typeof payments.$inferSelect

export const amountDue = (i: Pick<Invoice, 'total' | 'amountPaid'>) => Math.max(0, i.total - i.amountPaid)

function breakdownOf(i: Invoice) {
  const b = i.breakdown ?? {}
  return { callMinutes: b.callMinutes ?? 0, smsCount: b.smsCount ?? 0, apiCalls: b.apiCalls ?? 0 }
}

export function usageInvoiceView(i: Invoice): UsageInvoice {
  return {
    id: i.id,
    userId: i.userId,
    invoiceNumber: i.invoiceNumber,
    month: i.month,
    status: i.status,
    amount: fromMicros(i.total),
    subscriptionFee: fromMicros(i.subscriptionFee),
    usageFee: fromMicros(i.usageFee),
    breakdown: breakdownOf(i),
    amountPaid: fromMicros(i.amountPaid),
    amountDue: fromMicros(amountDue(i)),
    currency: i.currency,
    periodStart: iso(i.periodStart)!,
    periodEnd: iso(i.periodEnd)!,
    dueDate: iso(i.dueDate)!,
    createdAt: iso(i.createdAt)!,
  }
}

export function summaryView(i: Invoice): InvoiceSummary {
  return {
    id: i.id,
    invoiceNumber: i.invoiceNumber,
    month: i.month,
    status: i.status,
    totalAmount: fromMicros(i.total),
    amountPaid: fromMicros(i.amountPaid),
    amountDue: fromMicros(amountDue(i)),
    currency: i.currency,
    issueDate: iso(i.issueDate)!,
    dueDate: iso(i.dueDate)!,
    paidDate: iso(i.paidAt),
    periodStart: iso(i.periodStart)!,
    periodEnd: iso(i.periodEnd)!,
  }
}

/** Sums over a set of invoices, in micro-units (void invoices count in `count` only). */
export interface InvoiceTotals {
  count: number
  total: number
  paid: number
  /** Still due on pending, partially paid and overdue invoices. */
  outstanding: number
  /** Still due on invoices past their due date. */
  overdue: number
}

/** The `summary` beside a list of invoices. */
export function invoicesSummaryView(t: InvoiceTotals): z.infer<typeof InvoicesSummary> {
  return {
    totalInvoices: t.count,
    totalAmount: fromMicros(t.total),
    paidAmount: fromMicros(t.paid),
    outstandingAmount: fromMicros(t.outstanding),
    overdueAmount: fromMicros(t.overdue),
    currency: 'USD',
  }
}

export function lineView(l: InvoiceLineRow): InvoiceLine {
  const out: InvoiceLine = {
    id: l.id,
    description: l.description,
    quantity: l.quantity,
    unitPrice: fromMicros(l.unitPrice),
    totalPrice: fromMicros(l.totalPrice),
    type: l.type,
  }
  if (l.periodStart && l.periodEnd) out.period = { start: iso(l.periodStart)!, end: iso(l.periodEnd)! }
  if (l.details) out.details = l.details as InvoiceLine['details']
  return out
}

export function paymentView(p: Payment): InvoicePayment {
  return {
    id: p.id,
    amount: fromMicros(p.amount),
    status: p.status,
    processor: p.processor,
    processedAt: iso(p.processedAt),
    paymentMethod: p.paymentMethodId,
    failureReason: p.failureReason,
  }
}

/** `baseUrl`: the API's public URL (config `appUrl`, never the request's Host), for the download links. */
export function detailView(i: Invoice, lines: InvoiceLineRow[], pays: Payment[], baseUrl: string): InvoiceDetails {
  const download = `${baseUrl}/api/v1/billing/invoices/${encodeURIComponent(i.id)}/download`
  return {
    id: i.id,
    invoiceNumber: i.invoiceNumber,
    month: i.month,
    status: i.status,
    subtotalAmount: fromMicros(i.subtotal),
    taxAmount: fromMicros(i.tax),
    discountAmount: fromMicros(i.discount),
    totalAmount: fromMicros(i.total),
    amountPaid: fromMicros(i.amountPaid),
    amountDue: fromMicros(amountDue(i)),
    currency: i.currency,
    subscriptionFee: fromMicros(i.subscriptionFee),
    usageFee: fromMicros(i.usageFee),
    breakdown: breakdownOf(i),
    issueDate: iso(i.issueDate)!,
    dueDate: iso(i.dueDate)!,
    paidDate: iso(i.paidAt),
    periodStart: iso(i.periodStart)!,
    periodEnd: iso(i.periodEnd)!,
    lineItems: lines.map(lineView),
    payments: pays.map(paymentView),
    billingAddress: i.billingAddress ?? {},
    downloadUrls: { pdf: `${download}?format=pdf`, csv: `${download}?format=csv` },
    createdAt: iso(i.createdAt)!,
    updatedAt: iso(i.updatedAt)!,
  }
}

/** What the PDF and CSV writers print. */
export function documentOf(i: Invoice, lines: InvoiceLineRow[]): InvoiceDocument {
  return {
    invoiceNumber: i.invoiceNumber,
    status: i.status,
    currency: i.currency,
    issueDate: iso(i.issueDate)!,
    dueDate: iso(i.dueDate)!,
    periodStart: iso(i.periodStart)!,
    periodEnd: iso(i.periodEnd)!,
    paidDate: iso(i.paidAt),
    billingAddress: i.billingAddress ?? {},
    lines: lines.map((l) => ({
      type: l.type,
      description: l.description,
      quantity: l.quantity,
      unitPrice: l.unitPrice,
      totalPrice: l.totalPrice,
      periodStart: iso(l.periodStart),
      periodEnd: iso(l.periodEnd),
    })),
    subtotal: i.subtotal,
    discount: i.discount,
    tax: i.tax,
    total: i.total,
    amountPaid: i.amountPaid,
    amountDue: amountDue(i),
  }
}

/**
 * Invoices in two shapes over the same rows: usage billing's invoice (`/api/invoices`) and the DID
 * API's InvoiceSummary / InvoiceDetailsResponse (`/api/v1/billing/invoices`). Amounts leave as
 * decimals, instants as ISO strings. Invoices are in whole cents.
 */
import { z } from '@hono/zod-openapi'
import { INVOICE_STATUSES } from '../../db/schema'
import { dateParam } from '../../lib/dates'
import { listParam } from '../dids/schemas'
import { Instant, Money, money } from '../../lib/http'

export { INVOICE_STATUSES }

export const MONTH_FORMAT = /^\d{4}-(0[1-9]|1[0-2])$/
export const Month = z.string().trim().regex(MONTH_FORMAT, 'Expected a month as YYYY-MM').openapi({ example: '2024-11' })

export const InvoiceIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'inv_01jd6q0000a1b2c3d4e5f6g7h8', description: 'The invoice id' }),
})

const Breakdown = z.object({ callMinutes: z.number().int(), smsCount: z.number().int(), apiCalls: z.number().int() })

/** Usage billing's invoice (`/api/invoices`), with the month, currency and what is paid and due. */
export const UsageInvoice = z
  .object({
    id: z.string(),
    userId: z.string(),
    invoiceNumber: z.string().openapi({ example: 'INV-2024-11-A1B2C3' }),
    month: z.string().openapi({ example: '2024-11' }),
    status: z.enum(INVOICE_STATUSES),
    amount: z.number().openapi(money({ example: 59.74 })),
    subscriptionFee: z.number().openapi(money({ example: 29.99 })),
    usageFee: z.number().openapi(money({ example: 29.75 })),
    breakdown: Breakdown,
    amountPaid: Money,
    amountDue: Money,
    currency: z.string(),
    periodStart: z.string(),
    periodEnd: z.string(),
    dueDate: Instant,
    createdAt: Instant,
  })
  .openapi('Invoice')
export type UsageInvoice = z.infer<typeof UsageInvoice>

export const GenerateInvoiceBody = z
  .object({
    userId: z.string().trim().min(1).max(64).optional().openapi({ description: 'Your own id (the default); admins may name any account' }),
    month: Month,
  })
  .openapi('GenerateInvoiceRequest')

export const ListAccountInvoicesQuery = z.object({
  userId: z.string().trim().min(1).max(64).optional().openapi({ description: 'Your own id (the default); admins may name any account' }),
})

export const ListInvoicesQuery = z.object({
  page: z.coerce.number().int().min(1).default(1).openapi({ description: 'Page number, from 1' }),
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: 'Items per page (max 100)' }),
  status: listParam(INVOICE_STATUSES, (s) => s.toLowerCase()),
  dateFrom: dateParam('Issued at or after (a date means its start).').optional(),
  dateTo: dateParam('Issued at or before (a date means its whole day).', '2026-11-30').optional(),
  sortBy: z.enum(['issueDate', 'dueDate', 'totalAmount']).default('issueDate').openapi({ description: 'The field to sort by' }),
  sortOrder: z.enum(['asc', 'desc']).default('desc').openapi({ description: 'Ascending or descending' }),
})
export type ListInvoicesQuery = z.infer<typeof ListInvoicesQuery>

export const InvoiceSummary = z
  .object({
    id: z.string(),
    invoiceNumber: z.string(),
    month: z.string(),
    status: z.enum(INVOICE_STATUSES),
    totalAmount: Money,
    amountPaid: Money,
    amountDue: Money,
    currency: z.string(),
    issueDate: Instant,
    dueDate: Instant,
    paidDate: Instant.nullable(),
    periodStart: z.string(),
    periodEnd: z.string(),
  })
  .openapi('InvoiceSummary')
export type InvoiceSummary = z.infer<typeof InvoiceSummary>

export const InvoicesSummary = z
  .object({
    totalInvoices: z.number().int(),
    totalAmount: Money,
    paidAmount: Money,
    outstandingAmount: Money,
    overdueAmount: Money,
    currency: z.string(),
  })
  .openapi('InvoicesSummary')

const UsageDetails = z.object({ quantity: z.number(), included: z.number(), billable: z.number() })

export const LINE_TYPES = ['usage', 'subscription', 'one_time', 'tax', 'discount'] as const

export const InvoiceLine = z.object({
  id: z.string(),
  description: z.string(),
  quantity: z.number().int(),
  unitPrice: Money,
  totalPrice: Money,
  type: z.enum(LINE_TYPES),
  period: z.object({ start: z.string(), end: z.string() }).optional(),
  details: z.object({ resourceId: z.string().optional(), resourceType: z.string().optional(), usageDetails: UsageDetails.optional() }).catchall(z.unknown()).optional(),
})
export type InvoiceLine = z.infer<typeof InvoiceLine>

export const InvoicePayment = z.object({
  id: z.string(),
  amount: Money,
  status: z.enum(['pending', 'succeeded', 'failed', 'refunded']),
  processor: z.string(),
  processedAt: Instant.nullable(),
  paymentMethod: z.string().nullable(),
  failureReason: z.string().nullable(),
})
export type InvoicePayment = z.infer<typeof InvoicePayment>

export const InvoiceDetails = z
  .object({
    id: z.string(),
    invoiceNumber: z.string(),
    month: z.string(),
    status: z.enum(INVOICE_STATUSES),
    subtotalAmount: Money,
    taxAmount: Money,
    discountAmount: Money,
    totalAmount: Money,
    amountPaid: Money,
    amountDue: Money,
    currency: z.string(),
    subscriptionFee: Money,
    usageFee: Money,
    breakdown: Breakdown,
    issueDate: Instant,
    dueDate: Instant,
    paidDate: Instant.nullable(),
    periodStart: z.string(),
    periodEnd: z.string(),
    lineItems: z.array(InvoiceLine),
    payments: z.array(InvoicePayment),
    billingAddress: z.record(z.string(), z.unknown()),
    downloadUrls: z.object({ pdf: z.string(), csv: z.string() }),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('InvoiceDetailsResponse')
export type InvoiceDetails = z.infer<typeof InvoiceDetails>

export const PayInvoiceBody = z
  .object({
    paymentMethodId: z.string().trim().min(1).max(64).optional().openapi({ description: '`wallet` (the default) pays from the wallet; any other id is one of your payment methods' }),
    amount: z
      .number()
      .positive()
      .max(1_000_000)
      .optional()
      .openapi(money({ description: 'Decimal, whole cents, at most the amount due (the default)', example: 10 })),
  })
  .openapi('PayInvoiceRequest')
export type PayInvoiceBody = z.infer<typeof PayInvoiceBody>

export const PayInvoiceResult = z.object({ payment: InvoicePayment, invoice: InvoiceSummary }).openapi('PayInvoiceResult')

export const DownloadQuery = z.object({
  format: z.enum(['pdf', 'csv', 'json']).default('pdf').openapi({ description: 'pdf (default), csv or json' }),
})

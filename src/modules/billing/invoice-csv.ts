/**
 * An invoice as CSV (RFC 4180): a header row, one row per line item, then the totals rows
 * (Subtotal, Discount, Tax, Total, Amount Paid, Amount Due — label in the Description column,
 * amount in Total). CRLF line ends; a field is quoted when it holds a comma, a quote, CR or LF
 * (quotes doubled). Amounts are plain decimals in the invoice's currency (29.99, 0.001).
 * A description that a spreadsheet would run as a formula (= + - @) is prefixed with `'`.
 */
import { day, decimal, type InvoiceDocument } from './invoice-document'

export const CSV_HEADER = ['Type', 'Description', 'Quantity', 'Unit Price', 'Total', 'Currency', 'Period Start', 'Period End'] as const

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

const text = (s: string) => (/^[=+\-@\t\r]/.test(s) ? `'${s}` : s)

export function invoiceCsv(doc: InvoiceDocument): string {
  const rows: string[][] = [[...CSV_HEADER]]
  for (const l of doc.lines) {
    rows.push([l.type, text(l.description), String(l.quantity), decimal(l.unitPrice), decimal(l.totalPrice), doc.currency, day(l.periodStart), day(l.periodEnd)])
  }
  const total = (label: string, micros: number) => rows.push(['total', label, '', '', decimal(micros), doc.currency, '', ''])
  total('Subtotal', doc.subtotal)
  total('Discount', -doc.discount)
  total('Tax', doc.tax)
  total('Total', doc.total)
  total('Amount Paid', doc.amountPaid)
  total('Amount Due', doc.amountDue)
  return `${rows.map((r) => r.map(csvField).join(',')).join('\r\n')}\r\n`
}

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { invoiceCsv } from './invoice-csv'
import { invoicePdf } from './invoice-pdf'
import { DownloadQuery, InvoiceDetails, InvoiceIdParam } from './schemas'
import { detailView, documentOf } from './invoice-views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/billing/invoices/{id}/download',
  operationId: 'downloadInvoice',
  tags: ['invoices'],
  summary: 'Download an invoice (PDF, CSV or JSON)',
  description:
    '`format=pdf` (default): a PDF 1.4 document (header with number, dates and billing address, ' +
    'the line items, totals), `Content-Disposition: attachment; filename="INV-….pdf"`. `format=csv`: RFC 4180 CSV — a header ' +
    'row, one row per line item, then the totals rows (Subtotal, Discount, Tax, Total, Amount Paid, Amount Due). `format=json`: ' +
    'the InvoiceDetailsResponse in the usual envelope, as an attachment `INV-….json`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { params: InvoiceIdParam, query: DownloadQuery },
  responses: {
    200: {
      content: {
        'application/pdf': { schema: z.string().openapi({ format: 'binary' }) },
        'text/csv': { schema: z.string() },
        ...ok(InvoiceDetails, 'JSON').content,
      },
      description: 'The invoice document',
    },
    ...errorResponses,
  },
})

export const registerDownloadInvoice = (r: Router) =>
  r.openapi(route, async (c) => {
    const { format } = c.req.valid('query')
    const { invoice, lines, payments } = await c.var.services.invoices.load(contextOf(c), c.req.valid('param').id)
    const filename = `${invoice.invoiceNumber}.${format}`
    c.header('Content-Disposition', `attachment; filename="${filename}"`)
    c.header('Cache-Control', 'private, no-store')
    if (format === 'pdf') {
      return c.body(invoicePdf(documentOf(invoice, lines)), 200, { 'Content-Type': 'application/pdf' })
    }
    if (format === 'csv') {
      return c.body(invoiceCsv(documentOf(invoice, lines)), 200, { 'Content-Type': 'text/csv; charset=utf-8' })
    }
    return c.json(envelope(c, detailView(invoice, lines, payments, c.var.services.config.appUrl)), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, keySecurity, Meta, meta, PagePagination, pagePagination } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { InvoicesSummary, InvoiceSummary, ListInvoicesQuery } from './schemas'
import { invoicesSummaryView, summaryView } from './invoice-views'

const Response = z.object({ success: z.literal(true), data: z.array(InvoiceSummary), pagination: PagePagination, summary: InvoicesSummary, meta: Meta })

const route = createRoute({
  method: 'get',
  path: '/api/v1/billing/invoices',
  operationId: 'listInvoices',
  tags: ['invoices'],
  summary: 'Your invoices',
  description:
    '`data` (InvoiceSummary), `pagination` and, beside them, `summary` over every invoice that ' +
    'matches the filters (not just the page): count, total (void invoices excluded), paid, outstanding (what is still due on ' +
    'pending, partially paid and overdue invoices) and overdue (what is still due on invoices past their due date). Filters: ' +
    '`status` (repeat or commas), `dateFrom`/`dateTo` on the issue date (a bare date covers its whole UTC day). Sort by ' +
    'issueDate (default, desc), dueDate or totalAmount. An invoice becomes `overdue` the day after its due date (daily billing run).',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: ListInvoicesQuery },
  responses: { 200: { content: { 'application/json': { schema: Response } }, description: 'Invoices' }, ...errorResponses },
})

export const registerListInvoices = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total, totals } = await c.var.services.invoices.list(contextOf(c), q)
    return c.json({ success: true as const, data: rows.map(summaryView), pagination: pagePagination(q.page, q.limit, total), summary: invoicesSummaryView(totals), meta: meta(c) }, 200)
  })

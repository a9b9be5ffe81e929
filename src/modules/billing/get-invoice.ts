import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { InvoiceDetails, InvoiceIdParam } from './schemas'
import { detailView } from './invoice-views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/billing/invoices/{id}',
  operationId: 'getInvoice',
  tags: ['invoices'],
  summary: 'One invoice with its lines and payments',
  description:
    "The invoice in the DID API's shape (InvoiceDetailsResponse), plus usage billing's `subscriptionFee`, `usageFee`, `breakdown` and the `month`. Line items carry " +
    'their billing `period` and `details` (usage lines: `usageDetails` {quantity, included, billable}; DID fees: `resourceType` ' +
    '`did_number` and the number id). `payments` lists every attempt, failed ones too; what prepaid purchases and DID fees took ' +
    'from the wallet when they happened is one `wallet` payment. `downloadUrls` point at the download route (PDF, CSV) on the ' +
    "API's configured public URL (`APP_URL`), whatever host the request named.",
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { params: InvoiceIdParam },
  responses: { 200: ok(InvoiceDetails, 'The invoice'), ...errorResponses },
})

export const registerGetInvoice = (r: Router) =>
  r.openapi(route, async (c) => {
    const { invoice, lines, payments } = await c.var.services.invoices.load(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, detailView(invoice, lines, payments, c.var.services.config.appUrl)), 200)
  })

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { accountFor } from '../../db/account-for'
import { ListAccountInvoicesQuery, UsageInvoice } from './schemas'
import { usageInvoiceView } from './invoice-views'

const route = createRoute({
  method: 'get',
  path: '/api/invoices',
  operationId: 'listAccountInvoices',
  tags: ['invoices'],
  summary: 'All invoices of an account (usage billing)',
  description:
    'Every invoice of the account, newest first (by creation), as a plain array (one invoice per month, so no paging; ' +
    'GET /api/v1/billing/invoices pages and filters). `userId` is your own (the default); admins may name any account, anyone ' +
    'else naming another account gets 404.',
  middleware: [rateClass('general'), requireAuth({ permission: 'billing:read' })] as const,
  security: keySecurity,
  request: { query: ListAccountInvoicesQuery },
  responses: { 200: ok(z.array(UsageInvoice), 'Invoices, newest first'), ...errorResponses },
})

export const registerListAccountInvoices = (r: Router) =>
  r.openapi(route, async (c) => {
    const ctx = await accountFor(c.var.services.db, contextOf(c), c.req.valid('query').userId)
    const rows = await c.var.services.invoices.listAll(ctx)
    return c.json(envelope(c, rows.map(usageInvoiceView)), 200)
  })

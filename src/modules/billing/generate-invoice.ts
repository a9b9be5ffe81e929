import { createRoute, z } from '@hono/zod-openapi'
import { ValidationError } from '../../lib/errors'
import { err, errorResponses, jsonBody, keySecurity, Meta, meta } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { requireAuth, contextOf } from '../../http/authenticate'
import { idempotencyErrorResponses, IdempotencyKeyHeader } from '../../http/idempotency'
import { accountFor } from '../../db/account-for'
import { monthOf } from '../../lib/periods'
import { GenerateInvoiceBody, UsageInvoice } from './schemas'
import { usageInvoiceView } from './invoice-views'

const Answer = z.object({ success: z.literal(true), data: UsageInvoice, message: z.string(), meta: Meta })

const route = createRoute({
  method: 'post',
  path: '/api/invoices',
  operationId: 'generateInvoice',
  tags: ['invoices'],
  summary: 'Generate the invoice of a month',
  description:
    "Builds the account's invoice for `month` (YYYY-MM) from its subscription and usage: the monthly fee of the plan in " +
    'force at the start of the month (a subscription that began during the month pays the full fee; upgrade prorations are lines of ' +
    'their own), usage (call minutes, SMS, API calls) priced with the plan in force at the end of the month, DID monthly fees, and ' +
    'one-time purchases (activations, DID purchases) net of refunds. Line totals are rounded half-up to whole cents. Purchases and ' +
    'DID fees already paid from the wallet count as paid (`amountPaid`); an invoice with nothing left to pay is `paid` at once, ' +
    'otherwise `pending`, due 7 days after the end of the period. One invoice per account and month: asking again answers 200 with ' +
    'the existing invoice (nothing is recomputed — usage recorded for the month after its invoice is not billed). Only a closed ' +
    'month may be invoiced: the current month is 400 (an invoice would freeze it before its usage is in), and so is a future one. `userId` is your own (the default); admins may name any ' +
    'account, anyone else naming another account gets 404. 404 also when the month has neither usage nor a subscription in force.',
  middleware: [rateClass('general'), idempotent(), requireAuth({ permission: 'billing:write' })] as const,
  security: keySecurity,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(GenerateInvoiceBody) },
  responses: {
    201: { content: { 'application/json': { schema: Answer } }, description: 'Invoice generated' },
    200: { content: { 'application/json': { schema: Answer } }, description: 'The invoice of that month existed already' },
    ...errorResponses,
    404: err('No usage data or subscription for that month, or another account (`NOT_FOUND`)'),
    ...idempotencyErrorResponses,
  },
})

export const registerGenerateInvoice = (r: Router) =>
  r.openapi(route, async (c) => {
    const body = c.req.valid('json')
    const ctx = await accountFor(c.var.services.db, contextOf(c), body.userId)
    if (body.month >= monthOf(Date.now())) throw ValidationError.field('month', 'month must be a closed month (before the current one)')
    const { invoice, created } = await c.var.services.invoices.generate(ctx, body.month)
    const message = created ? 'Invoice generated successfully' : 'Invoice already exists for this month'
    return c.json({ success: true as const, data: usageInvoiceView(invoice), message, meta: meta(c) }, created ? 201 : 200)
  })

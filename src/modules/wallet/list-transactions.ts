import { createRoute, z } from '@hono/zod-openapi'
import { errorResponses, keySecurity, listEnvelope, okList, PagePagination, pagePagination, PageQuery } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { principalOf, requireAuth } from '../../http/authenticate'
import { transactionView, WalletTransaction } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/wallet/transactions',
  operationId: 'listWalletTransactions',
  tags: ['wallet'],
  summary: 'Your wallet transactions (newest first)',
  description:
    'Paged with `?page&limit`. Every change of the ' +
    'balance is one transaction: `credit` (top-up, refund), `debit`, `capture` (a purchase charged). Money held for a ' +
    'purchase in progress is not a transaction until it is captured (see `reserved` on the balance). Always the ' +
    "caller's own wallet. A user session or an API key with `wallet:read`.",
  middleware: [rateClass('general'), requireAuth({ permission: 'wallet:read' })] as const,
  security: keySecurity,
  request: { query: z.object(PageQuery) },
  responses: { 200: okList(WalletTransaction, PagePagination, 'Transactions'), ...errorResponses },
})

export const registerListTransactions = (r: Router) =>
  r.openapi(route, async (c) => {
    const { page, limit } = c.req.valid('query')
    const { entries, total } = await c.var.services.wallet.history(principalOf(c).userId, page, limit)
    return c.json(listEnvelope(c, entries.map(transactionView), pagePagination(page, limit, total)), 200)
  })

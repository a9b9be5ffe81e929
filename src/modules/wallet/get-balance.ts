import { createRoute } from '@hono/zod-openapi'
import { aliasOperationId, envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { principalOf, requireAuth } from '../../http/authenticate'
import { balanceView, WalletBalance } from './schemas'

/** The activation API's wallet route and its public v1 twin: one service, two paths (aliases stay thin). */
const PATHS = [
  { path: '/api/wallet/balance', rateClass: 'general', tags: ['wallet'], doc: "The activation API's wallet balance." },
  { path: '/api/v1/balance', rateClass: 'public', tags: ['public-v1', 'wallet'], doc: 'The public v1 path of the wallet balance: the same answer as `GET /api/wallet/balance`.' },
] as const

export const registerGetBalance = (r: Router) => {
  for (const p of PATHS) {
    const route = createRoute({
      method: 'get',
      path: p.path,
      operationId: aliasOperationId('getWalletBalance', p.path),
      tags: [...p.tags],
      summary: 'Your wallet balance',
      description:
        `${p.doc} Amounts are decimals in \`currency\` (stored exactly as micro-units). \`balance\` is the ledger ` +
        'balance and includes `reserved`, the money held by purchases in progress; `available` = `balance − reserved` ' +
        'is what a new purchase can spend. A number purchase is answered once its price is held: the price leaves ' +
        '`available` at once and moves from `reserved` to the ledger (and out of `balance`) within about a second. ' +
        "Always the caller's own wallet. A user session or an API key with `wallet:read`.",
      middleware: [rateClass(p.rateClass), requireAuth({ permission: 'wallet:read' })] as const,
      security: keySecurity,
      responses: { 200: ok(WalletBalance, 'The balance'), ...errorResponses },
    })
    r.openapi(route, async (c) => {
      const { userId } = principalOf(c)
      const balance = await c.var.services.wallet.balance(userId)
      return c.json(envelope(c, balanceView(balance)), 200)
    })
  }
}

import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { NumberSearchResponse, SearchQuery } from './schemas'
import { searchView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/numbers/search',
  operationId: 'searchNumbers',
  tags: ['numbers'],
  summary: 'Search numbers for sale',
  description:
    'Searches the DID inventory the provider sync keeps (numbers `available` for sale). `countryCode` is required; ' +
    "`contains` is Twilio's pattern (`*` = one digit, letters = keypad digits); `capabilities` must all be present; `priceMax` caps the " +
    'monthly price. Numbers another account has reserved (POST /api/v1/numbers/reservations) are left out; a purchase in flight is not ' +
    'visible here — the purchase itself refuses a second buyer. When nothing matches, `suggestions` names other area codes and regions ' +
    'of the country that have numbers. Rate class `search`.',
  middleware: [rateClass('search'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { query: SearchQuery },
  responses: { 200: ok(NumberSearchResponse, 'Matching numbers'), ...errorResponses },
})

export const registerSearchNumbers = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const result = await c.var.services.dids.search(contextOf(c), q)
    return c.json(envelope(c, searchView(q, result)), 200)
  })

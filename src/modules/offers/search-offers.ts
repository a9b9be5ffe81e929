import { createRoute, z } from '@hono/zod-openapi'
import { envelope, ok, publicErrorResponses, publicSecurity, money } from '../../lib/http'
import { fromMicros } from '../../lib/money'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'

const Query = z.object({
  q: z.string().trim().max(100).optional().openapi({ example: 'telegram', description: 'Part of a service name or code, or of a country name or code (case-insensitive)' }),
  country: z.string().trim().max(64).optional().openapi({ example: 'us', description: 'Two letters: ISO country code; longer: part of the country name' }),
  page: z.coerce.number().int().min(1).default(1).openapi({ description: 'Page number, from 1' }),
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: 'Offers per page (max 200)' }),
})

const Hit = z
  .object({
    id: z.string().openapi({ example: 'ofr_01jd6q0000a1b2c3d4e5f6g7h8' }),
    service: z.string().openapi({ example: 'Telegram' }),
    serviceCode: z.string().openapi({ example: 'telegram' }),
    country: z.string().openapi({ example: 'United States' }),
    countryCode: z.string().openapi({ example: 'us' }),
    price: z.number().openapi(money({ example: 0.5, description: "The provider's cost plus our margin; what a purchase charges" })),
    currency: z.literal('USD'),
    provider: z.string().openapi({ example: 'herosms', description: 'Provider code (pass it to the purchase to insist on it)' }),
    stock: z.number().int(),
  })
  .openapi('OfferHit')

const Result = z.object({ hits: z.array(Hit), total: z.number().int() }).openapi('OfferSearchResult')

const route = createRoute({
  method: 'get',
  path: '/api/search/offers',
  operationId: 'searchOffers',
  tags: ['search'],
  summary: 'Search activation offers (public)',
  description:
    "The activation API's offer search: no authentication needed (rate class `search`, 100/min per IP or caller). In-stock offers of healthy " +
    'providers, cheapest first; `total` counts every match. `page`/`limit` page through the hits.',
  middleware: [rateClass('search')] as const,
  security: publicSecurity,
  request: { query: Query },
  responses: { 200: ok(Result, 'Offers'), ...publicErrorResponses },
})

export const registerSearchOffers = (r: Router) =>
  r.openapi(route, async (c) => {
    const { hits, total } = await c.var.services.offers.search(c.req.valid('query'))
    return c.json(envelope(c, { hits: hits.map((h) => ({ ...h, price: fromMicros(h.price), currency: 'USD' as const })), total }), 200)
  })

/**
 * The activation offer catalogue (GET /api/search/offers). Offers are written by the provider
 * sync with their price already computed (`price = cost × (1 + marginBps/10,000) + marginFixed`, see
 * providers/pricing.ts), so what search shows is what a purchase holds and charges.
 * Only in-stock offers of active, healthy providers are listed, cheapest first.
 */
import { and, asc, count, eq, gt, or, sql, type AnyColumn, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { offers, providers } from '../../db/schema'

export interface OfferSearch {
  q?: string
  country?: string
  page: number
  limit: number
}

/** `%`, `_` and `\` match themselves. */
function likePattern(s: string): string {
  return `%${s.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%`
}

const contains = (column: AnyColumn, pattern: string) => sql`lower(${column}) LIKE ${pattern} ESCAPE '\\'`

export class OffersService {
  constructor(private readonly db: Db) {}

  async search(s: OfferSearch) {
    const conditions: (SQL | undefined)[] = [eq(providers.status, 'active'), eq(providers.healthy, true), gt(offers.stock, 0)]
    const q = s.q?.trim()
    if (q) {
      const p = likePattern(q)
      conditions.push(or(contains(offers.serviceName, p), contains(offers.serviceCode, p), contains(offers.countryName, p), contains(offers.countryCode, p)))
    }
    const country = s.country?.trim().toLowerCase()
    if (country) {
      // A two-letter value is a code (exact, offers_country_idx); anything longer is part of a name.
      conditions.push(country.length === 2 ? eq(offers.countryCode, country) : or(eq(offers.countryCode, country), contains(offers.countryName, likePattern(country))))
    }
    const where = and(...conditions)
    const [hits, total] = await this.db.batch([
      this.db
        .select({
          id: offers.id,
          service: offers.serviceName,
          serviceCode: offers.serviceCode,
          country: offers.countryName,
          countryCode: offers.countryCode,
          price: offers.price,
          provider: providers.code,
          stock: offers.stock,
        })
        .from(offers)
        .innerJoin(providers, eq(providers.id, offers.providerId))
        .where(where)
        .orderBy(asc(offers.price), asc(offers.serviceCode), asc(offers.countryCode), asc(providers.priority), asc(offers.id))
        .limit(s.limit)
        .offset((s.page - 1) * s.limit),
      this.db.select({ n: count() }).from(offers).innerJoin(providers, eq(providers.id, offers.providerId)).where(where),
    ])
    return { hits, total: total[0]?.n ?? 0 }
  }
}

/**
 * Activation offers by (service, country), every provider's, cheapest first: the purchase's one
 * read of the catalogue, kept per isolate for `OFFER_CACHE_TTL_MS` so a purchase under load reads
 * no D1 for it (ARCHITECTURE.md, "The purchase's request path").
 *
 * Invariants:
 * - The cache decides which offer to try, never what it costs: a purchase records its activation
 *   only while the offer's price in D1 still equals the price it held, checked inside the batch
 *   that records it (`offerPriceIs`). A stale entry therefore never sells below (or above) the
 *   current price; a purchase that finds the price changed undoes itself and reads the offers anew.
 * - Refreshed on a miss, on an entry older than the TTL, when the entry offers no candidate (the
 *   database is asked before a sale is refused), after a price mismatch, and by a provider sync in
 *   this isolate (`offerCache.clear()`). Other isolates see a sync within the TTL.
 * - Holds catalogue rows only (no account data, no env); bounded to `MAX_KEYS` entries.
 */
import { and, asc, eq, type Placeholder, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { offers, providers, type Offer, type Provider } from '../../db/schema'

/** How long a read of one (service, country) serves purchases in this isolate. */
export const OFFER_CACHE_TTL_MS = 15_000
/** Entries kept at most; past it the cache starts over (catalogue keys are a few thousand at most). */
const MAX_KEYS = 2_000

export interface OfferChoice {
  offer: Offer
  provider: Provider
}

interface Entry {
  at: number
  rows: OfferChoice[]
}

/** The per-isolate offer cache (see the module comment). */
export const offerCache = {
  /** null: the default for the environment (OFFER_CACHE_TTL_MS; 0 under ENVIRONMENT=test, whose tests edit offers in D1). */
  ttlMs: null as number | null,
  entries: new Map<string, Entry>(),
  ttlFor(environment: string): number {
    return this.ttlMs ?? (environment === 'test' ? 0 : OFFER_CACHE_TTL_MS)
  },
  forget(serviceCode: string, countryCode: string): void {
    this.entries.delete(keyOf(serviceCode, countryCode))
  },
  clear(): void {
    this.entries.clear()
  },
}

const keyOf = (serviceCode: string, countryCode: string) => `${serviceCode}\n${countryCode}`

/**
 * Every provider's offer for (service, country), cheapest first (offers_service_country_price_idx):
 * from this isolate's cache when the read is younger than `ttlMs` (0: always D1) and `refresh` is
 * not set; a read from D1 is kept for the next purchases.
 */
export async function offersFor(db: Db, serviceCode: string, countryCode: string, opts: { ttlMs: number; refresh?: boolean }, now = Date.now()): Promise<OfferChoice[]> {
  const { ttlMs } = opts
  const key = keyOf(serviceCode, countryCode)
  const hit = ttlMs > 0 && !opts.refresh ? offerCache.entries.get(key) : undefined
  if (hit && now - hit.at < ttlMs) return hit.rows
  const rows = await db
    .select({ offer: offers, provider: providers })
    .from(offers)
    .innerJoin(providers, eq(providers.id, offers.providerId))
    .where(and(eq(offers.serviceCode, serviceCode), eq(offers.countryCode, countryCode)))
    .orderBy(asc(offers.price), asc(providers.priority), asc(providers.code))
    .all()
  if (ttlMs > 0) {
    if (offerCache.entries.size >= MAX_KEYS) offerCache.entries.clear()
    offerCache.entries.set(key, { at: now, rows })
  }
  return rows
}

/** The guard of a purchase's recording batch: the offer's price in D1 is still `price` at this instant. */
export function offerPriceIs(offerId: string | Placeholder, price: number | Placeholder): SQL {
  return sql`exists (select 1 from ${offers} where ${offers.id} = ${offerId} and ${offers.price} = ${price})`
}

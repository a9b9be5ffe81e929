/**
 * Provider sync (cron every 15 min, and POST /api/admin/providers/{id}/sync): pulls each active
 * numbers provider's activation offers and DID inventory into D1.
 *
 * Invariants:
 * - One provider's failure never stops the others: it is marked `healthy = 0` with its
 *   (credential-free) error message, and its last synced data stays as it was.
 * - A provider's writes land in one `db.batch` (atomic): offers and numbers are upserted, those
 *   the upstream no longer lists are retired (offers to stock 0, numbers to `gone`), and the
 *   provider row gets its stock summary — all or nothing.
 * - Rows are matched by the sync's instant: every row written gets `updated_at = at`, so "no
 *   longer listed" is `updated_at < at`, without a NOT IN list of every key. `at` is wall-clock
 *   time, strictly after the provider's previous sync (a controller's scheduledTime may lag).
 * - Multi-row statements stay under D1's 100 bound parameters; no query runs per row.
 * - Re-running changes nothing but timestamps (idempotent). Sold numbers are never touched, and a
 *   number another provider lists as available stays with that provider.
 */
import { and, asc, eq, lt, ne, sql } from 'drizzle-orm'
import type { BatchItem } from 'drizzle-orm/batch'
import { didInventory, offers, providers, type Provider } from '../../db/schema'
import { AppError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import type { ActivationOffer, AvailableDid, DidProvider } from '../../providers/numbers/types'
import type { Services } from '../../services'
import { priceFor } from './pricing'
import { offerCache } from './offer-cache'
import { chunk, rowsPerInsert } from '../../db/chunk'
import { logger } from '../../lib/logger'
import { mapLimit } from '../../lib/concurrency'

/** Providers synced at once by the cron; upstream calls dominate, D1 writes are batched. */
const CONCURRENCY = 3
/** The number kinds this job syncs; providers of other kinds only (SIMs, messaging) are left alone. */
const NUMBER_KINDS = ['activation', 'did']

export interface ProviderSyncResult {
  providerId: string
  code: string
  healthy: boolean
  error: string | null
  /** When this sync ran (ISO). */
  syncedAt: string
  durationMs: number
  offers: { listed: number; retired: number }
  numbers: { listed: number; gone: number }
  /** In-stock offers and available DIDs of the provider after the sync. */
  stock: { offers: number; numbers: number }
}

export async function syncProviders(services: Services, scheduledTime: number = Date.now()) {
  const rows = await services.db.select().from(providers).where(eq(providers.status, 'active')).orderBy(asc(providers.priority), asc(providers.code)).all()
  const due = rows.filter((p) => p.kinds.some((k) => NUMBER_KINDS.includes(k)))
  const results = await mapLimit(due, CONCURRENCY, (p) => syncProvider(services, p))
  return {
    scheduledTime: new Date(scheduledTime).toISOString(),
    providers: results.length,
    healthy: results.filter((r) => r.healthy).length,
    unhealthy: results.filter((r) => !r.healthy).length,
    results: results.map((r) => ({ code: r.code, healthy: r.healthy, error: r.error, stock: r.stock })),
  }
}

export async function syncProvider(services: Services, provider: Provider): Promise<ProviderSyncResult> {
  const { db } = services
  const started = Date.now()
  const at = new Date(Math.max(started, (provider.lastSyncAt?.getTime() ?? 0) + 1))
  const base = { providerId: provider.id, code: provider.code, syncedAt: at.toISOString() }
  try {
    const adapters = services.providers.adapters(provider)
    const kinds = new Set(provider.kinds)
    const listedOffers = kinds.has('activation') && adapters.activation ? uniqueOffers(await adapters.activation.listOffers()) : null
    const listedNumbers = kinds.has('did') && adapters.did ? await listInventory(adapters.did) : null

    const writes: BatchItem<'sqlite'>[] = []
    let retireOffers = -1
    let retireNumbers = -1
    if (listedOffers) {
      writes.push(...offerUpserts(services, provider, listedOffers, at))
      retireOffers = writes.length
      writes.push(
        db
          .update(offers)
          .set({ stock: 0, updatedAt: at })
          .where(and(eq(offers.providerId, provider.id), lt(offers.updatedAt, at), ne(offers.stock, 0))),
      )
    }
    if (listedNumbers) {
      writes.push(...inventoryUpserts(services, provider, listedNumbers, at))
      retireNumbers = writes.length
      writes.push(
        db
          .update(didInventory)
          .set({ status: 'gone', updatedAt: at })
          .where(and(eq(didInventory.providerId, provider.id), eq(didInventory.status, 'available'), lt(didInventory.updatedAt, at))),
      )
    }
    const inStockOffers = sql`(select count(*) from ${offers} where ${offers.providerId} = ${provider.id} and ${offers.stock} > 0)`
    const availableNumbers = sql`(select count(*) from ${didInventory} where ${didInventory.providerId} = ${provider.id} and ${didInventory.status} = 'available')`
    writes.push(
      db
        .update(providers)
        .set({
          healthy: true,
          lastError: null,
          lastSyncAt: at,
          updatedAt: at,
          stock: sql`json_object('offers', ${inStockOffers}, 'numbers', ${availableNumbers})`,
        })
        .where(eq(providers.id, provider.id)),
    )
    writes.push(db.select({ stock: providers.stock }).from(providers).where(eq(providers.id, provider.id)))
    const results = (await db.batch(writes as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])) as unknown[]
    // This isolate's purchases read the new prices and stock at once; other isolates within the cache's TTL.
    offerCache.clear()
    const changes = (i: number) => (i < 0 ? 0 : ((results[i] as D1Result).meta?.changes ?? 0))
    const stock = (results.at(-1) as { stock: { offers: number; numbers: number } }[])[0]?.stock ?? { offers: 0, numbers: 0 }
    return {
      ...base,
      healthy: true,
      error: null,
      durationMs: Date.now() - started,
      offers: { listed: listedOffers?.length ?? 0, retired: changes(retireOffers) },
      numbers: { listed: listedNumbers?.length ?? 0, gone: changes(retireNumbers) },
      stock,
    }
  } catch (e) {
    const error = failureMessage(e, provider.code)
    logger.warn('provider sync failed; the provider is marked unhealthy', { job: 'provider-sync', provider: provider.code, error })
    await db.update(providers).set({ healthy: false, lastError: error, updatedAt: new Date() }).where(eq(providers.id, provider.id))
    offerCache.clear()
    return {
      ...base,
      healthy: false,
      error,
      durationMs: Date.now() - started,
      offers: { listed: 0, retired: 0 },
      numbers: { listed: 0, gone: 0 },
      stock: provider.stock,
    }
  }
}

/** The provider's whole DID inventory: its own searches, or nothing if it has none. */
async function listInventory(did: DidProvider): Promise<AvailableDid[]> {
  const seen = new Map<string, AvailableDid>()
  for (const q of did.inventoryQueries?.() ?? []) {
    for (const n of await did.search(q)) if (!seen.has(n.phoneNumber)) seen.set(n.phoneNumber, n)
  }
  return [...seen.values()]
}

function uniqueOffers(list: ActivationOffer[]): ActivationOffer[] {
  const seen = new Map<string, ActivationOffer>()
  for (const o of list) seen.set(`${o.serviceCode}\u0000${o.countryCode}`, o)
  return [...seen.values()]
}

function offerUpserts({ db }: Services, p: Provider, list: ActivationOffer[], at: Date) {
  const values = list.map((o) => ({
    id: newId('ofr'),
    providerId: p.id,
    serviceCode: o.serviceCode,
    serviceName: o.serviceName,
    countryCode: o.countryCode,
    countryName: o.countryName,
    upstreamCountry: o.upstreamCountry ?? null,
    upstreamService: o.upstreamService ?? null,
    cost: o.cost,
    price: priceFor(o.cost, p),
    stock: o.stock,
    updatedAt: at,
  }))
  return chunk(values, rowsPerInsert(offers)).map((rows) =>
    db
      .insert(offers)
      .values(rows)
      .onConflictDoUpdate({
        target: [offers.providerId, offers.serviceCode, offers.countryCode],
        set: {
          serviceName: sql`excluded.service_name`,
          countryName: sql`excluded.country_name`,
          upstreamCountry: sql`excluded.upstream_country`,
          upstreamService: sql`excluded.upstream_service`,
          cost: sql`excluded.cost`,
          price: sql`excluded.price`,
          stock: sql`excluded.stock`,
          updatedAt: sql`excluded.updated_at`,
        },
      }),
  )
}

function inventoryUpserts({ db }: Services, p: Provider, list: AvailableDid[], at: Date) {
  const values = list.map((n) => ({
    id: newId('inv'),
    providerId: p.id,
    phoneNumber: n.phoneNumber,
    countryCode: n.countryCode,
    areaCode: n.areaCode,
    region: n.region,
    locality: n.locality,
    numberType: n.numberType,
    capabilities: n.capabilities,
    setupPrice: n.setupPrice,
    monthlyPrice: n.monthlyPrice,
    restrictions: n.restrictions,
    status: 'available' as const,
    updatedAt: at,
  }))
  return chunk(values, rowsPerInsert(didInventory)).map((rows) =>
    db
      .insert(didInventory)
      .values(rows)
      .onConflictDoUpdate({
        target: didInventory.phoneNumber,
        set: {
          providerId: sql`excluded.provider_id`,
          countryCode: sql`excluded.country_code`,
          areaCode: sql`excluded.area_code`,
          region: sql`excluded.region`,
          locality: sql`excluded.locality`,
          numberType: sql`excluded.number_type`,
          capabilities: sql`excluded.capabilities`,
          setupPrice: sql`excluded.setup_price`,
          monthlyPrice: sql`excluded.monthly_price`,
          restrictions: sql`excluded.restrictions`,
          status: sql`excluded.status`,
          updatedAt: sql`excluded.updated_at`,
        },
        // Sold numbers are ours to manage; an available number of another provider stays theirs.
        setWhere: sql`${didInventory.status} <> 'sold' and (${didInventory.providerId} = excluded.provider_id or ${didInventory.status} = 'gone')`,
      }),
  )
}

/**
 * What the provider row records as `last_error`. Domain errors carry a message built to be
 * shown (adapters never put credentials in it); anything else is reduced to its kind and a
 * message with URLs and credential-looking parameters cut out.
 */
function failureMessage(e: unknown, code: string): string {
  if (e instanceof AppError) return e.message
  const err = e instanceof Error ? e : new Error(String(e))
  const message = err.message
    .replace(/https?:\/\/\S+/gi, '[url]')
    .replace(/\b(api_?key|token|secret|password|authorization)\b\s*[=:]\s*\S+/gi, '$1=***')
    .slice(0, 200)
  return `${code}: sync failed (${err.name}: ${message})`
}

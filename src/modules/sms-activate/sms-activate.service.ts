/**
 * The sms-activate `handler_api.php` protocol served to our customers (handler-api.ts): every verb
 * reads the client's codes and integer ids, then calls the activation engine's public verbs
 * (ActivationsService: purchase with its holds and failover, cancel with its one refund,
 * complete, reads) — it decides nothing about money itself.
 *
 * Invariants:
 * - Activation ids on this surface are the integer aliases of `activation_aliases` (written by a
 *   trigger for every activation), always looked up together with the caller's account: another
 *   account's alias is NO_ACTIVATION, like an unknown one.
 * - A protocol refusal is a `Refusal` carrying the protocol's word; engine errors propagate and
 *   are turned into words by `wordOf` (protocol.ts).
 */
import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { activationAliases, offers, providers } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { Conflict } from '../../lib/errors'
import { PROTOCOL_COUNTRIES, PROTOCOL_SERVICES } from '../../providers/numbers/protocol-codes'
import type { ActivationsService } from '../activations/activations.service'
import type { ActivationRecord, SmsRecord } from '../activations/schemas'
import type { WalletService } from '../wallet/wallet.service'
import { Refusal } from './protocol'

/** Our service code by the protocol's short code, and back. */
const SERVICE_OF = new Map(Object.entries(PROTOCOL_SERVICES).map(([short, [code]]) => [short, code]))
const SHORT_OF = new Map(Object.entries(PROTOCOL_SERVICES).map(([short, [code]]) => [code, short]))
/**
 * Our country code by the protocol's id, and back. 12 is the protocol's "USA (virtual)": clients
 * that ask for it get our US numbers, and read back the USA's own id, 187.
 */
const COUNTRY_OF = new Map([...Object.entries(PROTOCOL_COUNTRIES).map(([id, [iso]]) => [id, iso] as const), ['12', 'us'] as const])
const COUNTRY_ID_OF = new Map(Object.entries(PROTOCOL_COUNTRIES).map(([id, [iso]]) => [iso, id]))

/** The protocol forbids a cancel in an activation's first two minutes (EARLY_CANCEL_DENIED). */
export const EARLY_CANCEL_MS = 120_000

export interface BuyInput {
  service?: string
  country?: string
  /** Micro-units, when the client sent `maxPrice`. */
  maxPrice?: number
  /** `forward=1` asks for call forwarding, which no offer has. */
  forward?: boolean
}

export interface Bought {
  record: ActivationRecord
  alias: number
  /** The protocol's country id of the number. */
  countryId: string
}

export interface ActiveActivation {
  alias: number
  record: ActivationRecord
  code: string | null
}

/** Cheapest price and stock per (country id, short service), of offers someone can buy now. */
export type PriceTable = Record<string, Record<string, { cost: number; count: number }>>

export interface SmsActivateDeps {
  db: Db
  activations: Pick<ActivationsService, 'purchase' | 'cancel' | 'complete' | 'get' | 'list'>
  wallet: Pick<WalletService, 'balance'>
  now?: () => number
}

export class SmsActivateService {
  private readonly now: () => number

  constructor(private readonly deps: SmsActivateDeps) {
    this.now = deps.now ?? Date.now
  }

  /** What a new purchase can spend, in micro-units. */
  async balance(ctx: RequestContext): Promise<number> {
    return (await this.deps.wallet.balance(ctx.accountId)).available
  }

  /** getNumber / getNumberV2. */
  async buy(ctx: RequestContext, input: BuyInput): Promise<Bought> {
    const serviceCode = input.service ? SERVICE_OF.get(input.service.trim().toLowerCase()) : undefined
    if (!serviceCode) throw new Refusal('BAD_SERVICE')
    const countryCode = input.country !== undefined ? COUNTRY_OF.get(input.country.trim()) : undefined
    if (!countryCode) throw new Refusal('BAD_COUNTRY')
    if (input.forward) throw new Refusal('NO_NUMBERS')
    if (input.maxPrice !== undefined) {
      const cheapest = await this.cheapest(serviceCode, countryCode)
      if (cheapest !== null && cheapest > input.maxPrice) throw new Refusal('WRONG_MAX_PRICE', cheapest)
    }
    // The engine tries only offers within maxPrice, so a failover never buys above it either.
    const record = await this.deps.activations.purchase(ctx, { serviceCode, countryCode, maxPrice: input.maxPrice })
    return { record, alias: await this.aliasOf(record.id), countryId: COUNTRY_ID_OF.get(record.countryCode) ?? '' }
  }

  /** getStatus: the activation's state in the protocol's words. */
  async status(ctx: RequestContext, id: string | undefined): Promise<string> {
    const alias = await this.alias(ctx, id, 'NO_ACTIVATION')
    const { record, sms } = await this.deps.activations.get(ctx, alias.activationId)
    // The protocol reports a completed activation as over, like a cancelled one.
    if (record.status === 'cancelled' || record.status === 'expired' || record.status === 'completed') return 'STATUS_CANCEL'
    const received = sms.filter((s) => s.code || s.text)
    const latest = received.at(-1)
    if (!latest) return 'STATUS_WAIT_CODE'
    if (alias.retryAt) {
      // Another code was asked for: the last one stands until an SMS newer than the ask arrives.
      const fresh = received.filter((s) => s.receivedAt.getTime() > alias.retryAt!.getTime())
      if (!fresh.length) return `STATUS_WAIT_RETRY:${answerOf(latest)}`
      return `STATUS_OK:${answerOf(fresh.at(-1)!)}`
    }
    return `STATUS_OK:${answerOf(latest)}`
  }

  /** setStatus: 1 ready, 3 another code, 6 complete, 8 (or the older -1) cancel. */
  async setStatus(ctx: RequestContext, id: string | undefined, status: string | undefined): Promise<string> {
    const alias = await this.alias(ctx, id, 'WRONG_ACTIVATION_ID')
    switch (status?.trim()) {
      case '1': {
        const { record } = await this.deps.activations.get(ctx, alias.activationId)
        if (record.status !== 'active' && record.status !== 'sms_received') throw new Refusal('BAD_STATUS')
        return 'ACCESS_READY'
      }
      case '3': {
        const { record } = await this.deps.activations.get(ctx, alias.activationId)
        if (record.status !== 'sms_received') throw new Refusal('BAD_STATUS')
        await this.deps.db
          .update(activationAliases)
          .set({ retryAt: new Date(this.now()) })
          .where(and(eq(activationAliases.id, alias.id), eq(activationAliases.userId, ctx.accountId)))
        return 'ACCESS_RETRY_GET'
      }
      case '6':
        await this.deps.activations.complete(ctx, alias.activationId).catch(refuseConflict)
        return 'ACCESS_ACTIVATION'
      case '8':
      case '-1':
        return this.cancel(ctx, alias.activationId)
      default:
        throw new Refusal('BAD_STATUS')
    }
  }

  /** getActiveActivations: the caller's activations still running (waiting, or with a code), newest first. */
  async active(ctx: RequestContext): Promise<ActiveActivation[]> {
    const [waiting, received] = await Promise.all((['active', 'sms_received'] as const).map((status) => this.deps.activations.list(ctx, { page: 1, limit: 100, status })))
    const rows = [...waiting!.rows, ...received!.rows].sort((a, b) => b.record.createdAt.getTime() - a.record.createdAt.getTime())
    if (!rows.length) return []
    const aliases = await this.deps.db
      .select({ id: activationAliases.id, activationId: activationAliases.activationId })
      .from(activationAliases)
      .where(
        and(
          inArray(
            activationAliases.activationId,
            rows.map((r) => r.record.id),
          ),
          eq(activationAliases.userId, ctx.accountId),
        ),
      )
    const byActivation = new Map(aliases.map((a) => [a.activationId, a.id]))
    return rows.flatMap((r) => {
      const alias = byActivation.get(r.record.id)
      return alias === undefined ? [] : [{ alias, record: r.record, code: r.code }]
    })
  }

  /**
   * getPrices / getNumbersStatus: per country id and short service, the cheapest price and the
   * stock of the offers a purchase would try (active, healthy providers with stock). Offers
   * whose country or service has no protocol code are left out.
   */
  async prices(filter: { country?: string; service?: string } = {}): Promise<PriceTable> {
    const countryCode = filter.country !== undefined ? COUNTRY_OF.get(filter.country.trim()) : undefined
    if (filter.country !== undefined && !countryCode) throw new Refusal('BAD_COUNTRY')
    const serviceCode = filter.service !== undefined ? SERVICE_OF.get(filter.service.trim().toLowerCase()) : undefined
    if (filter.service !== undefined && !serviceCode) throw new Refusal('BAD_SERVICE')
    const rows = await this.deps.db
      .select({ countryCode: offers.countryCode, serviceCode: offers.serviceCode, cost: sql<number>`min(${offers.price})`, count: sql<number>`sum(${offers.stock})` })
      .from(offers)
      .innerJoin(providers, eq(providers.id, offers.providerId))
      .where(
        and(
          eq(providers.status, 'active'),
          eq(providers.healthy, true),
          gt(offers.stock, 0),
          countryCode ? eq(offers.countryCode, countryCode) : undefined,
          serviceCode ? eq(offers.serviceCode, serviceCode) : undefined,
        ),
      )
      .groupBy(offers.countryCode, offers.serviceCode)
      .orderBy(asc(offers.countryCode), asc(offers.serviceCode))
    const table: PriceTable = {}
    for (const r of rows) {
      const country = COUNTRY_ID_OF.get(r.countryCode)
      const short = SHORT_OF.get(r.serviceCode)
      if (country === undefined || !short) continue
      table[country] ??= {}
      table[country][short] = { cost: Number(r.cost), count: Number(r.count) }
    }
    return table
  }

  private async cancel(ctx: RequestContext, activationId: string): Promise<string> {
    const { record } = await this.deps.activations.get(ctx, activationId)
    // Cancelling again answers as the first cancel did; the engine refunds once.
    if (record.status === 'cancelled' || record.status === 'expired') return 'ACCESS_CANCEL'
    if (record.status === 'active' && this.now() - record.createdAt.getTime() < EARLY_CANCEL_MS) throw new Refusal('EARLY_CANCEL_DENIED')
    try {
      await this.deps.activations.cancel(ctx, activationId)
    } catch (e) {
      // A concurrent cancel (or the expiry) got there first: the activation is over and refunded once.
      if (e instanceof Conflict && e.code === 'ACTIVATION_NOT_ACTIVE' && ['cancelled', 'expired'].includes((e.details as { status?: string } | undefined)?.status ?? '')) return 'ACCESS_CANCEL'
      refuseConflict(e)
    }
    return 'ACCESS_CANCEL'
  }

  /** The alias row of `id` if it is the caller's; `word` when the id is not an integer or not theirs. */
  private async alias(ctx: RequestContext, id: string | undefined, word: string) {
    const n = id?.trim() ?? ''
    if (!/^\d{1,15}$/.test(n)) throw new Refusal(word)
    const row = await this.deps.db
      .select()
      .from(activationAliases)
      .where(and(eq(activationAliases.id, Number(n)), eq(activationAliases.userId, ctx.accountId)))
      .get()
    if (!row) throw new Refusal('NO_ACTIVATION')
    return row
  }

  private async aliasOf(activationId: string): Promise<number> {
    const row = await this.deps.db.select({ id: activationAliases.id }).from(activationAliases).where(eq(activationAliases.activationId, activationId)).get()
    if (!row) throw new Error(`activation ${activationId} has no alias`)
    return row.id
  }

  private async cheapest(serviceCode: string, countryCode: string): Promise<number | null> {
    const row = await this.deps.db
      .select({ price: sql<number | null>`min(${offers.price})` })
      .from(offers)
      .innerJoin(providers, eq(providers.id, offers.providerId))
      .where(and(eq(offers.serviceCode, serviceCode), eq(offers.countryCode, countryCode), eq(providers.status, 'active'), eq(providers.healthy, true), gt(offers.stock, 0)))
      .get()
    return row?.price ?? null
  }
}

/** The code of an SMS, or its text when no code was read from it. */
function answerOf(s: Pick<SmsRecord, 'code' | 'text'>): string {
  return s.code ?? s.text.replace(/[\r\n]+/g, ' ')
}

/** The engine's refusals of a status change (no SMS yet, already has one, not active) are BAD_STATUS. */
function refuseConflict(e: unknown): never {
  if (e instanceof Conflict) throw new Refusal('BAD_STATUS')
  throw e
}

/** Our country and service codes as the protocol's (null when it has none). */
export function protocolCodes(countryCode: string, serviceCode: string): { countryId: string | null; service: string | null } {
  return { countryId: COUNTRY_ID_OF.get(countryCode) ?? null, service: SHORT_OF.get(serviceCode) ?? null }
}

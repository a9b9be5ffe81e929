/**
 * DIDs (the DID API): search of the inventory, the account's numbers, their configuration and
 * their release. Purchases are orders (purchase.service.ts).
 *
 * Invariants:
 * - Every query on owned numbers is scoped by `user_id`: another account's number is a 404.
 * - Hot paths are single round trips: a filtered list, its count and the account summary go in
 *   one D1 batch; no query runs inside a loop; every filter and sort starts from an index on
 *   (user_id, …) or (country_code, …) — test/modules/dids/query-plans.test.ts checks the plans.
 * - A released number goes back on sale (its inventory row `sold` → `available`); the provider
 *   sync retires it if the upstream no longer lists it.
 * - A release happens once: the row moves to `released` only from a live status, and its
 *   NUMBER_RELEASED event has an id derived from the row (`evt_rel_<id>`), so a repeated or
 *   concurrent release (user + sweeper) writes one event.
 * - Search lists numbers of the inventory that are `available` and not held by another
 *   account's client reservation (number_reservations); a purchase that is only in flight is
 *   not visible here — NumberLock refuses the second buyer at purchase time.
 */
import { and, asc, count, eq, isNotNull, lte, ne, or, sql, type SQL } from 'drizzle-orm'
import { didInventory, numberConfigurations, numberReservations, phoneNumbers, type DidInventory, type PhoneNumber } from '../../db/schema'
import { AppError, Conflict, NotFound } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { toMicros } from '../../lib/money'
import { runBatch, type Stmt } from '../../db/batch'
import type { ConfigureNumberBody, ListNumbersQuery, ReleaseNumberBody, SearchQuery, UpdateNumberBody } from './schemas'
import { callsByNumber, callsPerNumberQuery, NO_CALLS, type NumberCalls } from '../usage/call-records'
import type { RequestContext } from '../../lib/context'
import { DidsQueries, LIVE, type DidsDeps } from './dids.queries'
import { NumberRelease } from './number-release'

export type { DidsDeps }

export interface SmsCounts {
  totalSms: number
  monthlySms: number
}

/** A number's calls as the view needs them: all of them, and this calendar month's minutes. */
export interface CallCounts {
  totalCalls: number
  thisMonth: { minutes: number }
}

export type NumberConfiguration = typeof numberConfigurations.$inferSelect

/** Numbers of the inventory that match a search (views.ts shapes the answer). */
export interface SearchResult {
  numbers: DidInventory[]
  total: number
  hasMore: boolean
  suggestions?: { alternativeAreaCodes: string[]; nearbyRegions: string[] }
}

/** A number with its SMS received and its calls (absent: none). */
export interface NumberWithUsage {
  number: PhoneNumber
  sms: SmsCounts
  calls?: CallCounts
}

/** A number with its configurations, its SMS of all time, this and last month, and its calls. */
export interface NumberDetailsRecord {
  number: PhoneNumber
  configurations: NumberConfiguration[]
  sms: { total: number; thisMonth: number; lastMonth: number }
  calls: NumberCalls
}

/** The account's live-number counters (monthlyTotal in micro-units). */
export interface NumberStats {
  live: number
  active: number
  monthlyTotal: number
}

const KEYPAD: Record<string, string> = {}
for (const [digit, letters] of Object.entries({ 2: 'abc', 3: 'def', 4: 'ghi', 5: 'jkl', 6: 'mno', 7: 'pqrs', 8: 'tuv', 9: 'wxyz' })) {
  for (const ch of letters) KEYPAD[ch] = digit
}

/**
 * Twilio's `contains` as a GLOB on the E.164 text: `*` is one digit, letters are keypad digits,
 * matched anywhere — or from the start when the pattern begins with `+`.
 */
export function containsGlob(pattern: string): string {
  const anchored = pattern.startsWith('+')
  let body = ''
  for (const ch of pattern.replace(/^\+/, '').toLowerCase()) {
    if (ch >= '0' && ch <= '9') body += ch
    else if (ch === '*') body += '[0-9]'
    else if (KEYPAD[ch]) body += KEYPAD[ch]
  }
  return anchored ? `+${body}*` : `*${body}*`
}

export class DidsService extends DidsQueries {
  private readonly releases: NumberRelease

  constructor(deps: DidsDeps) {
    super(deps)
    this.releases = new NumberRelease(deps)
  }

  // ---- search -------------------------------------------------------------------------------

  /** The WHERE of a search: indexed by (country_code, status, number_type, monthly_price). */
  searchWhere(userId: string, q: SearchQuery, now = Date.now()): SQL {
    const inv = didInventory
    const conds: (SQL | undefined)[] = [eq(inv.countryCode, q.countryCode), eq(inv.status, 'available')]
    if (q.numberType) conds.push(eq(inv.numberType, q.numberType))
    if (q.areaCode) conds.push(eq(inv.areaCode, q.areaCode))
    if (q.priceMax !== undefined) conds.push(lte(inv.monthlyPrice, toMicros(q.priceMax)))
    if (q.excludeRestricted) conds.push(sql`${inv.restrictions} = '[]'`)
    for (const cap of q.capabilities ?? []) conds.push(sql`instr(${inv.capabilities}, ${`"${cap}"`}) > 0`)
    if (q.contains) conds.push(sql`${inv.phoneNumber} GLOB ${containsGlob(q.contains)}`)
    // Numbers another account has reserved (client reservations) are not offered.
    conds.push(
      sql`not exists (select 1 from ${numberReservations} where ${numberReservations.phoneNumber} = ${inv.phoneNumber} and ${numberReservations.status} = 'active' and ${numberReservations.expiresAt} > ${now} and ${numberReservations.userId} <> ${userId})`,
    )
    return and(...conds)!
  }

  searchQuery(userId: string, q: SearchQuery, now = Date.now()) {
    return this.db
      .select()
      .from(didInventory)
      .where(this.searchWhere(userId, q, now))
      .orderBy(asc(didInventory.monthlyPrice), asc(didInventory.phoneNumber))
      .limit(q.limit)
  }

  async search(ctx: RequestContext, q: SearchQuery): Promise<SearchResult> {
    const userId = ctx.accountId
    const now = Date.now()
    const where = this.searchWhere(userId, q, now)
    const [rows, totals] = await this.db.batch([this.searchQuery(userId, q, now), this.db.select({ n: count() }).from(didInventory).where(where)])
    const total = totals[0]?.n ?? 0
    const out: SearchResult = { numbers: rows, total, hasMore: total > rows.length }
    if (!rows.length) out.suggestions = await this.suggestions(q)
    return out
  }

  /** Other area codes and regions of the country that have numbers for sale. */
  private async suggestions(q: SearchQuery) {
    const inv = didInventory
    const base = and(eq(inv.countryCode, q.countryCode), eq(inv.status, 'available'))
    const [areas, regions] = await this.db.batch([
      this.db
        .selectDistinct({ areaCode: inv.areaCode })
        .from(inv)
        .where(and(base, isNotNull(inv.areaCode), q.areaCode ? ne(inv.areaCode, q.areaCode) : undefined, q.numberType ? eq(inv.numberType, q.numberType) : undefined))
        .orderBy(asc(inv.areaCode))
        .limit(10),
      this.db
        .selectDistinct({ region: inv.region })
        .from(inv)
        .where(and(base, isNotNull(inv.region), q.areaCode ? or(ne(inv.areaCode, q.areaCode), sql`${inv.areaCode} is null`) : undefined))
        .orderBy(asc(inv.region))
        .limit(10),
    ])
    return { alternativeAreaCodes: areas.map((a) => a.areaCode!), nearbyRegions: regions.map((r) => r.region!) }
  }

  // ---- the account's numbers ----------------------------------------------------------------

  /**
   * One page of the account's numbers. Without filters the page's total is the live count of the
   * summary row, so no count runs: the answer reads ~page-size rows whether the account holds a
   * hundred numbers or ten thousand (npm run bench: numbers-100 vs numbers-10k).
   */
  async list(ctx: RequestContext, q: ListNumbersQuery): Promise<{ rows: NumberWithUsage[]; total: number; stats: NumberStats }> {
    const userId = ctx.accountId
    const now = Date.now()
    const filtered = Boolean(q.status?.length || q.numberType?.length || q.search || q.tags?.length)
    const [rows, summary, calls, totals] = await this.db.batch([
      this.listQuery(userId, q, now),
      this.summaryQuery(userId),
      // The page's numbers' calls: call records of those numbers only (usage_records_user_type_resource_idx).
      callsPerNumberQuery(this.db, userId, this.pageIds(userId, q), now),
      ...(filtered ? [this.db.select({ n: count() }).from(phoneNumbers).where(this.listWhere(userId, q))] : []),
    ] as const)
    const s = summary[0]
    const byNumber = callsByNumber(calls)
    return {
      rows: rows.map((r) => ({ number: r.n, sms: { totalSms: r.totalSms, monthlySms: r.monthlySms }, calls: byNumber.get(r.n.id) })),
      total: filtered ? (totals?.[0]?.n ?? 0) : (s?.live ?? 0),
      // The account's live numbers, whatever the filters: what it owns and pays each month.
      stats: { live: s?.live ?? 0, active: s?.active ?? 0, monthlyTotal: s?.monthlyTotal ?? 0 },
    }
  }

  /** One number with its usage (SMS and calls, one batch), for the answers that show one number. */
  private async withUsage(userId: string, n: PhoneNumber, now = Date.now()): Promise<NumberWithUsage> {
    const [sms, calls] = await this.db.batch([this.smsQuery(userId, n.id, now), callsPerNumberQuery(this.db, userId, [n.id], now)])
    const s = sms[0]
    return { number: n, sms: { totalSms: s?.total ?? 0, monthlySms: Number(s?.thisMonth ?? 0) }, calls: callsByNumber(calls).get(n.id) }
  }

  async get(ctx: RequestContext, id: string, now = Date.now()): Promise<NumberDetailsRecord> {
    const userId = ctx.accountId
    const [rows, configs, sms, calls] = await this.db.batch([
      this.db
        .select()
        .from(phoneNumbers)
        .where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId))),
      this.db
        .select()
        .from(numberConfigurations)
        .where(and(eq(numberConfigurations.phoneNumberId, id), eq(numberConfigurations.userId, userId)))
        .orderBy(asc(numberConfigurations.createdAt), asc(numberConfigurations.id)),
      this.smsQuery(userId, id, now),
      callsPerNumberQuery(this.db, userId, [id], now),
    ])
    const n = rows[0]
    if (!n) throw new NotFound('Number')
    return {
      number: n,
      configurations: configs,
      sms: sms[0] ?? { total: 0, thisMonth: 0, lastMonth: 0 },
      calls: callsByNumber(calls).get(id) ?? { numberId: id, ...NO_CALLS },
    }
  }

  private async owned(userId: string, id: string): Promise<PhoneNumber> {
    const n = await this.db
      .select()
      .from(phoneNumbers)
      .where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId)))
      .get()
    if (!n) throw new NotFound('Number')
    return n
  }

  /** Only the whitelisted fields of UpdateNumberRequest; `configuration` merges into `features`. */
  async update(ctx: RequestContext, id: string, patch: UpdateNumberBody): Promise<NumberDetailsRecord> {
    const userId = ctx.accountId
    const set: Record<string, unknown> = {}
    if (patch.friendlyName !== undefined) set.friendlyName = patch.friendlyName || null
    if (patch.voiceUrl !== undefined) set.voiceUrl = patch.voiceUrl
    if (patch.voiceMethod !== undefined) set.voiceMethod = patch.voiceMethod
    if (patch.voiceFallbackUrl !== undefined) set.voiceFallbackUrl = patch.voiceFallbackUrl
    if (patch.smsUrl !== undefined) set.smsUrl = patch.smsUrl
    if (patch.statusCallback !== undefined) set.statusCallback = patch.statusCallback
    if (patch.tags !== undefined) set.tags = [...new Set(patch.tags)]
    if (patch.notes !== undefined) set.notes = patch.notes
    if (patch.configuration && Object.keys(patch.configuration).length) {
      set.features = sql`json_patch(${phoneNumbers.features}, ${JSON.stringify(patch.configuration)})`
    }
    if (!Object.keys(set).length) return this.get(ctx, id)
    const row = await this.db
      .update(phoneNumbers)
      .set({ ...set, updatedAt: new Date() } as typeof phoneNumbers.$inferInsert)
      .where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId), LIVE))
      .returning({ id: phoneNumbers.id })
      .get()
    if (!row) {
      await this.owned(userId, id)
      throw new Conflict('NUMBER_RELEASED', 'The number has been released and can no longer be changed')
    }
    return this.get(ctx, id)
  }

  /** Adds a named configuration; `makeDefault` makes it the only active one (one batch). */
  async configure(ctx: RequestContext, id: string, body: ConfigureNumberBody): Promise<NumberConfiguration> {
    const userId = ctx.accountId
    const n = await this.owned(userId, id)
    if (n.status === 'released') throw new Conflict('NUMBER_RELEASED', 'The number has been released and can no longer be configured')
    const now = new Date()
    const cfg = body.configuration
    const row: NumberConfiguration = {
      id: newId('cfg'),
      phoneNumberId: id,
      userId,
      name: cfg.name,
      isActive: body.makeDefault === true,
      routingRules: cfg.routingRules,
      schedule: cfg.schedule ?? null,
      features: cfg.features,
      createdAt: now,
    }
    const stmts: Stmt[] = []
    if (body.makeDefault) {
      stmts.push(
        this.db
          .update(numberConfigurations)
          .set({ isActive: false })
          .where(and(eq(numberConfigurations.phoneNumberId, id), eq(numberConfigurations.userId, userId), eq(numberConfigurations.isActive, true))),
      )
    }
    stmts.push(this.db.insert(numberConfigurations).values(row))
    if (body.makeDefault) {
      stmts.push(
        this.db
          .update(phoneNumbers)
          .set({ features: sql`json_patch(${phoneNumbers.features}, ${JSON.stringify(cfg.features)})` as unknown as Record<string, boolean>, updatedAt: now })
          .where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId))),
      )
    }
    await runBatch(this.db, stmts)
    return row
  }

  // ---- release ------------------------------------------------------------------------------

  /** Now, or at `releaseDate` (the sweeper releases it then). Releasing a released number is a no-op. */
  async release(ctx: RequestContext, id: string, body: ReleaseNumberBody, now = Date.now()): Promise<NumberWithUsage> {
    const userId = ctx.accountId
    if (body.transferTo) {
      throw new AppError(400, 'TRANSFER_NOT_SUPPORTED', 'Transferring a number to another account is not supported; release it instead', undefined, 'transferTo')
    }
    const n = await this.owned(userId, id)
    if (n.status === 'released') return this.withUsage(userId, n, now)
    const when = body.releaseDate ? Date.parse(body.releaseDate) : null
    if (when !== null && when > now) {
      const row = await this.db
        .update(phoneNumbers)
        .set({ releaseAt: new Date(when), releaseReason: body.reason ?? null, updatedAt: new Date(now) })
        .where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId), LIVE))
        .returning()
        .get()
      return this.withUsage(userId, row ?? (await this.owned(userId, id)), now)
    }
    const { failed } = await this.releaseNow([{ ...n, releaseReason: body.reason ?? n.releaseReason }], now)
    if (failed.length) throw failed[0]!.error
    return this.withUsage(userId, await this.owned(userId, id), now)
  }

  /** Sweeper step: numbers whose scheduled release has passed (number-release.ts). */
  releaseDue(now: number) {
    return this.releases.releaseDue(now)
  }

  /** Upstream release (per number), then one batch (number-release.ts). A number whose upstream release fails stays as it was. */
  releaseNow(rows: PhoneNumber[], now: number, reason?: string) {
    return this.releases.releaseNow(rows, now, reason)
  }
}

/**
 * DIDs (the DID API): search of the inventory, the account's numbers, their configuration and
 * their release. Purchases are orders (src/modules/orders/purchase.service.ts).
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
import { noteEvent } from '../events/outbox'
import { and, asc, count, desc, eq, inArray, isNotNull, lte, ne, or, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { accountNumberStats, didInventory, numberConfigurations, numberReservations, outbox, phoneNumbers, providers, smsMessages, type DidInventory, type PhoneNumber, type Provider } from '../../db/schema'
import { AppError, Conflict, NotFound, UpstreamError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { toMicros } from '../../lib/money'
import type { DidProvider } from '../../providers/numbers/types'
import type { NumberLockService } from '../number-locks/number-lock.service'
import type { ProvidersService } from '../providers/providers.service'
import { errorText, insertChunks, likeEscape, runBatch, type Stmt } from '../../db/batch'
import type { ConfigureNumberBody, ListNumbersQuery, ReleaseNumberBody, SearchQuery, UpdateNumberBody } from './schemas'
import type { CallCounts, SmsCounts } from './views'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import { callsByNumber, callsPerNumberQuery, NO_CALLS, type NumberCalls } from '../usage/call-records'
import type { RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'

export interface DidsDeps {
  db: Db
  locks: NumberLockService
  providers: ProvidersService
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

const monthStart = (now: number, back = 0) => {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1)
}

const LIVE = ne(phoneNumbers.status, 'released')
const RELEASE_BATCH = 100

export class DidsService {
  constructor(private readonly deps: DidsDeps) {}

  private get db() {
    return this.deps.db
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

  /** Released numbers are listed only when the status filter asks for them. */
  listWhere(userId: string, q: ListNumbersQuery): SQL {
    const pn = phoneNumbers
    const conds: (SQL | undefined)[] = [eq(pn.userId, userId), q.status?.length ? inArray(pn.status, q.status) : LIVE]
    if (q.numberType?.length) conds.push(inArray(pn.numberType, q.numberType))
    if (q.search) {
      const p = `%${likeEscape(q.search)}%`
      conds.push(sql`(${pn.phoneNumber} like ${p} escape '\\' or ${pn.friendlyName} like ${p} escape '\\')`)
    }
    for (const tag of q.tags ?? []) conds.push(sql`exists (select 1 from json_each(${pn.tags}) where json_each.value = ${tag})`)
    return and(...conds)!
  }

  private listOrder(q: ListNumbersQuery) {
    const pn = phoneNumbers
    const column = { phoneNumber: pn.phoneNumber, createdAt: pn.createdAt, monthlyPrice: pn.monthlyPrice, lastUsed: pn.lastUsedAt }[q.sortBy]
    const dir = q.sortOrder === 'asc' ? asc : desc
    return [dir(column), dir(pn.id)] as const
  }

  /** The ids of the page's numbers (the page query's WHERE, order and window), as a subquery. */
  pageIds(userId: string, q: ListNumbersQuery) {
    return this.db
      .select({ id: phoneNumbers.id })
      .from(phoneNumbers)
      .where(this.listWhere(userId, q))
      .orderBy(...this.listOrder(q))
      .limit(q.limit)
      .offset((q.page - 1) * q.limit)
  }

  /** The page query (with per-number SMS counts); exported for the query-plan test. */
  listQuery(userId: string, q: ListNumbersQuery, now = Date.now()) {
    const pn = phoneNumbers
    return this.db
      .select({
        n: pn,
        // Written out: inside a selection drizzle leaves columns unqualified, which would bind them to sms_messages.
        totalSms: sql<number>`(select count(*) from sms_messages s where s.phone_number_id = "phone_numbers"."id")`,
        monthlySms: sql<number>`(select count(*) from sms_messages s where s.phone_number_id = "phone_numbers"."id" and s.received_at >= ${monthStart(now)})`,
      })
      .from(pn)
      .where(this.listWhere(userId, q))
      .orderBy(...this.listOrder(q))
      .limit(q.limit)
      .offset((q.page - 1) * q.limit)
  }

  /** The account's live-number counters, kept by triggers on phone_numbers (schema: accountNumberStats). */
  summaryQuery(userId: string) {
    return this.db.select().from(accountNumberStats).where(eq(accountNumberStats.userId, userId))
  }

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

  /** A number's SMS received: all, this and last calendar month (UTC). */
  private smsQuery(userId: string, id: string, now: number) {
    const thisMonth = monthStart(now)
    const lastMonth = monthStart(now, 1)
    const sm = smsMessages
    return this.db
      .select({
        total: count(),
        thisMonth: sql<number>`coalesce(sum(case when ${sm.receivedAt} >= ${thisMonth} then 1 else 0 end), 0)`,
        lastMonth: sql<number>`coalesce(sum(case when ${sm.receivedAt} >= ${lastMonth} and ${sm.receivedAt} < ${thisMonth} then 1 else 0 end), 0)`,
      })
      .from(sm)
      .where(and(eq(sm.phoneNumberId, id), eq(sm.userId, userId)))
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
      this.db.select().from(phoneNumbers).where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId))),
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
    const n = await this.db.select().from(phoneNumbers).where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId))).get()
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

  /** Sweeper step: numbers whose scheduled release has passed. One select, one batch. */
  async releaseDue(now: number) {
    const due = await this.db
      .select()
      .from(phoneNumbers)
      .where(and(lte(phoneNumbers.releaseAt, new Date(now)), LIVE))
      .orderBy(asc(phoneNumbers.releaseAt))
      .limit(RELEASE_BATCH)
      .all()
    if (!due.length) return { released: 0, failed: 0 }
    const { released, failed } = await this.releaseNow(due, now)
    for (const f of failed) {
      logger.error('release failed', { job: 'sweeper', step: 'releases', numberId: f.row.id, error: errorText(f.error) })
    }
    return { released: released.length, failed: failed.length }
  }

  /**
   * Upstream release (per number), then one batch: the rows → released, their NUMBER_RELEASED
   * events; then the NumberLocks. A number whose upstream release fails stays as it was.
   */
  async releaseNow(rows: PhoneNumber[], now: number, reason?: string) {
    const provs = await this.db.select().from(providers).where(inArray(providers.id, [...new Set(rows.map((r) => r.providerId))])).all()
    const byId = new Map(provs.map((p) => [p.id, p]))
    const adapters = new Map<string, DidProvider | undefined>()
    const released: PhoneNumber[] = []
    const failed: { row: PhoneNumber; error: Error }[] = []
    for (const row of rows) {
      try {
        if (row.upstreamId) {
          const p = byId.get(row.providerId)
          if (!p) throw new UpstreamError(row.providerId, 'provider not found')
          const did = this.didAdapter(p, adapters)
          if (!did) throw new UpstreamError(p.code, 'provider sells no DIDs')
          await did.release(row.upstreamId)
        }
        released.push(row)
      } catch (e) {
        failed.push({ row, error: e instanceof AppError ? e : new UpstreamError('provider', (e as Error).message) })
      }
    }
    if (released.length) {
      const at = new Date(now)
      // Locks first: if the batch below fails, the inventory stays `sold` and nobody can buy the
      // number; the other way round, a crash in between would leave a confirmed lock on a released
      // number forever.
      await Promise.all(
        released.map((r) =>
          this.deps.locks
            .of(r.phoneNumber)
            .release(r.userId)
            .catch((e: unknown) => logger.error('release: lock release failed', { phoneNumber: r.phoneNumber, error: errorText(e) })),
        ),
      )
      const stmts: Stmt[] = released.map((r) =>
        this.db
          .update(phoneNumbers)
          .set({ status: 'released', releasedAt: at, releaseAt: null, releaseReason: reason ?? r.releaseReason ?? null, nextRenewalAt: null, updatedAt: at })
          .where(and(eq(phoneNumbers.id, r.id), LIVE)),
      )
      const events = released.map((r) => ({
              id: noteEvent(releaseEventId(r.id)),
              type: 'NUMBER_RELEASED',
              userId: r.userId,
              payload: {
                numberId: r.id,
                phoneNumber: r.phoneNumber,
                numberType: r.numberType,
                orderId: r.orderId ?? undefined,
                reason: reason ?? r.releaseReason ?? undefined,
                releasedAt: at.toISOString(),
              },
              createdAt: at,
              sentAt: null,
            }))
      // Chunked: one statement may bind at most 100 parameters.
      for (const chunk of insertChunks(outbox, events)) stmts.push(this.db.insert(outbox).values(chunk).onConflictDoNothing())
      // Back on sale: the provider sync never revives a `sold` row, and retires it if the upstream stops listing it.
      for (const phones of chunk(released.map((r) => r.phoneNumber), IDS_PER_STATEMENT)) {
        stmts.push(
          this.db
            .update(didInventory)
            .set({ status: 'available', updatedAt: at })
            .where(and(inArray(didInventory.phoneNumber, phones), eq(didInventory.status, 'sold'))),
        )
      }
      await runBatch(this.db, stmts)
    }
    return { released, failed }
  }

  private didAdapter(p: Provider, cache: Map<string, DidProvider | undefined>) {
    if (!cache.has(p.id)) cache.set(p.id, this.deps.providers.adapters(p).did)
    return cache.get(p.id)
  }
}

/** One NUMBER_RELEASED event per number row, however often its release runs. */
export const releaseEventId = (numberId: string) => `evt_rel_${numberId}`

/**
 * The queries on the account's numbers that the DID verbs batch (dids.service.ts): a list page,
 * its WHERE and its ids, the account's summary row and a number's SMS counts. DidsService extends
 * this class, so the verbs and the query-plan tests reach them as methods of the service.
 */
import { and, asc, count, desc, eq, inArray, ne, sql, type SQL } from 'drizzle-orm'
import { accountNumberStats, phoneNumbers, smsMessages } from '../../db/schema'
import { likeEscape } from '../../db/batch'
import type { ListNumbersQuery } from './schemas'
import type { Db } from '../../db/client'
import type { NumberLockService } from '../number-locks/number-lock.service'
import type { ProvidersService } from '../providers/providers.service'

/** What the DID services use (DidsService, its queries and its releases). */
export interface DidsDeps {
  db: Db
  locks: NumberLockService
  providers: ProvidersService
}

const monthStart = (now: number, back = 0) => {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1)
}

export const LIVE = ne(phoneNumbers.status, 'released')

export class DidsQueries {
  constructor(protected readonly deps: DidsDeps) {}

  protected get db() {
    return this.deps.db
  }

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

  /** A number's SMS received: all, this and last calendar month (UTC). */
  protected smsQuery(userId: string, id: string, now: number) {
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
}

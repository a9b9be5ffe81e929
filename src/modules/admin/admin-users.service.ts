/**
 * Admin user management (under /api/admin/users and /api/v1/admin/users). Each change and its
 * audit entry are written in one D1 batch. Admins cannot suspend, ban, reactivate or re-role themselves — that is
 * how the last admin would lock everyone out. The list and the details show each account's
 * figures from its data (numbers, orders, calls, SMS, spending): a list page is one statement,
 * the details one batch.
 */
import { apiKeyCache } from '../auth/authn.service'
import { and, asc, count, desc, eq, gt, inArray, isNull, lte, or, sql, type SQL } from 'drizzle-orm'
import type { AnySQLiteColumn } from 'drizzle-orm/sqlite-core'
import type { Db } from '../../db/client'
import { accountNumberStats, apiKeys, orders, sessions, smsMessages, usageRecords, users, walletLedger, type User } from '../../db/schema'
import { Conflict, Forbidden, NotFound } from '../../lib/errors'
import type { Mailer } from '../../providers/mailer/mailer'
import type { AuditService } from '../audit/audit.service'
import { actingUserId, type RequestContext } from '../../lib/context'
import type { Role } from '../../lib/principal'
import { callCount, callMinutes, callRecords } from '../usage/call-records'
import { netSpend, spendEntry } from '../wallet/spend'

export type StatusFilter = 'active' | 'suspended' | 'banned' | 'inactive'

export interface ListUsersQuery {
  page: number
  limit: number
  search?: string
  roles?: Role[]
  status?: StatusFilter
  sortBy: 'createdAt' | 'lastLoginAt' | 'email'
  sortOrder: 'asc' | 'desc'
}

const SORT = { createdAt: users.createdAt, lastLoginAt: users.lastLoginAt, email: users.email } as const

function statusWhere(status: StatusFilter, now: Date): SQL | undefined {
  const expired = and(eq(users.status, 'suspended'), lte(users.suspendedUntil, now))
  switch (status) {
    case 'active':
      return or(eq(users.status, 'active'), expired)
    case 'suspended':
      return and(eq(users.status, 'suspended'), or(isNull(users.suspendedUntil), gt(users.suspendedUntil, now)))
    default:
      return eq(users.status, status)
  }
}

export class AdminUsersService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditService,
    private readonly mailer: Mailer,
  ) {}

  private listWhere(q: ListUsersQuery, now: Date): SQL | undefined {
    const filters: (SQL | undefined)[] = []
    if (q.search) {
      const pattern = `%${q.search.replace(/[%_\\]/g, (m) => `\\${m}`)}%`
      const matches = (col: AnySQLiteColumn) => sql`${col} LIKE ${pattern} ESCAPE '\\'`
      filters.push(or(matches(users.email), matches(users.firstName), matches(users.lastName), matches(users.company)))
    }
    if (q.roles?.length) filters.push(inArray(users.role, q.roles))
    if (q.status) filters.push(statusWhere(q.status, now))
    return and(...filters)
  }

  /**
   * The page, each user with their figures, as ONE statement: numbers held from the
   * account_number_stats row (joined), orders and spending from correlated subqueries on
   * orders_user_created_idx and wallet_ledger_user_created_idx — a page of N users costs no
   * more round trips than one user. (The join also makes drizzle qualify the subqueries' columns.)
   */
  listQuery(q: ListUsersQuery, now = Date.now()) {
    const column = SORT[q.sortBy]
    const order = q.sortOrder === 'asc' ? asc(column) : desc(column)
    return this.db
      .select({
        user: users,
        totalNumbers: sql<number>`coalesce(${accountNumberStats.live}, 0)`,
        totalOrders: sql<number>`(select count(*) from ${orders} where ${orders.userId} = ${users.id})`,
        totalSpent: sql<number>`(select ${netSpend()} from ${walletLedger} where ${walletLedger.userId} = ${users.id} and ${spendEntry()})`,
      })
      .from(users)
      .leftJoin(accountNumberStats, eq(accountNumberStats.userId, users.id))
      .where(this.listWhere(q, new Date(now)))
      .orderBy(order, asc(users.id))
      .limit(q.limit)
      .offset((q.page - 1) * q.limit)
  }

  async list(q: ListUsersQuery) {
    const now = Date.now()
    const [rows, total] = await this.db.batch([
      this.listQuery(q, now),
      this.db
        .select({ n: count() })
        .from(users)
        .where(this.listWhere(q, new Date(now))),
    ])
    return {
      rows: rows.map((r) => ({ ...r.user, totals: { numbers: Number(r.totalNumbers), orders: Number(r.totalOrders), spent: Number(r.totalSpent) } })),
      total: total[0]?.n ?? 0,
    }
  }

  async get(id: string): Promise<User> {
    const user = await this.db.select().from(users).where(eq(users.id, id)).get()
    if (!user) throw new NotFound('User')
    return user
  }

  /**
   * The user and their statistics, from one D1 batch: numbers (account_number_stats), calls and
   * minutes (call records, as call analytics count them), SMS (reported SMS usage and SMS received),
   * spending (the wallet ledger copy, net of refunds, as admin revenue counts it; micro-units).
   */
  async details(id: string) {
    const now = new Date()
    const db = this.db
    const [found, keys, live, numbers, calls, sms, received, spent] = await db.batch([
      db.select().from(users).where(eq(users.id, id)),
      db
        .select({ n: count() })
        .from(apiKeys)
        .where(and(eq(apiKeys.userId, id), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)))),
      db
        .select({ n: count() })
        .from(sessions)
        .where(and(eq(sessions.userId, id), isNull(sessions.revokedAt), gt(sessions.expiresAt, now))),
      db.select().from(accountNumberStats).where(eq(accountNumberStats.userId, id)),
      db.select({ calls: callCount(), minutes: callMinutes() }).from(usageRecords).where(callRecords(id)),
      db
        .select({ n: sql<number>`coalesce(sum(${usageRecords.quantity}), 0)` })
        .from(usageRecords)
        .where(and(eq(usageRecords.userId, id), eq(usageRecords.resourceType, 'sms'))),
      db.select({ n: count() }).from(smsMessages).where(eq(smsMessages.userId, id)),
      db
        .select({ spent: netSpend() })
        .from(walletLedger)
        .where(and(eq(walletLedger.userId, id), spendEntry())),
    ])
    const user = found[0]
    if (!user) throw new NotFound('User')
    const activity = await this.audit.forTarget('user', id, 20)
    return {
      user,
      activeApiKeys: keys[0]?.n ?? 0,
      activeSessions: live[0]?.n ?? 0,
      numbers: { total: numbers[0]?.live ?? 0, active: numbers[0]?.active ?? 0 },
      calls: { calls: Number(calls[0]?.calls ?? 0), minutes: Number(calls[0]?.minutes ?? 0) },
      sms: Number(sms[0]?.n ?? 0) + (received[0]?.n ?? 0),
      spent: Number(spent[0]?.spent ?? 0),
      activity,
    }
  }

  async suspend(ctx: RequestContext, id: string, input: { reason: string; duration?: number; notifyUser?: boolean }) {
    const until = input.duration ? new Date(Date.now() + input.duration * 86_400_000) : null
    return this.change(ctx, id, 'user.suspended', (user) => {
      // A suspension may end by itself; turning a ban into one would quietly shorten the ban.
      if (user.status === 'banned') throw new Conflict('USER_BANNED', 'User is banned; reactivate the account before suspending it')
      return {
        set: { status: 'suspended', statusReason: input.reason, suspendedUntil: until },
        details: { reason: input.reason, durationDays: input.duration ?? null, until: until?.toISOString() ?? null },
        notice: input.notifyUser
          ? { subject: 'Your account has been suspended', text: `Your Switchboard account was suspended${until ? ` until ${until.toISOString()}` : ''}.\nReason: ${input.reason}` }
          : undefined,
      }
    })
  }

  /** The reason is optional: a ban without one records `null`. */
  async ban(ctx: RequestContext, id: string, input: { reason?: string; notifyUser?: boolean }) {
    const reason = input.reason ?? null
    return this.change(ctx, id, 'user.banned', () => ({
      set: { status: 'banned', statusReason: reason, suspendedUntil: null },
      details: { reason },
      notice: input.notifyUser ? { subject: 'Your account has been closed', text: `Your Switchboard account was banned.${reason ? `\nReason: ${reason}` : ''}` } : undefined,
    }))
  }

  async reactivate(ctx: RequestContext, id: string, input: { reason: string }) {
    return this.change(ctx, id, 'user.reactivated', () => ({
      set: { status: 'active', statusReason: null, suspendedUntil: null },
      details: { reason: input.reason },
    }))
  }

  async setRole(ctx: RequestContext, id: string, input: { role: Role; reason: string }) {
    return this.change(ctx, id, 'user.role_changed', (user) => ({
      set: { role: input.role },
      details: { reason: input.reason, from: user.role, to: input.role },
    }))
  }

  /** Reads the user, lets `plan` decide (or refuse) the change, then writes it with its audit entry. */
  private async change(ctx: RequestContext, id: string, action: string, plan: (user: User) => ChangePlan): Promise<User> {
    if (id === actingUserId(ctx)) throw new Forbidden('Admins cannot change the status or role of their own account')
    const user = await this.get(id)
    const { set, details, notice } = plan(user)
    const now = new Date()
    const [updated] = await this.db.batch([
      this.db
        .update(users)
        .set({ ...set, updatedAt: now })
        .where(eq(users.id, id))
        .returning(),
      this.audit.entry(ctx, action, 'user', id, details),
    ])
    // This isolate's kept API-key lookups of the account would carry its old status or role.
    apiKeyCache.forget({ userId: id })
    if (notice) await this.mailer.send({ to: user.email, userId: id, kind: 'account_notice', ...notice })
    return updated[0]!
  }
}

interface ChangePlan {
  set: Partial<Pick<User, 'status' | 'statusReason' | 'suspendedUntil' | 'role'>>
  details: Record<string, unknown>
  notice?: { subject: string; text: string }
}

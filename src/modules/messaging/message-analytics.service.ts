/**
 * Messaging analytics (seed 004): GET /api/v1/analytics/messages and GET /api/v1/analytics/usage,
 * answered from the account's `messages`, `projects` and `connectors` rows.
 *
 * Invariants:
 * - Every query is scoped by `user_id` (a `projectId` narrows it, never widens it) and starts from
 *   an index on it; each answer is one D1 round trip (one query, or one batch).
 * - Counting, as seed 004's example implies (sent = delivered + failed there): `sent` = messages
 *   that left the queue (`sent`, `delivered`, `read`, `failed`), `delivered` = `delivered` + `read`,
 *   `failed` = `failed`; a rate is delivered / sent to 3 decimals, 0 when nothing was sent. Queued
 *   messages are in no figure of the period report; usage's message counts take every message.
 * - Messages stay on the record when their project is deleted: the account's figures keep them;
 *   a deleted project itself is 404 like an unknown one, and is in no count of projects or connectors.
 * - Days are UTC days of `created_at`; the period is [start, end) in epoch ms.
 */
import { and, count, eq, gte, inArray, isNull, lt, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { type CONNECTOR_TYPES, connectors, type MESSAGE_STATUSES, messages, projects } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { rangeEnd, rangeStart } from '../../lib/dates'
import { ValidationError } from '../../lib/errors'
import { DAY_MS } from '../../lib/time'
import { ProjectNotFound } from './projects.service'

type Status = (typeof MESSAGE_STATUSES)[number]
type ConnectorType = (typeof CONNECTOR_TYPES)[number]

/** Statuses of messages that left the queue: the `sent` figure. */
const LEFT_QUEUE: Status[] = ['sent', 'delivered', 'read', 'failed']
/** Statuses that count as delivered. */
const DELIVERED: Status[] = ['delivered', 'read']

/** The default period: this many days up to its end. */
export const DEFAULT_PERIOD_DAYS = 30

export interface Counts {
  sent: number
  delivered: number
  failed: number
}

export interface MessageAnalytics {
  period: { from: string; to: string }
  totals: Counts & { deliveredRate: number }
  byConnector: Partial<Record<ConnectorType, Counts>>
  byDay: (Counts & { date: string })[]
}

export interface UsageAnalytics {
  totalMessages: number
  totalProjects: number
  totalConnectors: number
  averageDeliveryRate: number
  topConnectors: { type: ConnectorType; messages: number }[]
}

/** delivered / sent to 3 decimals; 0 when nothing was sent. */
export const deliveredRate = (delivered: number, sent: number) => (sent > 0 ? Math.round((delivered / sent) * 1000) / 1000 : 0)

const num = (x: unknown) => Number(x ?? 0)
const zero = (): Counts => ({ sent: 0, delivered: 0, failed: 0 })
const add = (into: Counts, c: Counts) => {
  into.sent += c.sent
  into.delivered += c.delivered
  into.failed += c.failed
}
// The day number is written as a literal (not a bound parameter) so the division stays integer.
const dayOf = sql<number>`${messages.createdAt} / ${sql.raw(String(DAY_MS))}`
const deliveredSum = sql<number>`coalesce(sum(${messages.status} in (${sql.raw(DELIVERED.map((s) => `'${s}'`).join(', '))})), 0)`
const leftQueueSum = sql<number>`coalesce(sum(${messages.status} in (${sql.raw(LEFT_QUEUE.map((s) => `'${s}'`).join(', '))})), 0)`
const failedSum = sql<number>`coalesce(sum(${messages.status} = 'failed'), 0)`

export class MessageAnalyticsService {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The period report. `from`/`to` are validated date parameters (lib/dates.ts): `to` is inclusive
   * (a date covers its whole day); without `to` the period ends now, without `from` it starts
   * DEFAULT_PERIOD_DAYS before its end.
   */
  async messages(ctx: RequestContext, q: { projectId?: string; from?: string; to?: string }): Promise<MessageAnalytics> {
    const end = q.to ? rangeEnd(q.to) : this.now() + 1
    const start = q.from ? rangeStart(q.from) : (q.to ? end : this.now()) - DEFAULT_PERIOD_DAYS * DAY_MS
    if (end <= start) throw ValidationError.field('to', 'to must not be before from')

    const where: SQL[] = [eq(messages.userId, ctx.accountId), gte(messages.createdAt, new Date(start)), lt(messages.createdAt, new Date(end)), inArray(messages.status, LEFT_QUEUE)]
    if (q.projectId) where.push(eq(messages.projectId, q.projectId))
    const grouped = this.db
      .select({ type: messages.connectorType, day: dayOf, sent: count(), delivered: deliveredSum, failed: failedSum })
      .from(messages)
      .where(and(...where))
      .groupBy(messages.connectorType, dayOf)

    let rows: Awaited<typeof grouped>
    if (q.projectId) {
      const [found, r] = await this.db.batch([this.projectQuery(ctx, q.projectId), grouped])
      if (!found.length) throw new ProjectNotFound()
      rows = r
    } else rows = await grouped

    const totals = zero()
    const byConnector: Partial<Record<ConnectorType, Counts>> = {}
    const byDay = new Map<number, Counts>()
    for (const r of rows) {
      const c = { sent: num(r.sent), delivered: num(r.delivered), failed: num(r.failed) }
      const day = num(r.day)
      if (!byDay.has(day)) byDay.set(day, zero())
      byConnector[r.type] = byConnector[r.type] ?? zero()
      add(totals, c)
      add(byConnector[r.type]!, c)
      add(byDay.get(day)!, c)
    }
    return {
      period: { from: new Date(start).toISOString(), to: new Date(end - 1).toISOString() },
      totals: { ...totals, deliveredRate: deliveredRate(totals.delivered, totals.sent) },
      byConnector,
      byDay: [...byDay.entries()].sort(([a], [b]) => a - b).map(([day, c]) => ({ date: new Date(day * DAY_MS).toISOString().slice(0, 10), ...c })),
    }
  }

  /** All-time usage of the account, or of one of its projects (then `totalProjects` is 1). */
  async usage(ctx: RequestContext, q: { projectId?: string }): Promise<UsageAnalytics> {
    const projectWhere: SQL[] = [eq(projects.userId, ctx.accountId), isNull(projects.deletedAt)]
    const messageWhere: SQL[] = [eq(messages.userId, ctx.accountId)]
    if (q.projectId) {
      projectWhere.push(eq(projects.id, q.projectId))
      messageWhere.push(eq(messages.projectId, q.projectId))
    }
    const [projectCount, connectorCount, byType] = await this.db.batch([
      this.db
        .select({ n: count() })
        .from(projects)
        .where(and(...projectWhere)),
      // Through the account's projects: connectors have no index on their account.
      this.db
        .select({ n: count() })
        .from(connectors)
        .innerJoin(projects, eq(connectors.projectId, projects.id))
        .where(and(...projectWhere, eq(connectors.userId, ctx.accountId), isNull(connectors.deletedAt))),
      this.db
        .select({ type: messages.connectorType, messages: count(), sent: leftQueueSum, delivered: deliveredSum })
        .from(messages)
        .where(and(...messageWhere))
        .groupBy(messages.connectorType),
    ])
    const totalProjects = num(projectCount[0]?.n)
    if (q.projectId && totalProjects === 0) throw new ProjectNotFound()

    const sent = byType.reduce((s, r) => s + num(r.sent), 0)
    const delivered = byType.reduce((s, r) => s + num(r.delivered), 0)
    return {
      totalMessages: byType.reduce((s, r) => s + num(r.messages), 0),
      totalProjects,
      totalConnectors: num(connectorCount[0]?.n),
      averageDeliveryRate: deliveredRate(delivered, sent),
      topConnectors: byType.map((r) => ({ type: r.type, messages: num(r.messages) })).sort((a, b) => b.messages - a.messages || a.type.localeCompare(b.type)),
    }
  }

  /** The account's project, not deleted: one row or none. */
  private projectQuery(ctx: RequestContext, projectId: string) {
    return this.db
      .select({ id: projects.id })
      .from(projects)
      .where(and(eq(projects.id, projectId), eq(projects.userId, ctx.accountId), isNull(projects.deletedAt)))
      .limit(1)
  }
}

/**
 * Sending a message (`POST /api/v1/messages`) and reading messages.
 *
 * Send, in the request: the connector and template (one D1 batch) → `to` checked (E.164 with
 * libphonenumber-js; Telegram: a chat id) → template rendered strictly → the hourly limits (the
 * key's own `rateLimit`: `RATE_LIMIT_EXCEEDED`; the plan's tier: `QUOTA_EXCEEDED`) → the price held
 * on the wallet (`<id>:hold`; `INSUFFICIENT_BALANCE` up front) → the message row `queued` → 202,
 * and its id on the `messages` queue after the answer (`afterAnswer`). The consumer (dispatch.ts)
 * sends it.
 *
 * The message id is fixed before any money moves: derived from the Idempotency-Key when one is
 * sent, so a retry (even one racing the first) holds, inserts and enqueues the same message; the
 * idempotency middleware replays the first 202 on top of this.
 *
 * A row written but not enqueued (the queue refused) is sent by the sweeper (`requeueStale`).
 */
import { and, count, desc, eq, gte, isNull, lt, sql, type SQL } from 'drizzle-orm'
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import type { Db } from '../../db/client'
import { connectors, messages, messageTemplates, type Message } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { sha256Hex } from '../../lib/crypto'
import { rangeEnd, rangeStart } from '../../lib/dates'
import { AppError, InsufficientBalance, RateLimited, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { logger } from '../../lib/logger'
import type { Principal } from '../../lib/principal'
import { sendAll } from '../../lib/queue'
import { escaperFor } from '../../providers/messaging/registry'
import { isTelegramChatId } from '../../providers/messaging/telegram'
import type { ConnectorType } from '../../providers/messaging/types'
import type { RateLimitService } from '../rate-limit/rate-limit.service'
import { MESSAGE_RATES } from '../subscriptions/plans'
import type { WalletService } from '../wallet/wallet.service'
import { ConnectorNotFound } from './connectors.service'
import type { ProjectsService } from './projects.service'
import { render, TemplateNotFound } from './templates.service'

const { log } = logger.with({ module: 'messaging' })

/** A message's hold lasts while the queue may still retry it; after that the wallet settles it from its outcome. */
export const MESSAGE_HOLD_TTL_MS = 24 * 3_600_000
const HOUR_MS = 3_600_000

/** A `messages` queue message: send this message, or apply the sandbox's delivery receipt. */
export type MessagesQueueBody = { kind: 'send'; messageId: string } | { kind: 'receipt'; messageId: string; upstreamId: string }

export interface SendInput {
  to: string
  connectorId: string
  templateId: string
  variables: Record<string, string | number | boolean>
}

export interface MessagesDeps {
  db: Db
  projects: ProjectsService
  wallet: Pick<WalletService, 'hold' | 'void' | 'balance'>
  rateLimiter: Pick<RateLimitService, 'hit'>
  queue: Queue<MessagesQueueBody>
  /**
   * Runs a task after the answer (the request's waitUntil): the enqueue. Absent, it runs before the
   * answer. A row whose enqueue never happened (failed, or the Worker died) is sent by the sweeper.
   */
  afterAnswer?: (task: () => Promise<unknown>) => void
  now?: () => number
}

/** `to` as the channel wants it: E.164 for phone channels, a chat id for Telegram; else 400 INVALID_TO. */
export function normalizeTo(type: ConnectorType, to: string): string {
  const t = to.trim()
  if (type === 'telegram') {
    if (isTelegramChatId(t)) return t
    throw new AppError(400, 'INVALID_TO', 'Invalid recipient: a Telegram chat id (an integer) or @channel username', undefined, 'to')
  }
  const phone = t.startsWith('+') ? parsePhoneNumberFromString(t) : undefined
  if (!phone?.isValid()) throw new AppError(400, 'INVALID_TO', 'Invalid phone number: E.164, e.g. +14155550123', undefined, 'to')
  return phone.number
}

export class MessagesService {
  private readonly now: () => number

  constructor(private readonly deps: MessagesDeps) {
    this.now = deps.now ?? Date.now
  }

  async send(principal: Principal, ctx: RequestContext, input: SendInput, opts: { idempotency?: { scope: string; key: string } } = {}): Promise<Message> {
    const { db } = this.deps
    const [connector, template] = await db.batch([
      db
        .select()
        .from(connectors)
        .where(and(eq(connectors.id, input.connectorId), eq(connectors.userId, ctx.accountId), isNull(connectors.deletedAt)))
        .limit(1),
      db
        .select()
        .from(messageTemplates)
        .where(and(eq(messageTemplates.id, input.templateId), eq(messageTemplates.userId, ctx.accountId), isNull(messageTemplates.deletedAt)))
        .limit(1),
    ])
    const conn = connector[0]
    // A project key reaches only its own project's connectors and templates (another's is 404).
    if (!conn || (principal.projectId && conn.projectId !== principal.projectId)) throw new ConnectorNotFound()
    const tpl = template[0]
    if (!tpl || tpl.projectId !== conn.projectId) throw new TemplateNotFound()
    if (!conn.isActive) throw new AppError(400, 'CONNECTOR_NOT_ACTIVE', 'Connector is not active', undefined, 'connectorId')
    if (!tpl.isActive) throw ValidationError.field('templateId', 'Template is not active')
    if (tpl.connectorType !== conn.type) throw ValidationError.field('templateId', `Template is for ${tpl.connectorType}, the connector is ${conn.type}`)
    const to = normalizeTo(conn.type, input.to)
    const text = render(tpl.content, input.variables, escaperFor(conn.type))
    await this.checkHourly(principal)

    const id = opts.idempotency ? `msg_${(await sha256Hex(`${opts.idempotency.scope}\n${opts.idempotency.key}`)).slice(0, 26)}` : newId('msg', this.now())
    const existing = opts.idempotency ? await db.select().from(messages).where(eq(messages.id, id)).get() : undefined
    if (existing) return existing

    const price = MESSAGE_RATES[conn.type]
    const hold = await this.deps.wallet.hold(ctx.accountId, {
      opId: `${id}:hold`,
      amount: price,
      ttlMs: MESSAGE_HOLD_TTL_MS,
      reference: { type: 'message', id },
      description: `Message to ${to} (${conn.type})`,
    })
    if (!hold.ok) {
      if (hold.reason === 'INSUFFICIENT_BALANCE') throw new InsufficientBalance(price, hold.available ?? 0)
      throw new AppError(500, 'INTERNAL_ERROR', 'The payment could not be reserved', { reason: hold.reason })
    }
    const at = new Date(this.now())
    const row: Message = {
      id,
      userId: ctx.accountId,
      projectId: conn.projectId,
      connectorId: conn.id,
      connectorType: conn.type,
      templateId: tpl.id,
      apiKeyId: principal.apiKeyId ?? null,
      to,
      text,
      status: 'queued',
      price,
      upstreamId: null,
      metadata: {},
      attempts: 0,
      attemptStartedAt: null,
      errorCode: null,
      errorMessage: null,
      createdAt: at,
      sentAt: null,
      deliveredAt: null,
      readAt: null,
      failedAt: null,
      updatedAt: at,
    }
    try {
      await db.insert(messages).values(row).onConflictDoNothing()
    } catch (e) {
      await this.deps.wallet.void(ctx.accountId, { opId: `${id}:void`, holdId: `${id}:hold` }).catch(() => {})
      throw e
    }
    const enqueue = () =>
      this.deps.queue.send({ kind: 'send', messageId: id }).catch((e) => log('warn', 'messaging: enqueue failed; the sweeper sends it', { messageId: id, error: (e as Error).message }))
    if (this.deps.afterAnswer) this.deps.afterAnswer(enqueue)
    else await enqueue()
    // A request racing this one with the same key may have written the row first: the same message.
    return row
  }

  /**
   * The key's own hourly limit (429 RATE_LIMIT_EXCEEDED). The plan's hourly tier (429 QUOTA_EXCEEDED,
   * per account) is the route's rate class `messages`, counted before the request got here.
   */
  private async checkHourly(p: Principal): Promise<void> {
    if (!p.apiKeyId || !p.keyRateLimit) return
    const r = await this.deps.rateLimiter.hit(`messages_key:${p.apiKeyId}`, p.keyRateLimit, HOUR_MS)
    if (!r.allowed) throw new RateLimited(r.limit, r.retryAfter, r.resetAt)
  }

  /** The project a read is about: a project key's own (another named is 403 ACCESS_DENIED); else the named one, which must be the account's. */
  async projectFor(principal: Principal, ctx: RequestContext, projectId: string | undefined): Promise<string> {
    if (principal.projectId) {
      if (projectId && projectId !== principal.projectId) throw new AppError(403, 'ACCESS_DENIED', 'This project key reads only its own project')
      return principal.projectId
    }
    if (!projectId) throw ValidationError.field('projectId', 'projectId is required')
    return (await this.deps.projects.get(ctx, projectId)).id
  }

  async list(
    principal: Principal,
    ctx: RequestContext,
    q: { projectId?: string; limit: number; offset: number; status?: string; connector?: ConnectorType; from?: string; to?: string },
  ): Promise<{ rows: Message[]; total: number }> {
    const projectId = await this.projectFor(principal, ctx, q.projectId)
    const where: SQL[] = [eq(messages.projectId, projectId), eq(messages.userId, ctx.accountId)]
    if (q.status) where.push(eq(messages.status, (q.status === 'pending' ? 'queued' : q.status) as Message['status']))
    if (q.connector) where.push(eq(messages.connectorType, q.connector))
    if (q.from) where.push(gte(messages.createdAt, new Date(rangeStart(q.from))))
    // rangeEnd is the first instant after what `to` covers.
    if (q.to) where.push(lt(messages.createdAt, new Date(rangeEnd(q.to))))
    const { db } = this.deps
    const [rows, totals] = await db.batch([
      db
        .select()
        .from(messages)
        .where(and(...where))
        .orderBy(desc(messages.createdAt), desc(messages.id))
        .limit(q.limit)
        .offset(q.offset),
      db
        .select({ n: count() })
        .from(messages)
        .where(and(...where)),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  /** The account's message (a project key: only its project's), else 404. */
  async get(principal: Principal, ctx: RequestContext, id: string): Promise<Message> {
    const row = await this.deps.db
      .select()
      .from(messages)
      .where(and(eq(messages.id, id), eq(messages.userId, ctx.accountId)))
      .get()
    if (!row || (principal.projectId && row.projectId !== principal.projectId)) throw new AppError(404, 'NOT_FOUND', 'Message not found')
    return row
  }

  /** Queued messages never picked up (their enqueue failed) go to the queue again; dispatch is idempotent. */
  async requeueStale(olderThanMs = 60_000, max = 500): Promise<number> {
    const rows = await this.deps.db
      .select({ id: messages.id })
      .from(messages)
      // The literal 'queued' lets SQLite use the partial index messages_queued_created_idx.
      .where(and(sql`${messages.status} = 'queued'`, eq(messages.attempts, 0), lt(messages.createdAt, new Date(this.now() - olderThanMs))))
      .limit(max)
      .all()
    await sendAll(
      this.deps.queue,
      rows.map((r) => ({ kind: 'send' as const, messageId: r.id })),
    )
    return rows.length
  }
}

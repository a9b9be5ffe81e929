/**
 * Partner webhook endpoints (/api/v1/webhooks): CRUD, secret rotation, the delivery log, test
 * sends and manual retries. Every query is scoped to the owner: another account's endpoint or
 * delivery is a 404. Secrets are sealed in D1 and shown once (creation, rotation).
 */
import { and, count, desc, eq, inArray, type SQL } from 'drizzle-orm'
import { users, webhookAttempts, webhookDeliveries, webhookEndpoints, type WebhookEndpoint } from '../../db/schema'
import { Conflict, NotFound, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { seal } from '../../lib/secret-box'
import { newWebhookSecret } from '../../lib/webhook-signature'
import { sampleData } from './catalogue'
import { attemptDelivery, type DeliveryDeps } from './delivery'
import { MAX_ATTEMPTS } from './retry-schedule'
import { checkWebhookUrl, loopbackHint } from './url-guard'
import type { RequestContext } from '../../lib/context'

export const MAX_ENDPOINTS = 20
const DEFAULT_TIMEOUT_MS = 10_000

export interface EndpointInput {
  url?: string
  events?: string[]
  description?: string | null
  isActive?: boolean
  timeout?: number
  retryPolicy?: { maxAttempts?: number }
}

export class WebhooksService {
  constructor(private readonly s: DeliveryDeps) {}

  private checkedUrl(raw: string): string {
    const verdict = checkWebhookUrl(raw, this.s.config.webhookUrls)
    if (!verdict.ok) throw ValidationError.field('url', `Webhook URL ${verdict.reason}${loopbackHint(raw, this.s.config)}`)
    return verdict.url.toString()
  }

  async create(ctx: RequestContext, input: Required<Pick<EndpointInput, 'url' | 'events'>> & EndpointInput) {
    const userId = ctx.accountId
    const { db, env } = this.s
    const url = this.checkedUrl(input.url)
    const existing = await db.select({ n: count() }).from(webhookEndpoints).where(eq(webhookEndpoints.userId, userId)).get()
    if ((existing?.n ?? 0) >= MAX_ENDPOINTS) throw new Conflict('WEBHOOK_LIMIT_REACHED', `An account can have at most ${MAX_ENDPOINTS} webhook endpoints`)
    const secret = newWebhookSecret()
    const now = new Date()
    const row = await db
      .insert(webhookEndpoints)
      .values({
        id: newId('whk'),
        userId,
        url,
        description: input.description ?? null,
        events: [...new Set(input.events)],
        isActive: input.isActive ?? true,
        timeoutMs: input.timeout ? input.timeout * 1000 : DEFAULT_TIMEOUT_MS,
        retryPolicy: { maxAttempts: input.retryPolicy?.maxAttempts ?? MAX_ATTEMPTS },
        secretSealed: await seal(env.ENCRYPTION_KEY, secret),
        createdAt: now,
        updatedAt: now,
      })
      .returning()
      .get()
    return { endpoint: row, secret }
  }

  async list(ctx: RequestContext, page: number, limit: number) {
    const userId = ctx.accountId
    const { db } = this.s
    const where = eq(webhookEndpoints.userId, userId)
    const [rows, total] = await db.batch([
      db
        .select()
        .from(webhookEndpoints)
        .where(where)
        .orderBy(desc(webhookEndpoints.createdAt), desc(webhookEndpoints.id))
        .limit(limit)
        .offset((page - 1) * limit),
      db.select({ n: count() }).from(webhookEndpoints).where(where),
    ])
    return { rows, total: total[0]?.n ?? 0 }
  }

  async get(ctx: RequestContext, id: string): Promise<WebhookEndpoint> {
    const userId = ctx.accountId
    const row = await this.s.db
      .select()
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.userId, userId)))
      .get()
    if (!row) throw new NotFound('Webhook endpoint')
    return row
  }

  async update(ctx: RequestContext, id: string, input: EndpointInput) {
    const userId = ctx.accountId
    const current = await this.get(ctx, id)
    const set: Partial<WebhookEndpoint> = { updatedAt: new Date() }
    if (input.url !== undefined) set.url = this.checkedUrl(input.url)
    if (input.events !== undefined) set.events = [...new Set(input.events)]
    if (input.description !== undefined) set.description = input.description
    if (input.timeout !== undefined) set.timeoutMs = input.timeout * 1000
    if (input.retryPolicy?.maxAttempts !== undefined) set.retryPolicy = { ...current.retryPolicy, maxAttempts: input.retryPolicy.maxAttempts }
    if (input.isActive !== undefined) {
      set.isActive = input.isActive
      // Re-enabling starts the failure clock afresh; `isActive: true` on an endpoint that is already
      // on (a client sending the whole object back) must not, or a failing endpoint is never disabled.
      if (input.isActive && !current.isActive) Object.assign(set, { disabledReason: null, failingSince: null })
    }
    return this.s.db
      .update(webhookEndpoints)
      .set(set)
      .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.userId, userId)))
      .returning()
      .get()
  }

  async remove(ctx: RequestContext, id: string) {
    const userId = ctx.accountId
    const { db } = this.s
    await this.get(ctx, id)
    const deliveries = db.select({ id: webhookDeliveries.id }).from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id))
    await db.batch([
      db.delete(webhookAttempts).where(inArray(webhookAttempts.deliveryId, deliveries)),
      db.delete(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id)),
      db.delete(webhookEndpoints).where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.userId, userId))),
    ])
  }

  /** A new secret now; the old one keeps signing (beside the new) for `graceHours`. */
  async rotateSecret(ctx: RequestContext, id: string, graceHours: number) {
    const userId = ctx.accountId
    const { db, env } = this.s
    const current = await this.get(ctx, id)
    const secret = newWebhookSecret()
    const now = Date.now()
    const row = await db
      .update(webhookEndpoints)
      .set({
        secretSealed: await seal(env.ENCRYPTION_KEY, secret),
        previousSecretSealed: graceHours > 0 ? current.secretSealed : null,
        previousSecretExpiresAt: graceHours > 0 ? new Date(now + graceHours * 3_600_000) : null,
        updatedAt: new Date(now),
      })
      .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.userId, userId)))
      .returning()
      .get()
    return { endpoint: row!, secret }
  }

  async deliveries(ctx: RequestContext, endpointId: string, q: { page: number; limit: number; status?: string[]; event?: string }) {
    const userId = ctx.accountId
    const { db } = this.s
    await this.get(ctx, endpointId)
    const filters: SQL[] = [eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.userId, userId)]
    if (q.status?.length) filters.push(inArray(webhookDeliveries.status, q.status as ('pending' | 'retrying' | 'succeeded' | 'failed')[]))
    if (q.event) filters.push(eq(webhookDeliveries.eventType, q.event))
    const where = and(...filters)
    const [rows, total] = await db.batch([
      db
        .select()
        .from(webhookDeliveries)
        .where(where)
        .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
        .limit(q.limit)
        .offset((q.page - 1) * q.limit),
      db.select({ n: count() }).from(webhookDeliveries).where(where),
    ])
    const attempts = rows.length
      ? await db
          .select()
          .from(webhookAttempts)
          .where(
            inArray(
              webhookAttempts.deliveryId,
              rows.map((r) => r.id),
            ),
          )
          .orderBy(webhookAttempts.attempt)
          .all()
      : []
    return { rows, attempts, total: total[0]?.n ?? 0 }
  }

  /** Sends one event to this endpoint now, once, and answers how it went (no retries). */
  async test(ctx: RequestContext, endpointId: string, event: string, customPayload?: Record<string, unknown>) {
    const userId = ctx.accountId
    const { db } = this.s
    const endpoint = await this.get(ctx, endpointId)
    const owner = await db.select({ email: users.email }).from(users).where(eq(users.id, userId)).get()
    const eventId = newId('evt')
    const now = new Date()
    const payload = JSON.stringify({
      id: eventId,
      event,
      timestamp: now.toISOString(),
      data: customPayload ?? sampleData(event),
      account: { id: userId, email: owner?.email ?? null },
      test: true,
    })
    const deliveryId = newId('dlv')
    await db.insert(webhookDeliveries).values({
      id: deliveryId,
      userId,
      endpointId,
      target: endpoint.id,
      url: endpoint.url,
      eventId,
      eventType: event,
      payload,
      status: 'pending',
      payloadSize: new TextEncoder().encode(payload).length,
      createdAt: now,
      updatedAt: now,
    })
    // One attempt and no retry schedule: a test answers now.
    const outcome = await attemptDelivery(this.s, deliveryId)
    if (outcome.kind === 'retry') {
      await db.update(webhookDeliveries).set({ status: 'failed', nextRetryAt: null }).where(eq(webhookDeliveries.id, deliveryId))
    }
    return { deliveryId, eventId, outcome }
  }

  /** Queues a failed (or waiting) delivery again, with the same event id. */
  async retry(ctx: RequestContext, endpointId: string, deliveryId: string) {
    const userId = ctx.accountId
    const { db, env } = this.s
    const endpoint = await this.get(ctx, endpointId)
    const d = await db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.userId, userId)))
      .get()
    if (!d) throw new NotFound('Delivery')
    if (d.status === 'succeeded') throw new Conflict('DELIVERY_SUCCEEDED', 'This delivery already succeeded')
    // It would fail at once without a request: say so rather than answer "queued".
    if (!endpoint.isActive) throw new Conflict('ENDPOINT_DISABLED', 'The endpoint is disabled: re-enable it (PUT {"isActive": true}) before retrying its deliveries')
    const row = await db.update(webhookDeliveries).set({ status: 'pending', nextRetryAt: null, updatedAt: new Date() }).where(eq(webhookDeliveries.id, deliveryId)).returning().get()
    await env.WEBHOOKS.send({ deliveryId })
    return row!
  }
}

/**
 * One delivery attempt, and what follows from its answer.
 *
 * - Only 2xx is success. Redirects are not followed (a 3xx is a failure), so a public URL cannot
 *   bounce a delivery inward.
 * - 410 Gone disables the endpoint: the partner said it is gone for good.
 * - Failures are retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts), or later when
 *   the answer carried `Retry-After`; the same event id (`webhook-id`) goes on every attempt.
 * - An endpoint that has failed for 5 days straight is disabled and its owner told (an event and
 *   a mail) once: only the attempt whose update actually switched the endpoint off writes them.
 * - Attempts are claimed with a conditional update on `attempt_count`, so two copies of one queue
 *   message cannot both deliver; every attempt is logged once (unique on delivery + attempt).
 * - A delivery goes to its endpoint's current URL (a partner who moved their receiver gets the
 *   retries there); every URL is checked against the SSRF rules again right before the request,
 *   which also covers numbers' own smsUrl, whose route does not apply them.
 */
import { insertWhere } from '../../db/insert-where'
import { and, eq, inArray, notInArray, sql } from 'drizzle-orm'
import type { BatchItem } from 'drizzle-orm/batch'
import { outbox, users, webhookAttempts, webhookDeliveries, webhookEndpoints, type WebhookDelivery, type WebhookEndpoint } from '../../db/schema'
import { newId } from '../../lib/ids'
import { open } from '../../lib/secret-box'
import { signatureHeaders } from '../../lib/webhook-signature'
import type { Db } from '../../db/client'
import type { Config, Env } from '../../env'
import type { Mailer } from '../../providers/mailer/mailer'
import { drainOutbox, newEventId } from '../events/outbox'
import { MAX_ATTEMPTS, RETRY_SCHEDULE_SECONDS } from './retry-schedule'
import { checkWebhookUrl } from './url-guard'

/** What delivering a webhook needs: its rows, the signing key, outbound HTTP, and the mailer for a disabled endpoint. */
export interface DeliveryDeps {
  db: Db
  env: Pick<Env, 'ENCRYPTION_KEY' | 'WEBHOOKS' | 'EVENTS'>
  config: Pick<Config, 'webhookUrls' | 'isLocal'>
  /** Outbound HTTP to partners; tests pass a receiver. */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>
  defer: (p: Promise<unknown>) => void
  mailer: Mailer
}
type Services = DeliveryDeps

/** Queues delay a message by at most 12 hours. */
const MAX_DELAY_SECONDS = 12 * 3600
const DISABLE_AFTER_MS = 5 * 86_400_000
const ERROR_TEXT_MAX = 500

export type AttemptOutcome =
  | { kind: 'skipped'; reason: string }
  | { kind: 'succeeded'; attempt: number; httpStatus: number; responseTime: number }
  | { kind: 'retry'; attempt: number; delaySeconds: number; httpStatus: number | null; responseTime: number; error: string }
  | { kind: 'failed'; attempt: number; httpStatus: number | null; responseTime: number | null; error: string; final: 'gone' | 'exhausted' | 'endpoint_disabled' | 'url_refused' }

export function retryDelay(attempt: number, retryAfter: string | null): number {
  const scheduled = RETRY_SCHEDULE_SECONDS[Math.min(attempt, RETRY_SCHEDULE_SECONDS.length) - 1]!
  let asked = 0
  if (retryAfter) {
    const secs = /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : Math.ceil((Date.parse(retryAfter) - Date.now()) / 1000)
    if (Number.isFinite(secs) && secs > 0) asked = secs
  }
  return Math.min(MAX_DELAY_SECONDS, Math.max(scheduled, asked))
}

/** The secrets that sign for an endpoint now: the current one, and the previous during its grace. */
export async function signingSecrets(services: Services, e: WebhookEndpoint, now: number): Promise<string[]> {
  const key = services.env.ENCRYPTION_KEY
  const secrets = [await open(key, e.secretSealed)]
  if (e.previousSecretSealed && e.previousSecretExpiresAt && e.previousSecretExpiresAt.getTime() > now) {
    secrets.push(await open(key, e.previousSecretSealed))
  }
  return secrets
}

/** The per-account secret that signs deliveries to numbers' own smsUrl. */
export async function numberCallbackSecret(services: Services, userId: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(services.env.ENCRYPTION_KEY), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`number-callback:${userId}`)))
  let s = ''
  for (const b of mac) s += String.fromCharCode(b)
  return `whsec_${btoa(s)}`
}

/** POSTs the delivery once and records the attempt. `maxAttempts` comes from the endpoint's policy. */
export async function attemptDelivery(services: Services, deliveryId: string, now = Date.now()): Promise<AttemptOutcome> {
  const { db } = services
  const row = await db
    .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints })
    .from(webhookDeliveries)
    .leftJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
    .where(eq(webhookDeliveries.id, deliveryId))
    .get()
  if (!row) return { kind: 'skipped', reason: 'no such delivery' }
  const { delivery: d, endpoint: e } = row
  if (d.status === 'succeeded' || d.status === 'failed') return { kind: 'skipped', reason: `already ${d.status}` }
  // A copy of a message whose retry is already scheduled: the scheduled one will deliver.
  if (d.status === 'retrying' && d.nextRetryAt && d.nextRetryAt.getTime() > now + 2000) return { kind: 'skipped', reason: 'retry scheduled later' }
  const attempt = d.attemptCount + 1
  if (d.endpointId && !e?.isActive) {
    // No request is made, so no attempt is logged and the endpoint's counters stay as they are.
    const error = e ? `endpoint disabled${e.disabledReason ? ` (${e.disabledReason})` : ''}` : 'endpoint deleted'
    await db
      .update(webhookDeliveries)
      .set({ status: 'failed', errorMessage: error, nextRetryAt: null, updatedAt: new Date(now) })
      .where(and(eq(webhookDeliveries.id, d.id), notInArray(webhookDeliveries.status, ['succeeded', 'failed'])))
      .run()
    return { kind: 'failed', attempt: d.attemptCount, httpStatus: null, responseTime: null, error, final: 'endpoint_disabled' }
  }
  const claimed = await db
    .update(webhookDeliveries)
    .set({ attemptCount: attempt, updatedAt: new Date(now) })
    .where(and(eq(webhookDeliveries.id, d.id), eq(webhookDeliveries.attemptCount, d.attemptCount)))
    .run()
  if (claimed.meta.changes !== 1) return { kind: 'skipped', reason: 'attempt claimed by another consumer' }

  const url = e?.url ?? d.url
  const verdict = checkWebhookUrl(url, services.config.webhookUrls)
  if (!verdict.ok) {
    const error = `URL refused: ${verdict.reason}`
    await finish(services, d, e, attempt, now, { status: 'failed', httpStatus: null, error, responseTime: null })
    return { kind: 'failed', attempt, httpStatus: null, responseTime: null, error, final: 'url_refused' }
  }

  const secrets = e ? await signingSecrets(services, e, now) : [await numberCallbackSecret(services, d.userId)]
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Switchboard-Webhooks/1.0',
    ...(await signatureHeaders(secrets, d.eventId, Math.floor(now / 1000), d.payload)),
  }
  const timeoutMs = e?.timeoutMs ?? 10_000
  const started = performance.now()
  let httpStatus: number | null = null
  let retryAfter: string | null = null
  let error = ''
  try {
    const res = await services.fetch(url, { method: 'POST', headers, body: d.payload, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) })
    httpStatus = res.status
    retryAfter = res.headers.get('retry-after')
    if (res.status < 200 || res.status >= 300) {
      const body = (await res.text().catch(() => '')).slice(0, 200)
      error = body ? `HTTP ${res.status}: ${body}` : `HTTP ${res.status}`
    } else await res.body?.cancel()
  } catch (err) {
    error = (err as Error).name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : `network error: ${(err as Error).message}`
  }
  const responseTime = Math.round(performance.now() - started)

  if (!error) {
    await finish(services, d, e, attempt, now, { status: 'succeeded', httpStatus, error: null, responseTime })
    return { kind: 'succeeded', attempt, httpStatus: httpStatus!, responseTime }
  }
  error = error.slice(0, ERROR_TEXT_MAX)
  if (httpStatus === 410) {
    await finish(services, d, e, attempt, now, { status: 'failed', httpStatus, error, responseTime, disable: '410 Gone' })
    return { kind: 'failed', attempt, httpStatus, responseTime, error, final: 'gone' }
  }
  if (e && now - (e.failingSince?.getTime() ?? now) >= DISABLE_AFTER_MS) {
    await finish(services, d, e, attempt, now, { status: 'failed', httpStatus, error, responseTime, disable: 'failing for 5 days' })
    return { kind: 'failed', attempt, httpStatus, responseTime, error, final: 'endpoint_disabled' }
  }
  const maxAttempts = Math.min(e?.retryPolicy.maxAttempts ?? MAX_ATTEMPTS, MAX_ATTEMPTS)
  if (attempt >= maxAttempts) {
    await finish(services, d, e, attempt, now, { status: 'failed', httpStatus, error, responseTime })
    return { kind: 'failed', attempt, httpStatus, responseTime, error, final: 'exhausted' }
  }
  const delaySeconds = retryDelay(attempt, retryAfter)
  await finish(services, d, e, attempt, now, { status: 'retrying', httpStatus, error, responseTime, nextRetryAt: now + delaySeconds * 1000 })
  return { kind: 'retry', attempt, delaySeconds, httpStatus, responseTime, error }
}

interface Result {
  status: 'succeeded' | 'retrying' | 'failed'
  httpStatus: number | null
  error: string | null
  /** null when no request was made */
  responseTime: number | null
  nextRetryAt?: number
  disable?: string
}

/** Records the attempt, the delivery's new state and the endpoint's counters in one batch. */
async function finish(services: Services, d: WebhookDelivery, e: WebhookEndpoint | null, attempt: number, now: number, r: Result) {
  const { db } = services
  const at = new Date(now)
  const ok = r.status === 'succeeded'
  const writes: BatchItem<'sqlite'>[] = [
    db
      .insert(webhookAttempts)
      .values({
        id: newId('att', now),
        deliveryId: d.id,
        attempt,
        status: ok ? 'success' : 'failure',
        httpStatus: r.httpStatus,
        responseTimeMs: r.responseTime,
        error: r.error,
        createdAt: at,
      })
      .onConflictDoNothing(),
    db
      .update(webhookDeliveries)
      .set({
        status: r.status,
        httpStatus: r.httpStatus,
        responseTimeMs: r.responseTime,
        errorMessage: r.error,
        nextRetryAt: r.nextRetryAt ? new Date(r.nextRetryAt) : null,
        deliveredAt: ok ? at : null,
        updatedAt: at,
      })
      .where(eq(webhookDeliveries.id, d.id)),
  ]
  if (e) {
    writes.push(
      db
        .update(webhookEndpoints)
        .set({
          lastDeliveryAt: at,
          lastStatus: ok ? 'success' : r.httpStatus ? `failed (HTTP ${r.httpStatus})` : 'failed',
          deliveryCount: sql`${webhookEndpoints.deliveryCount} + 1`,
          failureCount: ok ? webhookEndpoints.failureCount : sql`${webhookEndpoints.failureCount} + 1`,
          // The failure clock starts at the first failure after a success and stops at the next success.
          failingSince: ok ? null : sql`coalesce(${webhookEndpoints.failingSince}, ${now})`,
          updatedAt: at,
        })
        .where(eq(webhookEndpoints.id, e.id)),
    )
  }
  if (r.disable && e) writes.push(...disableEndpoint(services, e, r.disable, at))
  const results = await db.batch(writes as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])
  if (!r.disable || !e || (results[results.length - 1] as D1Result).meta.changes !== 1) return
  // This attempt switched the endpoint off: tell its owner, once.
  services.defer(drainOutbox(services))
  const owner = await db.select({ email: users.email }).from(users).where(eq(users.id, e.userId)).get()
  if (owner) {
    await services.mailer.send({
      to: owner.email,
      userId: e.userId,
      kind: 'account_notice',
      subject: 'A webhook endpoint was disabled',
      text: `Deliveries to ${e.url} were stopped: ${r.disable}. Fix the endpoint, then re-enable it with PUT /api/v1/webhooks/${e.id} {"isActive": true}.`,
    })
  }
}

/**
 * Switches an active endpoint off and, in the same batch, writes its `webhook.endpoint.disabled`
 * event only if that update changed the row (`changes()` is the row count of the statement just
 * before it): two attempts failing at once for one endpoint tell its owner once.
 */
function disableEndpoint(services: Services, e: WebhookEndpoint, reason: string, at: Date): BatchItem<'sqlite'>[] {
  const { db } = services
  const data = { endpointId: e.id, url: e.url, reason }
  return [
    db
      .update(webhookEndpoints)
      .set({ isActive: false, disabledReason: reason, updatedAt: at })
      .where(and(eq(webhookEndpoints.id, e.id), eq(webhookEndpoints.isActive, true))),
    insertWhere(db, outbox, { id: newEventId(at), type: 'webhook.endpoint.disabled', userId: e.userId, payload: data, createdAt: at }, sql`changes() = 1`),
  ]
}

/** Deliveries of an event still waiting for their first attempt (to enqueue after fan-out); a query to run or batch. */
export function pendingOf(services: Pick<Services, 'db'>, eventId: string) {
  return services.db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.eventId, eventId), inArray(webhookDeliveries.status, ['pending']), eq(webhookDeliveries.attemptCount, 0)))
}

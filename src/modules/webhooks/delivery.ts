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
 * - A queue batch is delivered together (`deliverAll`): one read and one claim batch for all its
 *   deliveries, the requests in parallel (bounded), then one D1 batch with every attempt. The
 *   deliveries of a batch, to one endpoint or several, go out in no set order.
 * - A delivery goes to its endpoint's current URL (a partner who moved their receiver gets the
 *   retries there); every URL is checked against the SSRF rules again right before the request,
 *   which also covers numbers' own smsUrl, whose route does not apply them.
 */
import { insertWhere } from '../../db/insert-where'
import { and, eq, inArray, notInArray, sql } from 'drizzle-orm'
import type { BatchItem } from 'drizzle-orm/batch'
import { outbox, users, webhookAttempts, webhookDeliveries, webhookEndpoints, type WebhookDelivery, type WebhookEndpoint } from '../../db/schema'
import { newId } from '../../lib/ids'
import { mapLimit } from '../../lib/concurrency'
import { logger } from '../../lib/logger'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
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

/** Outbound requests one consumer invocation keeps in flight (see `deliverAll`). */
export const DELIVERY_CONCURRENCY = 25

/** POSTs the delivery once and records the attempt. `maxAttempts` comes from the endpoint's policy. */
export async function attemptDelivery(services: Services, deliveryId: string, now = Date.now()): Promise<AttemptOutcome> {
  const [outcome] = await deliverAll(services, [deliveryId], { now })
  if (outcome instanceof Error) throw outcome
  return outcome!
}

/**
 * One attempt for each of `deliveryIds` (a queue batch), in three steps:
 *   1. one read of every delivery with its endpoint, and one D1 batch that claims each attempt
 *      (or fails a delivery whose endpoint is disabled or gone);
 *   2. the claimed requests, at most `concurrency` at a time — no D1 call in this step;
 *   3. one D1 batch with every attempt's row, its delivery's new state and its endpoint's counters.
 * The answer is in the ids' order: each id's outcome, or the Error that kept its attempt from being
 * recorded (its message is to be retried). If the batch of step 3 fails, each attempt is written
 * alone, so one bad write does not take the others down with it. A failure in step 1 throws: then
 * nothing was sent. An id given twice is claimed once (the second claim finds the count moved).
 */
export async function deliverAll(services: Services, deliveryIds: readonly string[], opts: { now?: number; concurrency?: number } = {}): Promise<(AttemptOutcome | Error)[]> {
  const now = opts.now ?? Date.now()
  const startedAt = Date.now()
  // The attempts' own time: `now` moved on by the time spent since (a request waits its turn).
  const clock = () => now + (Date.now() - startedAt)
  const planned = await claimAll(services, deliveryIds, now)
  const claimed = planned.flatMap((o, i) => ('claim' in o ? [{ i, claim: o.claim }] : []))
  // Endpoints' secrets are unsealed once per batch, not once per delivery.
  const secrets = new Map<string, Promise<string[]>>()
  const secretsOf = (c: Claim) => {
    const key = c.e ? c.e.id : `user:${c.d.userId}`
    const known = secrets.get(key)
    if (known) return known
    const s = c.e ? signingSecrets(services, c.e, clock()) : numberCallbackSecret(services, c.d.userId).then((x) => [x])
    secrets.set(key, s)
    return s
  }
  const sent = await mapLimit(claimed, opts.concurrency ?? DELIVERY_CONCURRENCY, ({ claim }) => send(services, claim, clock(), secretsOf))
  const written = await recordAll(services, sent)
  const outcomes = new Map(claimed.map(({ i }, k) => [i, written[k] ?? sent[k]!.outcome]))
  return planned.map((o, i) => ('claim' in o ? outcomes.get(i)! : o))
}

/** A delivery whose attempt this invocation owns: its row as read before the claim, and its endpoint's. */
interface Claim {
  d: WebhookDelivery
  e: WebhookEndpoint | null
  attempt: number
}

/** Step 1 of `deliverAll`: per id, an outcome already final (nothing to send) or the claim to send. */
async function claimAll(services: Services, ids: readonly string[], now: number): Promise<(AttemptOutcome | { claim: Claim })[]> {
  const { db } = services
  const rows = new Map<string, { delivery: WebhookDelivery; endpoint: WebhookEndpoint | null }>()
  const unique = [...new Set(ids)]
  const reads = chunk(unique, IDS_PER_STATEMENT).map((part) =>
    db
      .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints })
      .from(webhookDeliveries)
      .leftJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
      .where(inArray(webhookDeliveries.id, part)),
  )
  // Each read on its own (together), not in one db.batch: a batch answers rows as objects keyed by column name, so
  // the endpoint's `id`, `url`, … overwrite the delivery's in a two-table join, and every delivery would read as unknown.
  for (const part of await Promise.all(reads)) for (const r of part) rows.set(r.delivery.id, r)

  const out: (AttemptOutcome | { claim: Claim })[] = []
  const writes: BatchItem<'sqlite'>[] = []
  /** For each write, the index in `out` of the claim it makes (null: a disabled endpoint's delivery). */
  const claims: (number | null)[] = []
  for (const id of ids) {
    const row = rows.get(id)
    if (!row) {
      out.push({ kind: 'skipped', reason: 'no such delivery' })
      continue
    }
    const { delivery: d, endpoint: e } = row
    if (d.status === 'succeeded' || d.status === 'failed') {
      out.push({ kind: 'skipped', reason: `already ${d.status}` })
      continue
    }
    // A copy of a message whose retry is already scheduled: the scheduled one will deliver.
    if (d.status === 'retrying' && d.nextRetryAt && d.nextRetryAt.getTime() > now + 2000) {
      out.push({ kind: 'skipped', reason: 'retry scheduled later' })
      continue
    }
    if (d.endpointId && !e?.isActive) {
      // No request is made, so no attempt is logged and the endpoint's counters stay as they are.
      const error = e ? `endpoint disabled${e.disabledReason ? ` (${e.disabledReason})` : ''}` : 'endpoint deleted'
      writes.push(
        db
          .update(webhookDeliveries)
          .set({ status: 'failed', errorMessage: error, nextRetryAt: null, updatedAt: new Date(now) })
          .where(and(eq(webhookDeliveries.id, d.id), notInArray(webhookDeliveries.status, ['succeeded', 'failed']))),
      )
      claims.push(null)
      out.push({ kind: 'failed', attempt: d.attemptCount, httpStatus: null, responseTime: null, error, final: 'endpoint_disabled' })
      continue
    }
    const attempt = d.attemptCount + 1
    writes.push(
      db
        .update(webhookDeliveries)
        .set({ attemptCount: attempt, updatedAt: new Date(now) })
        .where(and(eq(webhookDeliveries.id, d.id), eq(webhookDeliveries.attemptCount, d.attemptCount))),
    )
    claims.push(out.length)
    out.push({ claim: { d, e, attempt } })
  }
  if (!writes.length) return out
  const results = await db.batch(writes as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])
  claims.forEach((i, k) => {
    if (i !== null && (results[k] as D1Result).meta.changes !== 1) out[i] = { kind: 'skipped', reason: 'attempt claimed by another consumer' }
  })
  return out
}

/** An attempt made: what to write, and what to answer once it is written. */
interface Sent {
  claim: Claim
  at: number
  result: Result
  outcome: AttemptOutcome
}

/** Step 2 of `deliverAll`: the request of one claimed attempt, and what follows from its answer. */
async function send(services: Services, c: Claim, now: number, secretsOf: (c: Claim) => Promise<string[]>): Promise<Sent> {
  const { d, e, attempt } = c
  const done = (result: Result, outcome: AttemptOutcome): Sent => ({ claim: c, at: now, result, outcome })
  const url = e?.url ?? d.url
  const verdict = checkWebhookUrl(url, services.config.webhookUrls)
  if (!verdict.ok) {
    const error = `URL refused: ${verdict.reason}`
    return done({ status: 'failed', httpStatus: null, error, responseTime: null }, { kind: 'failed', attempt, httpStatus: null, responseTime: null, error, final: 'url_refused' })
  }

  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Switchboard-Webhooks/1.0',
    ...(await signatureHeaders(await secretsOf(c), d.eventId, Math.floor(now / 1000), d.payload)),
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

  if (!error) return done({ status: 'succeeded', httpStatus, error: null, responseTime }, { kind: 'succeeded', attempt, httpStatus: httpStatus!, responseTime })
  error = error.slice(0, ERROR_TEXT_MAX)
  if (httpStatus === 410) return done({ status: 'failed', httpStatus, error, responseTime, disable: '410 Gone' }, { kind: 'failed', attempt, httpStatus, responseTime, error, final: 'gone' })
  if (e && now - (e.failingSince?.getTime() ?? now) >= DISABLE_AFTER_MS) {
    return done({ status: 'failed', httpStatus, error, responseTime, disable: 'failing for 5 days' }, { kind: 'failed', attempt, httpStatus, responseTime, error, final: 'endpoint_disabled' })
  }
  const maxAttempts = Math.min(e?.retryPolicy.maxAttempts ?? MAX_ATTEMPTS, MAX_ATTEMPTS)
  if (attempt >= maxAttempts) return done({ status: 'failed', httpStatus, error, responseTime }, { kind: 'failed', attempt, httpStatus, responseTime, error, final: 'exhausted' })
  const delaySeconds = retryDelay(attempt, retryAfter)
  return done({ status: 'retrying', httpStatus, error, responseTime, nextRetryAt: now + delaySeconds * 1000 }, { kind: 'retry', attempt, delaySeconds, httpStatus, responseTime, error })
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

/**
 * Step 3 of `deliverAll`: every attempt's writes in one D1 batch; if that fails, each attempt's
 * alone. The answer is per attempt: undefined when written, or the Error that stopped it.
 */
async function recordAll(services: Services, sent: readonly Sent[]): Promise<(Error | undefined)[]> {
  if (!sent.length) return []
  const { db } = services
  const writes = sent.map((s) => attemptWrites(services, s))
  let together: unknown[] | null = null
  try {
    together = await db.batch(writes.flat() as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])
  } catch (e) {
    if (sent.length > 1) logger.warn('webhooks: the batch of attempts failed; writing each alone', { attempts: sent.length, error: (e as Error).message })
    else return [e as Error]
  }
  const starts = writes.map((_, k) => writes.slice(0, k).reduce((n, w) => n + w.length, 0))
  return Promise.all(
    sent.map(async (s, k) => {
      const mine = writes[k]!
      let results: unknown[]
      if (together) results = together.slice(starts[k], starts[k]! + mine.length)
      else {
        try {
          results = await db.batch(mine as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])
        } catch (e) {
          return e as Error
        }
      }
      // Recorded: telling the owner is best effort (the attempt is not made again for it).
      await afterRecorded(services, s, results).catch((e) => logger.error('webhooks: endpoint owner not told', { endpointId: s.claim.e?.id, error: (e as Error).message }))
      return undefined
    }),
  )
}

/** The attempt's row, the delivery's new state, the endpoint's counters (and its switch-off, if any). */
function attemptWrites(services: Services, { claim: { d, e, attempt }, at: now, result: r }: Sent): BatchItem<'sqlite'>[] {
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
  return writes
}

/** After an attempt is written (`results` are its statements'): if it switched the endpoint off, tell its owner, once. */
async function afterRecorded(services: Services, { claim: { e }, result: r }: Sent, results: unknown[]) {
  if (!r.disable || !e || (results[results.length - 1] as D1Result).meta.changes !== 1) return
  services.defer(drainOutbox(services))
  const owner = await services.db.select({ email: users.email }).from(users).where(eq(users.id, e.userId)).get()
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

/**
 * Idempotency-Key on every POST that moves money or buys (README "Wallet and money"). A retried
 * request must not buy or charge twice:
 *
 * - Applies on POST routes that declare `idempotent()` (src/http/policy.ts) to requests that carry
 *   `Idempotency-Key` (1–255 visible ASCII characters, else 400 `VALIDATION_ERROR`) from an
 *   authenticated caller. Without the header, or without credentials (the route answers 401), the
 *   request passes through untouched.
 * - Keys belong to the credential that sent them: `key:<apiKeyId>` for an API key, `user:<userId>`
 *   for a user session (any session of that user). Not shared between a user's session and keys:
 *   a replay is answered before the route checks permissions, so a shared scope would let a key
 *   read an answer it may not produce. Different users never see each other's keys.
 * - The record (scope, key, method, path, fingerprint of the body) is written `in_progress` before
 *   the handler runs — one INSERT, unique on (scope, key) — so of two concurrent requests with one
 *   key exactly one runs; the other gets 409 `IDEMPOTENCY_KEY_IN_USE` (with Retry-After).
 * - Bodies are compared as the handler reads them: a JSON body by its parsed value (the fingerprint
 *   is `v2:` + SHA-256 of its canonical text — object keys sorted at every depth, no whitespace),
 *   so `{"amount":1}` and `{ "amount" : 1 }` are one request; array order and every value count.
 *   Any other body (or JSON nested deeper than `MAX_CANONICAL_DEPTH`) by its bytes: the
 *   unprefixed SHA-256 of the raw text, the format every record had before. A stored unprefixed
 *   fingerprint is therefore compared with the raw-bytes hash, so records written before JSON was
 *   compared by value still replay a byte-identical retry.
 * - When the handler answers, the status and body are stored; the same key with the same method,
 *   path and body then gets that answer again with `Idempotent-Replayed: true` (the body as first
 *   sent, `meta.requestId` included). The same key with another body or path is 422
 *   `IDEMPOTENCY_KEY_REUSED`.
 * - Stored: every answer except 5xx, 401, 403 and 429 — those say nothing about the request itself
 *   (a crash, credentials, role, pace), so the record is deleted and the client may retry with the
 *   same key. A 4xx decision (validation, insufficient balance, not found) is final for that key.
 * - Records live 24 h; an expired one is overwritten by the next use of its key, and the sweeper
 *   deletes them (`purgeIdempotencyKeys`). A record left `in_progress` by a crashed request is
 *   taken over after `IN_PROGRESS_LEASE_MS`; handlers derive their own operation ids from the key
 *   (wallet op ids), so even a takeover does not move money twice.
 */
import { z } from '@hono/zod-openapi'
import { and, eq, lte, or } from 'drizzle-orm'
import type { MiddlewareHandler } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { idempotencyKeys } from '../db/schema'
import { sha256Hex } from '../lib/crypto'
import { AppError, ValidationError } from '../lib/errors'
import { err } from '../lib/http'
import type { AppEnv } from './router'
import type { Principal } from '../lib/principal'
import { declaredPolicy } from './policy'
import { IDEMPOTENCY_TTL_MS } from '../lib/idempotency'
import { logger } from '../lib/logger'

export { IDEMPOTENCY_TTL_MS }
/** An `in_progress` record older than this belongs to a request that died; the key may be used again. */
export const IN_PROGRESS_LEASE_MS = 5 * 60_000
export const REPLAYED_HEADER = 'Idempotent-Replayed'

const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/
/** Answers about the caller or the pace, not the request: not kept (and neither is any 5xx). */
export const NOT_STORED = new Set([401, 403, 429])

/** What the `Idempotency-Key` header parameter says, on every route that declares `idempotent()` (openapi-document.ts). */
export const IDEMPOTENCY_KEY_DESCRIPTION =
  'Optional, 1–255 visible ASCII characters (a UUID). A retry with the same key and body gets the first answer again ' +
  '(a JSON body is compared by value: key order and whitespace do not matter) ' +
  '(`Idempotent-Replayed: true`) for 24 h; 5xx, 401, 403 and 429 answers are not kept, so they may be retried with the same key.'

/** For routes that declare `idempotent()`: the header in `request.headers`, and the middleware's answers. */
export const IdempotencyKeyHeader = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({ param: { name: 'idempotency-key', in: 'header' }, description: IDEMPOTENCY_KEY_DESCRIPTION }),
})
export const idempotencyErrorResponses = {
  409: err('A request with this Idempotency-Key is still running (`IDEMPOTENCY_KEY_IN_USE`, `Retry-After`)', { retryAfter: true }),
  422: err('This Idempotency-Key was used for a different request (`IDEMPOTENCY_KEY_REUSED`)'),
} as const

/** Whose keys these are: the API key, or the user for a session. Handlers deriving ids from a key use it too. */
export function idempotencyScope(p: Pick<Principal, 'userId' | 'apiKeyId'>): string {
  return p.apiKeyId ? `key:${p.apiKeyId}` : `user:${p.userId}`
}

/** The middleware: Idempotency-Key on the POST routes that declare `idempotent()`. */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== 'POST' || !declaredPolicy(c).idempotent) return next()
  const key = c.req.header('idempotency-key')
  const principal = c.get('principal')
  if (key === undefined || !principal) return next()
  if (!KEY_FORMAT.test(key)) {
    throw ValidationError.field('Idempotency-Key', 'Idempotency-Key must be 1–255 visible ASCII characters (a UUID is a good choice)')
  }

  const { db } = c.var.services
  const scope = idempotencyScope(principal)
  const method = c.req.method
  const path = c.req.path
  const bodyText = await c.req.text()
  const requestHash = await requestFingerprint(bodyText)
  const record = and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key))

  /** Writes our `in_progress` record unless a live one holds the key; returns its creation instant. */
  const claim = async (): Promise<Date | null> => {
    const now = Date.now()
    const createdAt = new Date(now)
    const fields = { method, path, requestHash, status: 'in_progress' as const, responseStatus: null, responseBody: null, createdAt, expiresAt: new Date(now + IDEMPOTENCY_TTL_MS) }
    const r = await db
      .insert(idempotencyKeys)
      .values({ scope, key, ...fields })
      .onConflictDoUpdate({
        target: [idempotencyKeys.scope, idempotencyKeys.key],
        set: fields,
        setWhere: or(lte(idempotencyKeys.expiresAt, createdAt), and(eq(idempotencyKeys.status, 'in_progress'), lte(idempotencyKeys.createdAt, new Date(now - IN_PROGRESS_LEASE_MS)))),
      })
      .run()
    return r.meta.changes > 0 ? createdAt : null
  }

  let claimedAt = await claim()
  for (let attempt = 1; !claimedAt; attempt++) {
    const prior = await db.select().from(idempotencyKeys).where(record).get()
    if (!prior) {
      // Deleted between our insert and this read (its request ended in a 5xx): try again, once.
      if (attempt > 1) throw inUse()
      claimedAt = await claim()
      continue
    }
    if (prior.method !== method || prior.path !== path || !(await sameBody(prior.requestHash, requestHash, bodyText))) {
      throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request; use a new key for a new request', {
        key,
        firstRequest: { method: prior.method, path: prior.path },
      })
    }
    if (prior.status !== 'done' || prior.responseStatus === null || prior.responseBody === null) throw inUse()
    c.header(REPLAYED_HEADER, 'true')
    c.header('Content-Type', 'application/json; charset=UTF-8')
    return c.body(prior.responseBody, prior.responseStatus as ContentfulStatusCode)
  }

  const ours = and(record, eq(idempotencyKeys.createdAt, claimedAt))
  try {
    await next()
  } catch (e) {
    await forget()
    throw e
  }
  const status = c.res.status
  if (status >= 500 || NOT_STORED.has(status)) {
    await forget()
    return
  }
  try {
    const body = await c.res.clone().text()
    await db.update(idempotencyKeys).set({ status: 'done', responseStatus: status, responseBody: body }).where(ours).run()
  } catch (e) {
    // The answer still goes out; the record stays in_progress until its lease ends.
    logger.error('idempotency: storing the response failed', { requestId: c.get('requestId'), error: (e as Error).message })
  }

  async function forget() {
    try {
      await db.delete(idempotencyKeys).where(ours).run()
    } catch (e) {
      logger.error('idempotency: releasing the key failed', { requestId: c.get('requestId'), error: (e as Error).message })
    }
  }
}

/** A JSON body's canonical fingerprint is `v2:<hex>`; an unprefixed one is the SHA-256 of the raw bytes. */
const CANONICAL_PREFIX = 'v2:'
/** Deeper JSON is compared byte for byte (keeps canonicalization's recursion bounded). */
export const MAX_CANONICAL_DEPTH = 64

/**
 * The JSON text of `value` with object keys sorted (by UTF-16 code units) at every depth and no
 * whitespace; null when it nests deeper than MAX_CANONICAL_DEPTH. Written out directly, never
 * through a rebuilt object, so a `__proto__` key stays an ordinary key.
 */
export function canonicalJson(value: unknown, depth = 0): string | null {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (depth >= MAX_CANONICAL_DEPTH) return null
  const parts: string[] = []
  if (Array.isArray(value)) {
    for (const item of value) {
      const c = canonicalJson(item, depth + 1)
      if (c === null) return null
      parts.push(c)
    }
    return `[${parts.join(',')}]`
  }
  const obj = value as Record<string, unknown>
  for (const k of Object.keys(obj).sort()) {
    const c = canonicalJson(obj[k], depth + 1)
    if (c === null) return null
    parts.push(`${JSON.stringify(k)}:${c}`)
  }
  return `{${parts.join(',')}}`
}

/** What a record keeps of a request body (see the module comment). */
export async function requestFingerprint(bodyText: string): Promise<string> {
  let parsed: unknown
  try {
    parsed = JSON.parse(bodyText)
  } catch {
    return sha256Hex(bodyText)
  }
  const canonical = canonicalJson(parsed)
  return canonical === null ? sha256Hex(bodyText) : `${CANONICAL_PREFIX}${await sha256Hex(canonical)}`
}

/** Whether a stored fingerprint names this body: the same fingerprint, or (an unprefixed one) the same bytes. */
async function sameBody(stored: string, fingerprint: string, bodyText: string): Promise<boolean> {
  if (stored === fingerprint) return true
  // A stored raw-bytes hash (a non-JSON body, or a record older than value comparison) against a JSON body: compare bytes.
  return !stored.startsWith(CANONICAL_PREFIX) && fingerprint.startsWith(CANONICAL_PREFIX) && stored === (await sha256Hex(bodyText))
}

function inUse() {
  return new AppError(409, 'IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still being processed; retry shortly', undefined, undefined, {
    'Retry-After': '1',
  })
}

/**
 * API-call metering: every request authenticated by an API key counts 1 into one usage row per
 * key and UTC day (`api_calls`, resourceId = key id, transactionId `api:<keyId>:<YYYY-MM-DD>`),
 * grown by an upsert (quantity += n, total_cost += n × rate).
 *
 * Invariants:
 * - No latency: a request only adds to a per-isolate pending map (synchronous); the D1 write
 *   happens after the response, inside `services.afterAnswer` (waitUntil).
 * - No promise crosses requests: the map holds counts, never a promise, and a flush never awaits
 *   another request's work (in workerd that work is cancelled when its own request ends, and an
 *   await on it from elsewhere never completes). A flush writes in its own request's context.
 * - Coalesced (lib/coalesce.ts): one flush at a time per isolate; a request whose deferred flush
 *   finds one running leaves its count to it, and the running flush takes the whole map each
 *   round. A burst of N requests costs a few statements, not N. A failed write puts its counts
 *   back for the next flush; a flush whose request was cut off mid-write loses its lease after
 *   FLUSH_LEASE_MS, so metering never stalls behind it.
 * - Counted: requests whose API key was accepted (a principal with `via: 'api_key'`), whatever
 *   the route answers. Not counted: requests whose credentials were refused, requests refused by
 *   the rate limiter (they stop before this middleware), user sessions, and POST /api/usage — the
 *   usage-report channel itself, so that reporting usage never adds usage of its own.
 */
import type { MiddlewareHandler } from 'hono'
import type { Db } from '../../db/client'
import { newId } from '../../lib/ids'
import type { AppEnv } from '../../http/router'
import { RATES } from '../subscriptions/plans'
import { monthOf } from '../../lib/periods'
import { UNITS } from './product-meters'
import { logger } from '../../lib/logger'
import { coalescedFlush } from '../../lib/coalesce'

interface Pending {
  userId: string
  keyId: string
  day: string
  count: number
  /** Failed writes of this entry so far (a row that can never be written is dropped after MAX_FAILURES). */
  failures: number
}

/** Rounds per flush: bounds how long one request's waitUntil keeps working under a steady stream. */
const MAX_ROUNDS = 20
const MAX_FAILURES = 5

/** A flush that has not looked at the map for this long is presumed cut off: another may start. */
const FLUSH_LEASE_MS = 10_000

/** Counts not written yet, by user, key and day. Numbers only: never a promise (see above). */
const pending = new Map<string, Pending>()

/** Routes whose calls are not metered (see the module comment). */
function unmetered(method: string, path: string) {
  return method === 'POST' && (path === '/api/usage' || path === '/api/usage/')
}

function add(userId: string, keyId: string, day: string, count: number, failures = 0) {
  const k = `${userId}\n${keyId}\n${day}`
  const e = pending.get(k)
  if (e) {
    e.count += count
    e.failures = Math.max(e.failures, failures)
  } else pending.set(k, { userId, keyId, day, count, failures })
}

/** Counts one API-key request for its key and UTC day. Exported for tests of the flush itself. */
export function countApiCall(userId: string, keyId: string, at = Date.now()) {
  add(userId, keyId, new Date(at).toISOString().slice(0, 10), 1)
}

/** Puts an entry that was not written back into the map, or drops it after MAX_FAILURES tries. */
function requeue(e: Pending, error: unknown) {
  if (e.failures + 1 >= MAX_FAILURES) {
    logger.error('api-call meter: dropping an entry that cannot be written', { module: 'usage', entry: e, error: String(error) })
  } else add(e.userId, e.keyId, e.day, e.count, e.failures + 1)
}

/**
 * Every pending key-day in one statement: the entries travel as one JSON array (json_each); each
 * inserts its row or grows the existing one (quantity and cost added). ?1 the time, ?2 the unit, ?3 the rate, ?4 the entries.
 */
const UPSERT_ALL = `INSERT INTO usage_records (id, user_id, resource_type, resource_id, quantity, unit, unit_price, total_cost, currency, prepaid,
    description, month, occurred_at, transaction_id, report_id, created_at, updated_at)
  SELECT value ->> 0, value ->> 1, 'api_calls', value ->> 2, value ->> 3, ?2, ?3, (value ->> 3) * ?3, 'USD', 0,
    value ->> 4, value ->> 5, value ->> 6, value ->> 7, NULL, ?1, ?1
  FROM json_each(?4) WHERE true
  ON CONFLICT (user_id, transaction_id) DO UPDATE SET
    quantity = quantity + excluded.quantity, total_cost = total_cost + excluded.total_cost, updated_at = excluded.updated_at`

function upsertAll(db: Db, entries: Pending[], now: Date) {
  const rows = entries.map((e) => {
    const occurred = Date.parse(`${e.day}T00:00:00.000Z`)
    return [newId('usg', now.getTime()), e.userId, e.keyId, e.count, `API requests with key ${e.keyId} on ${e.day}`, monthOf(occurred), occurred, `api:${e.keyId}:${e.day}`]
  })
  return db.$client.prepare(UPSERT_ALL).bind(now.getTime(), UNITS.api_calls, RATES.apiCalls, JSON.stringify(rows)).run()
}

/** Every pending key-day in one statement. False when something was not written (it is back in the map). */
async function write(db: Db, entries: Pending[]): Promise<boolean> {
  const now = new Date()
  try {
    await upsertAll(db, entries, now)
    return true
  } catch (e) {
    logger.warn('api-call meter: write failed', { module: 'usage', entries: entries.length, error: (e as Error).message })
    if (entries.length === 1) {
      requeue(entries[0]!, e)
      return false
    }
  }
  // One bad entry (say, a key whose account is gone) must not hold back the others.
  let ok = true
  for (const entry of entries) {
    try {
      await upsertAll(db, [entry], now)
    } catch (e) {
      ok = false
      requeue(entry, e)
    }
  }
  return ok
}

const flusher = coalescedFlush<Pending[], Db>({
  take: () => {
    if (!pending.size) return null
    const entries = [...pending.values()]
    pending.clear()
    return entries
  },
  write: (entries, db) => write(db, entries),
  leaseMs: FLUSH_LEASE_MS,
  maxRounds: MAX_ROUNDS,
})

/**
 * Writes what is pending — and what arrives while it writes, for a few rounds — in the caller's
 * own request context, unless a flush is already running in this isolate (it takes those counts).
 * Resolves when done; a failed write leaves its counts in the map.
 */
export function flushApiCalls(db: Db, windowMs = 0): Promise<void> {
  return flusher.flush(db, windowMs)
}

export const meterApiCalls: MiddlewareHandler<AppEnv> = async (c, next) => {
  const p = c.get('principal')
  if (p?.via !== 'api_key' || !p.apiKeyId || unmetered(c.req.method, c.req.path)) return next()
  countApiCall(p.userId, p.apiKeyId)
  try {
    await next()
  } finally {
    // After the handler: the write never competes with the request it counts.
    const { afterAnswer, db, flushWindowMs } = c.var.services
    afterAnswer(() => flushApiCalls(db, flushWindowMs))
  }
}

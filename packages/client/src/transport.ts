/**
 * Sending one request with a timeout and retries. Only idempotent requests are retried — the caller
 * decides which (GET, HEAD, PUT, DELETE, OPTIONS, and the POSTs that carry an `Idempotency-Key` the
 * API honours) — so a retried purchase or send is answered from the first one, never made twice.
 *
 * Retried: network errors and timeouts, 429, 5xx but 501, and a 409 that carries `Retry-After` (the
 * API's `IDEMPOTENCY_KEY_IN_USE`: the first request with that key is still running). The wait before
 * attempt n+1 is `Retry-After` when the answer has one, else exponential backoff with jitter:
 * half of min(8 s, 0.5 s × 2ⁿ) plus a random part of the other half, so clients that failed together
 * do not come back together. A `Retry-After` longer than `maxRetryDelayMs` is not waited for: the
 * answer goes back to the caller (a 429 becomes a `SwitchboardError` carrying the header).
 *
 * Every attempt is a fresh Request from the buffered body and headers (a body can be read once), so
 * the same `Idempotency-Key` goes with each. Only `fetch`, `AbortController` and timers: Node ≥ 18,
 * Workers and browsers.
 */
import { SwitchboardError } from './errors.js'

export type Fetch = (request: Request) => Promise<Response>

export interface RetryPolicy {
  /** Attempts after the first for an idempotent request (default 2). */
  retries: number
  /** Time allowed for each attempt until the answer's headers arrive, in ms; 0 for none (default 30,000). */
  timeoutMs: number
  /** The longest `Retry-After` the client waits out, in ms (default 60,000). */
  maxRetryDelayMs: number
}

export const DEFAULT_POLICY: RetryPolicy = { retries: 2, timeoutMs: 30_000, maxRetryDelayMs: 60_000 }

const BASE_DELAY_MS = 500
const MAX_BACKOFF_MS = 8_000

/** Backoff before attempt `attempt + 1` (0-based), with jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, BASE_DELAY_MS * 2 ** attempt)
  return ceiling / 2 + random() * (ceiling / 2)
}

/** `Retry-After` in ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim()
  if (!value) return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function retryableStatus(response: Response): boolean {
  if (response.status === 429) return true
  if (response.status >= 500) return response.status !== 501
  return response.status === 409 && response.headers.has('retry-after')
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** One attempt's signal: aborted by the caller's signal or by the timeout (AbortSignal.any is not in Node 18). */
function attemptSignal(outer: AbortSignal | undefined, timeoutMs: number) {
  const controller = new AbortController()
  let timedOut = false
  const onAbort = () => controller.abort(outer?.reason)
  outer?.addEventListener('abort', onAbort, { once: true })
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true
          controller.abort(new Error(`no answer within ${timeoutMs} ms`))
        }, timeoutMs)
      : undefined
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => {
      if (timer !== undefined) clearTimeout(timer)
      outer?.removeEventListener('abort', onAbort)
    },
  }
}

export interface SendOptions {
  /** Whether the request may be sent again (see the top of this file). */
  retryable: boolean
  /** The caller's signal; defaults to the request's own. */
  signal?: AbortSignal
  random?: () => number
}

/** Sends `request` through `fetch`, retrying as the policy allows; resolves to the last answer, or throws `NETWORK_ERROR` / `TIMEOUT`. */
export async function send(fetch: Fetch, request: Request, policy: RetryPolicy, options: SendOptions): Promise<Response> {
  const outer = options.signal ?? request.signal
  const body = request.body ? await request.arrayBuffer() : undefined
  const attempts = options.retryable ? Math.max(0, policy.retries) + 1 : 1
  for (let attempt = 0; ; attempt++) {
    if (outer?.aborted) throw outer.reason
    const last = attempt + 1 >= attempts
    const current = attemptSignal(outer, policy.timeoutMs)
    let response: Response
    try {
      response = await fetch(new Request(request.url, { method: request.method, headers: request.headers, body, redirect: request.redirect, signal: current.signal }))
    } catch (cause) {
      if (outer?.aborted) throw outer.reason
      const failure = current.timedOut()
        ? new SwitchboardError({ status: 0, code: 'TIMEOUT', message: `${request.method} ${request.url}: no answer within ${policy.timeoutMs} ms`, cause })
        : new SwitchboardError({ status: 0, code: 'NETWORK_ERROR', message: `${request.method} ${request.url}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
      if (last) throw failure
      await sleep(backoffMs(attempt, options.random), outer)
      continue
    } finally {
      current.done()
    }
    if (last || !retryableStatus(response)) return response
    const wait = retryAfterMs(response.headers) ?? backoffMs(attempt, options.random)
    if (wait > policy.maxRetryDelayMs) return response
    await response.body?.cancel().catch(() => {})
    await sleep(wait, outer)
  }
}

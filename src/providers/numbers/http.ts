/**
 * One HTTP exchange with an upstream, bounded in time. Whatever goes wrong on the way (the
 * network, a timeout, a body that never ends) becomes an `UpstreamError` whose message names
 * the provider and the operation — never the URL, whose query may carry an API key, and never
 * the runtime's own error text, which often quotes the URL.
 */
import { UpstreamError } from '../../lib/errors'

export const DEFAULT_TIMEOUT_MS = 10_000

export interface UpstreamAnswer {
  status: number
  headers: Headers
  text: string
}

export async function upstreamRequest(fetcher: typeof fetch, provider: string, operation: string, url: string, init: RequestInit, timeoutMs: number): Promise<UpstreamAnswer> {
  const signal = AbortSignal.timeout(timeoutMs)
  // The race also bounds a fetch that ignores its signal (an injected one) and a slow body.
  const aborted = new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(new Error('timeout')), { once: true })
  })
  aborted.catch(() => {}) // it may fire after the exchange ended: nobody listens then
  try {
    const res = await Promise.race([fetcher(url, { ...init, signal }), aborted])
    const text = await Promise.race([res.text(), aborted])
    return { status: res.status, headers: res.headers, text }
  } catch (e) {
    if (signal.aborted) throw new UpstreamError(provider, `${operation}: no answer within ${timeoutMs} ms`, { operation, reason: 'timeout' })
    const kind = e instanceof Error ? e.name : 'Error'
    throw new UpstreamError(provider, `${operation}: network error (${kind})`, { operation, reason: 'network' })
  }
}

/**
 * Upstream text made safe to quote in a message: the secrets replaced, control characters
 * dropped, at most `max` characters.
 */
export function quote(text: string, secrets: (string | undefined)[], max = 80): string {
  let out = text
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***')
  out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return out.length > max ? `${out.slice(0, max)}…` : out
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The longest wait an upstream's Retry-After may impose (longer ones are cut to it). */
export const MAX_RETRY_AFTER_S = 3600

/** Retry-After as delay-seconds or an HTTP date, in whole seconds within [1, 3600]; null when absent or unreadable. */
export function retryAfter(header: string | null, now: number): number | null {
  const v = header?.trim()
  if (!v) return null
  const seconds = /^\d+$/.test(v) ? Number(v) : (Date.parse(v) - now) / 1000
  if (!Number.isFinite(seconds)) return null
  return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(seconds)))
}

/**
 * A stand-in for an upstream's HTTP API: an injected `fetch` that records every request and
 * answers from a handler, so adapter tests feed the upstream's documented responses and check
 * the exact request the adapter sent.
 */
import { expect } from 'vitest'

export interface RecordedRequest {
  url: URL
  method: string
  headers: Headers
  body: string
  signal: AbortSignal | null
}

export type Handler = (req: RecordedRequest) => Response | Promise<Response>

export function fakeUpstream(handler: Handler) {
  const calls: RecordedRequest[] = []
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init)
    const rec: RecordedRequest = {
      url: new URL(req.url),
      method: req.method,
      headers: req.headers,
      body: init?.body ? await req.text() : '',
      signal: init?.signal ?? null,
    }
    calls.push(rec)
    return handler(rec)
  }) as typeof globalThis.fetch
  return {
    fetch,
    calls,
    get last(): RecordedRequest {
      const c = calls.at(-1)
      if (!c) throw new Error('no request was sent')
      return c
    },
  }
}

/** A text answer (the handler_api.php protocol answers bare words with HTTP 200). */
export const text = (body: string, status = 200) => new Response(body, { status, headers: { 'content-type': 'text/plain' } })
export const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

/** An answer that starts only after `ms`: longer than the adapter's timeout. */
export const slow = (ms: number, response: () => Response) => new Promise<Response>((resolve) => setTimeout(() => resolve(response()), ms))

/** The rejection of `p` (fails the test when `p` resolves). */
export async function failure(p: Promise<unknown>): Promise<Error & { status?: number; code?: string; details?: unknown }> {
  try {
    const value = await p
    throw new Error(`expected a failure, got ${JSON.stringify(value)}`)
  } catch (e) {
    return e as Error & { status?: number; code?: string; details?: unknown }
  }
}

/** Neither the message nor the details of `e` contain any of `secrets`. */
export function expectNoSecret(e: { message: string; details?: unknown }, ...secrets: string[]) {
  const seen = JSON.stringify({ message: e.message, details: e.details ?? null, stack: (e as Error).stack ?? '' })
  for (const s of secrets) expect(seen.includes(s), `secret leaked: ${seen}`).toBe(false)
}

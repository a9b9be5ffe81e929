/** The retry rules of src/transport.ts, with a stub fetch (no Worker needed). */
import { describe, expect, it } from 'vitest'
import { backoffMs, createClient, retryAfterMs, type SwitchboardError } from '../src/index'

const ok = () => new Response(JSON.stringify({ success: true, data: { balance: 1 }, meta: { requestId: 'req_1' } }), { headers: { 'content-type': 'application/json' } })

function stub(...answers: (Response | Error | 'hang')[]) {
  const calls: Request[] = []
  const fetch = async (request: Request) => {
    calls.push(request)
    const a = answers[Math.min(calls.length - 1, answers.length - 1)]!
    if (a === 'hang') return new Promise<Response>((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason)))
    if (a instanceof Error) throw a
    return a.clone()
  }
  return { fetch, calls }
}

describe('transport', () => {
  it('backs off exponentially with jitter and reads Retry-After as seconds or a date', () => {
    expect([0, 1, 2, 10].map((n) => backoffMs(n, () => 0))).toEqual([250, 500, 1000, 4000])
    expect(backoffMs(1, () => 1)).toBe(1000)
    expect(retryAfterMs(new Headers({ 'retry-after': '3' }))).toBe(3000)
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6000)
    expect(retryAfterMs(new Headers())).toBeUndefined()
  })

  it('retries a GET after a network error and a 503, up to `retries`', async () => {
    const s = stub(new TypeError('connection reset'), new Response('busy', { status: 503, headers: { 'retry-after': '0' } }), ok())
    const sb = createClient({ baseUrl: 'https://api.test', fetch: s.fetch, apiKey: 'sk_test_x' })
    expect(await sb.getWalletBalance()).toEqual({ balance: 1 })
    expect(s.calls).toHaveLength(3)
    expect(s.calls[2]!.headers.get('x-api-key')).toBe('sk_test_x')

    const down = stub(new TypeError('connection refused'))
    const once = createClient({ baseUrl: 'https://api.test', fetch: down.fetch, retries: 1 })
    await expect(once.getWalletBalance()).rejects.toMatchObject({ status: 0, code: 'NETWORK_ERROR' })
    expect(down.calls).toHaveLength(2)
  })

  it('gives up on a Retry-After longer than maxRetryDelayMs, throwing the 429 with its headers', async () => {
    const s = stub(
      new Response(JSON.stringify({ success: false, error: { code: 'RATE_LIMIT_EXCEEDED', message: 'wait' }, meta: { requestId: 'req_2' } }), {
        status: 429,
        headers: { 'retry-after': '900', 'content-type': 'application/json' },
      }),
    )
    const sb = createClient({ baseUrl: 'https://api.test', fetch: s.fetch })
    const e = (await sb.getWalletBalance().catch((x) => x)) as SwitchboardError
    expect(e).toMatchObject({ status: 429, code: 'RATE_LIMIT_EXCEEDED', requestId: 'req_2' })
    expect(e.headers?.get('retry-after')).toBe('900')
    expect(s.calls).toHaveLength(1)
  })

  it('times out an attempt (TIMEOUT after the retries) and stops at once when the caller aborts', async () => {
    const s = stub('hang')
    const sb = createClient({ baseUrl: 'https://api.test', fetch: s.fetch, timeoutMs: 20, retries: 1 })
    await expect(sb.getWalletBalance()).rejects.toMatchObject({ code: 'TIMEOUT' })
    expect(s.calls).toHaveLength(2)

    const controller = new AbortController()
    const pending = sb.getWalletBalance({ signal: controller.signal, timeoutMs: 0 })
    controller.abort(new Error('user left'))
    await expect(pending).rejects.toThrow('user left')
  })

  it('an answer without the envelope still becomes a SwitchboardError', async () => {
    const s = stub(new Response('<html>bad gateway</html>', { status: 502 }))
    const sb = createClient({ baseUrl: 'https://api.test', fetch: s.fetch, retries: 0 })
    await expect(sb.getWalletBalance()).rejects.toMatchObject({ status: 502, code: 'HTTP_502', message: '<html>bad gateway</html>' })
  })
})

/**
 * Verifying Switchboard's webhook deliveries (Standard Webhooks signatures, README "Webhooks"):
 *
 *   webhook-id         the event id, the same on every retry of it: deduplicate on it
 *   webhook-timestamp  Unix seconds of this attempt
 *   webhook-signature  `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`, several
 *                      space-separated while a rotated secret is in its grace period
 *
 * The key is the base64-decoded part of the `whsec_…` secret. Rotation works from both sides: a
 * delivery may carry the new and the old signature, and the receiver may hold several secrets
 * (the new one and the one it replaces); any secret matching any signature verifies. The HMAC is
 * checked with Web Crypto's `verify`, which compares in constant time.
 */

/** The body of a delivery. `data` depends on `event`; `test` is true for `POST /api/v1/webhooks/{id}/test`. */
export interface WebhookEvent<T = Record<string, unknown>> {
  id: string
  event: string
  timestamp: string
  data: T
  account: { id: string; email: string | null }
  test?: boolean
}

export type WebhookFailure = 'MISSING_HEADERS' | 'TIMESTAMP_OUT_OF_TOLERANCE' | 'INVALID_SIGNATURE' | 'INVALID_SECRET' | 'INVALID_PAYLOAD'

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError'
  constructor(
    readonly code: WebhookFailure,
    message: string,
  ) {
    super(message)
  }
}

/** A fetch `Headers`, or a plain object of them as Node's `req.headers` gives (any case; arrays joined). */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>

export interface VerifyWebhookOptions {
  /** Accepted difference between the delivery's timestamp and now, in seconds (default 300). */
  toleranceSeconds?: number
  /** Now, in ms since the epoch (default `Date.now()`). */
  now?: number
}

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(' ') : v
  return undefined
}

function base64(s: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0))
  } catch {
    return undefined
  }
}

function bytesOf(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return new TextEncoder().encode(body)
  return body instanceof Uint8Array ? body : new Uint8Array(body)
}

/**
 * The verified, parsed event of one delivery, or a `WebhookVerificationError`. `rawBody` is the body
 * exactly as received (verify before parsing: a re-serialised object does not match the signature).
 */
export async function verifyWebhook<T = Record<string, unknown>>(
  secret: string | readonly string[],
  headers: HeadersLike,
  rawBody: string | Uint8Array | ArrayBuffer,
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent<T>> {
  const id = header(headers, 'webhook-id')
  const timestamp = header(headers, 'webhook-timestamp')
  const signatures = header(headers, 'webhook-signature')
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('MISSING_HEADERS', 'webhook-id, webhook-timestamp and webhook-signature are required')
  const now = Math.floor((options.now ?? Date.now()) / 1000)
  if (!/^\d{1,15}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? 300)) {
    throw new WebhookVerificationError('TIMESTAMP_OUT_OF_TOLERANCE', 'webhook-timestamp is missing, malformed or too far from now')
  }
  const presented = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => base64(s.slice(3)))
    .filter((s): s is Uint8Array<ArrayBuffer> => s !== undefined)
  const body = bytesOf(rawBody)
  const prefix = new TextEncoder().encode(`${id}.${timestamp}.`)
  const content = new Uint8Array(prefix.length + body.length)
  content.set(prefix)
  content.set(body, prefix.length)
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle
  if (!subtle) throw new Error('verifyWebhook needs Web Crypto (globalThis.crypto.subtle); on Node 18 run node with --experimental-global-webcrypto')
  for (const s of typeof secret === 'string' ? [secret] : secret) {
    const key = base64(s.startsWith('whsec_') ? s.slice('whsec_'.length) : s)
    if (!key?.length) throw new WebhookVerificationError('INVALID_SECRET', 'a secret is not `whsec_` followed by base64')
    const hmac = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    for (const signature of presented) {
      if (await subtle.verify('HMAC', hmac, signature, content)) {
        try {
          return JSON.parse(new TextDecoder().decode(body)) as WebhookEvent<T>
        } catch {
          throw new WebhookVerificationError('INVALID_PAYLOAD', 'the signed body is not JSON')
        }
      }
    }
  }
  throw new WebhookVerificationError('INVALID_SIGNATURE', 'no signature matches any of the secrets')
}

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): what Switchboard sends and
 * what partners verify. Self-contained on WebCrypto, so it runs in Workers, Node ≥ 20, Deno and
 * browsers; the package exports it as `switchboard/webhooks`.
 *
 *   webhook-id:        the event id (the same on every retry)
 *   webhook-timestamp: seconds since the epoch
 *   webhook-signature: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` — several,
 *                      space-separated, while a rotated secret is in its grace period
 *
 * Secrets look like `whsec_<base64 key>`; the key is the base64-decoded part.
 */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60

const enc = new TextEncoder()

function b64encode(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

function b64decode(s: string): Uint8Array {
  const bin = atob(s)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

function keyBytes(secret: string): Uint8Array {
  return b64decode(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret)
}

/** A new `whsec_…` secret with 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${b64encode(crypto.getRandomValues(new Uint8Array(32)))}`
}

/** The raw body as bytes: sign and verify what went over the wire, not a re-serialisation. */
export type Payload = string | Uint8Array | ArrayBuffer

function signedContent(id: string, timestamp: number, body: Payload): Uint8Array {
  if (typeof body === 'string') return enc.encode(`${id}.${timestamp}.${body}`)
  const prefix = enc.encode(`${id}.${timestamp}.`)
  const bytes = body instanceof Uint8Array ? body : new Uint8Array(body)
  const out = new Uint8Array(prefix.length + bytes.length)
  out.set(prefix)
  out.set(bytes, prefix.length)
  return out
}

/** `v1,<base64 signature>` of `id.timestamp.body` under `secret`. */
export async function sign(secret: string, id: string, timestamp: number, body: Payload): Promise<string> {
  const key = await crypto.subtle.importKey('raw', keyBytes(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = await crypto.subtle.sign('HMAC', key, signedContent(id, timestamp, body))
  return `v1,${b64encode(new Uint8Array(mac))}`
}

/** The three headers for one delivery; every secret given signs (new first, then the old one). */
export async function signatureHeaders(secrets: string[], id: string, timestamp: number, body: string): Promise<Record<string, string>> {
  const signatures = await Promise.all(secrets.map((s) => sign(s, id, timestamp, body)))
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signatures.join(' ') }
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = enc.encode(a)
  const y = enc.encode(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}

export interface WebhookSignature {
  /** `webhook-id` */
  id: string
  /** `webhook-timestamp` (seconds) */
  timestamp: string
  /** `webhook-signature` (one or more space-separated `v1,…`) */
  signature: string
}

export interface VerifyOptions {
  /** Accepted clock difference in seconds (default 300). */
  toleranceSeconds?: number
  /** Current time in ms (tests). */
  now?: number
}

/**
 * True when `payload` (the raw body: text or bytes, exactly as received) carries a valid signature
 * from any of `secrets` (pass the old and the new one during a rotation) and its timestamp is
 * within the tolerance. Comparison is constant-time; anything malformed is simply false.
 */
export async function verifyWebhookSignature(payload: Payload, signature: WebhookSignature, secrets: string | string[], options: VerifyOptions = {}): Promise<boolean> {
  if (!signature.id || !/^\d{1,15}$/.test(signature.timestamp ?? '')) return false
  const ts = Number(signature.timestamp)
  const now = Math.floor((options.now ?? Date.now()) / 1000)
  if (Math.abs(now - ts) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false
  const presented = (signature.signature ?? '').split(' ').filter((s) => s.startsWith('v1,'))
  if (!presented.length) return false
  for (const secret of Array.isArray(secrets) ? secrets : [secrets]) {
    let expected: string
    try {
      expected = await sign(secret, signature.id, ts, payload)
    } catch {
      continue
    }
    let ok = false
    for (const p of presented) ok = constantTimeEqual(p, expected) || ok
    if (ok) return true
  }
  return false
}

/** The same check from a request's headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`). */
export function verifyWebhookRequest(payload: Payload, headers: Headers, secrets: string | string[], options?: VerifyOptions) {
  return verifyWebhookSignature(
    payload,
    { id: headers.get('webhook-id') ?? '', timestamp: headers.get('webhook-timestamp') ?? '', signature: headers.get('webhook-signature') ?? '' },
    secrets,
    options,
  )
}

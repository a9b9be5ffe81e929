/**
 * A random (version 4) UUID for Idempotency-Key. `crypto.randomUUID` exists only in secure contexts
 * in browsers (https, localhost), `getRandomValues` wherever Web Crypto does; Node 18 has no global
 * `crypto` without `--experimental-global-webcrypto`, so the last resort is Math.random — a key must
 * be unique within one account for a day, not secret.
 */
export function uuid(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto
  if (typeof c?.randomUUID === 'function') return c.randomUUID()
  const b = c?.getRandomValues ? c.getRandomValues(new Uint8Array(16)) : Uint8Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

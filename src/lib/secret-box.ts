/**
 * Secrets stored in D1 (webhook signing secrets, connector credentials) are encrypted with
 * AES-GCM under a key derived from the ENCRYPTION_KEY secret: `v1.<base64 iv>.<base64 ciphertext>`.
 * A D1 dump alone reveals none of them.
 */
import { fromBase64, toBase64 } from './crypto'

const enc = new TextEncoder()
/** Derived keys by key material. Only finished keys: a pending derivation is never shared between requests. */
const keys = new Map<string, CryptoKey>()
/** What this isolate keeps (read by tests). */
export const derivedKeys: ReadonlyMap<string, CryptoKey> = keys

async function keyFor(material: string): Promise<CryptoKey> {
  const kept = keys.get(material)
  if (kept) return kept
  const base = await crypto.subtle.importKey('raw', enc.encode(material), 'HKDF', false, ['deriveKey'])
  const key = await crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: enc.encode('switchboard/secret-box/v1'), info: new Uint8Array() }, base, { name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ])
  keys.set(material, key)
  return key
}

export async function seal(material: string, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await keyFor(material), enc.encode(plaintext))
  return `v1.${toBase64(iv)}.${toBase64(ct)}`
}

export async function open(material: string, sealed: string): Promise<string> {
  const [version, iv, ct] = sealed.split('.')
  if (version !== 'v1' || !iv || !ct) throw new Error('secret-box: unknown format')
  const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromBase64(iv) }, await keyFor(material), fromBase64(ct))
  return new TextDecoder().decode(pt)
}

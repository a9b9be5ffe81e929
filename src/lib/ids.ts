/**
 * Ids are `<prefix>_<26 chars>`: 10 chars of millisecond time then 16 random chars, Crockford
 * base32, lowercase. They sort by creation time, so `ORDER BY id` is a stable cursor.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

export function newId(prefix: string, now = Date.now()): string {
  let time = ''
  let t = now
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  let rand = ''
  for (const b of bytes) rand += ALPHABET[b & 31]
  return `${prefix}_${time}${rand}`
}

/** A random URL-safe secret of `bytes` bytes of entropy (base62-ish, no padding). */
export function randomSecret(bytes = 32): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  const out: string[] = []
  // Rejection sampling keeps the distribution uniform over 62 symbols.
  while (out.length < Math.ceil(bytes * 1.35)) {
    for (const b of crypto.getRandomValues(new Uint8Array(bytes))) {
      if (b < 248 && out.length < Math.ceil(bytes * 1.35)) out.push(chars[b % 62]!)
    }
  }
  return out.join('')
}

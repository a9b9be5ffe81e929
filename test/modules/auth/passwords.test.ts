/**
 * Production Workers refuse PBKDF2 above 100,000 iterations while the local runtime does not, so
 * nothing but these tests would notice a higher number before deploy.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { DUMMY_PASSWORD_HASH, hashPassword, PBKDF2_ITERATIONS, toBase64, verifyPassword } from '../../../src/lib/crypto'
import { PASSWORD, registerUser } from '../../helpers/api'

/** A correctly computed hash in the stored format, at any iteration count. */
async function hashWith(password: string, iterations: number): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256)
  return `pbkdf2_sha256$${iterations}$${toBase64(salt)}$${toBase64(bits)}`
}

describe('password hashing', () => {
  it('uses exactly 100,000 PBKDF2 iterations', () => {
    expect(PBKDF2_ITERATIONS).toBe(100_000)
  })

  it('stores users.password_hash as pbkdf2_sha256$100000$<salt>$<hash>', async () => {
    const u = await registerUser()
    const row = await env.DB.prepare('SELECT password_hash AS h FROM users WHERE id = ?').bind(u.id).first<{ h: string }>()
    const stored = row!.h
    expect(stored.startsWith('pbkdf2_sha256$100000$'), stored).toBe(true)
    const [, , salt, hash] = stored.split('$')
    expect(atob(salt!).length, stored).toBe(16)
    expect(atob(hash!).length, stored).toBe(32)
    expect(stored, stored).not.toContain(PASSWORD)
    expect(await verifyPassword(PASSWORD, stored), stored).toBe(true)
  })

  it('hashPassword output verifies, a wrong password does not, and salts differ', async () => {
    const a = await hashPassword('Some-Password-1')
    const b = await hashPassword('Some-Password-1')
    expect(a.startsWith(`pbkdf2_sha256$${PBKDF2_ITERATIONS}$`), a).toBe(true)
    expect(a, b).not.toBe(b)
    expect(await verifyPassword('Some-Password-1', a)).toBe(true)
    expect(await verifyPassword('Some-Password-1', b)).toBe(true)
    expect(await verifyPassword('Some-Password-2', a)).toBe(false)
    expect(await verifyPassword('some-password-1', a)).toBe(false)
    expect(await verifyPassword('', a)).toBe(false)
  })

  it('a hash built the same way at 100,000 iterations verifies (the construction below is sound)', async () => {
    const h = await hashWith('Pinned-Password-1', PBKDF2_ITERATIONS)
    expect(await verifyPassword('Pinned-Password-1', h), h).toBe(true)
  })

  it('refuses a correct hash that claims more than 100,000 iterations', async () => {
    const h = await hashWith('Pinned-Password-1', PBKDF2_ITERATIONS + 1)
    expect(await verifyPassword('Pinned-Password-1', h), h).toBe(false)
    const huge = await hashWith('Pinned-Password-1', 200_000)
    expect(await verifyPassword('Pinned-Password-1', huge), huge).toBe(false)
  })

  it('refuses malformed stored hashes', async () => {
    const good = await hashPassword('Some-Password-1')
    const [, iter, salt, hash] = good.split('$')
    for (const bad of [
      '',
      'plaintext',
      `bcrypt$${iter}$${salt}$${hash}`,
      `pbkdf2_sha256$abc$${salt}$${hash}`,
      `pbkdf2_sha256$1.5$${salt}$${hash}`,
      `pbkdf2_sha256$${iter}$$${hash}`,
      `pbkdf2_sha256$${iter}$${salt}$`,
      `pbkdf2_sha256$${iter}$${salt}`,
      `pbkdf2_sha256$0$${salt}$${hash}`,
      `pbkdf2_sha256$-5$${salt}$${hash}`,
      `pbkdf2_sha256$${iter}$not*base64$${hash}`,
    ]) {
      expect(await verifyPassword('Some-Password-1', bad), bad).toBe(false)
    }
  })

  it('the dummy hash used for unknown users costs a full check and matches nothing', async () => {
    expect(DUMMY_PASSWORD_HASH.startsWith(`pbkdf2_sha256$${PBKDF2_ITERATIONS}$`)).toBe(true)
    expect(await verifyPassword(PASSWORD, DUMMY_PASSWORD_HASH)).toBe(false)
    expect(await verifyPassword('', DUMMY_PASSWORD_HASH)).toBe(false)
  })
})

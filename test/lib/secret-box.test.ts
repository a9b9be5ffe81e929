import { describe, expect, it } from 'vitest'
import { derivedKeys, open, seal } from '../../src/lib/secret-box'

const KEY = 'test-key-material-0123456789abcdefghijklmnop'

describe('secret-box', () => {
  it('seals to v1.<iv>.<ciphertext> and opens back', async () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    const sealed = await seal(KEY, secret)
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9+/=_-]+\.[A-Za-z0-9+/=_-]+$/)
    expect(sealed).not.toContain('MfKQ9r8G')
    expect(await open(KEY, sealed)).toBe(secret)
    expect(await open(KEY, await seal(KEY, ''))).toBe('')
    expect(await open(KEY, await seal(KEY, 'ünïcødé ✓'))).toBe('ünïcødé ✓')
  })

  it('uses a fresh IV every time', async () => {
    const a = await seal(KEY, 'same')
    const b = await seal(KEY, 'same')
    expect(a).not.toBe(b)
    expect(a.split('.')[1]).not.toBe(b.split('.')[1])
  })

  it('refuses another key, a tampered ciphertext, and an unknown format', async () => {
    const sealed = await seal(KEY, 'secret')
    await expect(open(`${KEY}-other`, sealed)).rejects.toThrow()
    const [v, iv, ct] = sealed.split('.')
    const flipped = ct!.startsWith('A') ? `B${ct!.slice(1)}` : `A${ct!.slice(1)}`
    await expect(open(KEY, `${v}.${iv}.${flipped}`)).rejects.toThrow()
    await expect(open(KEY, `v2.${iv}.${ct}`)).rejects.toThrow(/unknown format/)
    await expect(open(KEY, 'plaintext')).rejects.toThrow(/unknown format/)
  })

  it('keeps the derived key itself, never a derivation in flight that another request would await', async () => {
    const material = `${KEY}-kept`
    await Promise.all([seal(material, 'a'), seal(material, 'b')])
    const kept = derivedKeys.get(material)
    expect(kept instanceof Promise).toBe(false)
    expect(kept?.type).toBe('secret')
  })
})

import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { DEFAULT_TOLERANCE_SECONDS, newWebhookSecret, sign, signatureHeaders, verifyWebhookRequest, verifyWebhookSignature } from '../../src/lib/webhook-signature'

// The Standard Webhooks specification's own example.
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
}
const SPEC_NOW = SPEC.timestamp * 1000

describe('sign', () => {
  it('matches the Standard Webhooks example signature', async () => {
    expect(await sign(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body)).toBe(SPEC.signature)
    // bytes sign the same as the text they encode
    expect(await sign(SPEC.secret, SPEC.id, SPEC.timestamp, new TextEncoder().encode(SPEC.body))).toBe(SPEC.signature)
  })

  it('agrees with the standardwebhooks package for fresh secrets', async () => {
    for (let i = 0; i < 5; i++) {
      const secret = newWebhookSecret()
      const body = JSON.stringify({ i, text: 'héllo ✓', nested: { a: [1, 2] } })
      const ts = 1_700_000_000 + i
      expect(await sign(secret, `evt_${i}`, ts, body)).toBe(new Webhook(secret).sign(`evt_${i}`, new Date(ts * 1000), body))
    }
  })

  it('new secrets are whsec_ + 32 random bytes, never repeated', () => {
    const a = newWebhookSecret()
    const b = newWebhookSecret()
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(atob(a.slice(6))).toHaveLength(32)
    expect(a).not.toBe(b)
  })

  it('signatureHeaders: one v1 signature per secret, space-separated, new one first', async () => {
    const [newer, older] = [newWebhookSecret(), newWebhookSecret()]
    const h = await signatureHeaders([newer, older], 'evt_1', 1_700_000_000, '{}')
    expect(h['webhook-id']).toBe('evt_1')
    expect(h['webhook-timestamp']).toBe('1700000000')
    const sigs = h['webhook-signature']!.split(' ')
    expect(sigs).toEqual([await sign(newer, 'evt_1', 1_700_000_000, '{}'), await sign(older, 'evt_1', 1_700_000_000, '{}')])
  })
})

describe('verifyWebhookSignature', () => {
  const good = { id: SPEC.id, timestamp: String(SPEC.timestamp), signature: SPEC.signature }

  it('accepts a good signature (text or bytes)', async () => {
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret, { now: SPEC_NOW })).toBe(true)
    expect(await verifyWebhookSignature(new TextEncoder().encode(SPEC.body), good, SPEC.secret, { now: SPEC_NOW })).toBe(true)
    expect(await verifyWebhookSignature(SPEC.body, good, [SPEC.secret], { now: SPEC_NOW })).toBe(true)
  })

  it('accepts a secret without its whsec_ prefix', async () => {
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret.slice(6), { now: SPEC_NOW })).toBe(true)
  })

  it.each([
    ['a tampered body', SPEC.body.replace('2432232314', '2432232315'), good],
    ['a body with one more space', `${SPEC.body} `, good],
    ['another id', SPEC.body, { ...good, id: 'msg_other' }],
    ['another timestamp', SPEC.body, { ...good, timestamp: String(SPEC.timestamp + 1) }],
    ['a tampered signature', SPEC.body, { ...good, signature: SPEC.signature.replace('g0hM', 'g0hN') }],
    ['a truncated signature', SPEC.body, { ...good, signature: SPEC.signature.slice(0, -2) }],
    ['the signature without its version', SPEC.body, { ...good, signature: SPEC.signature.slice(3) }],
    ['an unknown version', SPEC.body, { ...good, signature: SPEC.signature.replace('v1,', 'v2,') }],
    ['an empty signature header', SPEC.body, { ...good, signature: '' }],
    ['an empty id', SPEC.body, { ...good, id: '' }],
    ['an empty timestamp', SPEC.body, { ...good, timestamp: '' }],
    ['a non-numeric timestamp', SPEC.body, { ...good, timestamp: 'yesterday' }],
    ['an exponent timestamp', SPEC.body, { ...good, timestamp: '1.614265330e9' }],
  ])('refuses %s', async (_what, body, sig) => {
    expect(await verifyWebhookSignature(body, sig, SPEC.secret, { now: SPEC_NOW })).toBe(false)
  })

  it('refuses the wrong secret, and an unusable one without throwing', async () => {
    expect(await verifyWebhookSignature(SPEC.body, good, newWebhookSecret(), { now: SPEC_NOW })).toBe(false)
    expect(await verifyWebhookSignature(SPEC.body, good, 'whsec_not base64!', { now: SPEC_NOW })).toBe(false)
    expect(await verifyWebhookSignature(SPEC.body, good, '', { now: SPEC_NOW })).toBe(false)
    expect(await verifyWebhookSignature(SPEC.body, good, [], { now: SPEC_NOW })).toBe(false)
  })

  it('refuses a timestamp outside the tolerance (5 min by default), either way', async () => {
    const tol = DEFAULT_TOLERANCE_SECONDS * 1000
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret, { now: SPEC_NOW + tol })).toBe(true)
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret, { now: SPEC_NOW + tol + 1000 })).toBe(false)
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret, { now: SPEC_NOW - tol - 1000 })).toBe(false)
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret, { now: SPEC_NOW + 3_600_000, toleranceSeconds: 3600 })).toBe(true)
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret, { now: SPEC_NOW + 61_000, toleranceSeconds: 60 })).toBe(false)
    // without `now`, the clock decides: the 2021 example is long expired
    expect(await verifyWebhookSignature(SPEC.body, good, SPEC.secret)).toBe(false)
  })

  it('during a rotation: any of several signatures, under any of several secrets', async () => {
    const [oldSecret, newSecret, stranger] = [newWebhookSecret(), newWebhookSecret(), newWebhookSecret()]
    const ts = Math.floor(Date.now() / 1000)
    const h = await signatureHeaders([newSecret, oldSecret], 'evt_rot', ts, '{"a":1}')
    const sig = { id: h['webhook-id']!, timestamp: h['webhook-timestamp']!, signature: h['webhook-signature']! }
    expect(await verifyWebhookSignature('{"a":1}', sig, oldSecret)).toBe(true)
    expect(await verifyWebhookSignature('{"a":1}', sig, newSecret)).toBe(true)
    expect(await verifyWebhookSignature('{"a":1}', sig, [stranger, newSecret])).toBe(true)
    expect(await verifyWebhookSignature('{"a":1}', sig, stranger)).toBe(false)
    // the partner holds both secrets while switching; a header signed with only the new one still verifies
    const onlyNew = await signatureHeaders([newSecret], 'evt_rot', ts, '{"a":1}')
    expect(await verifyWebhookSignature('{"a":1}', { ...sig, signature: onlyNew['webhook-signature']! }, [oldSecret, newSecret])).toBe(true)
    // the standardwebhooks package agrees
    expect(new Webhook(oldSecret).verify('{"a":1}', h)).toEqual({ a: 1 })
    expect(new Webhook(newSecret).verify('{"a":1}', h)).toEqual({ a: 1 })
    expect(() => new Webhook(stranger).verify('{"a":1}', h)).toThrow()
  })

  it('verifyWebhookRequest reads the three headers; a missing one is false', async () => {
    const secret = newWebhookSecret()
    const ts = Math.floor(Date.now() / 1000)
    const headers = new Headers(await signatureHeaders([secret], 'evt_h', ts, 'body'))
    expect(await verifyWebhookRequest('body', headers, secret)).toBe(true)
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const missing = new Headers(headers)
      missing.delete(name)
      expect(await verifyWebhookRequest('body', missing, secret), name).toBe(false)
    }
  })

  it('is what the package exports as switchboard/webhooks', async () => {
    const pkg = await import('switchboard/webhooks')
    expect(pkg.verifyWebhookSignature).toBe(verifyWebhookSignature)
    expect(pkg.verifyWebhookRequest).toBe(verifyWebhookRequest)
  })
})

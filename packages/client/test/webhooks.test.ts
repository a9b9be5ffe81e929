/**
 * verifyWebhook against deliveries signed as the API signs them (src/lib/webhook-signature.ts, which the
 * webhook sender uses) and by the `standardwebhooks` package, and checked by that package in turn.
 */
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { newWebhookSecret, signatureHeaders } from '../../../src/lib/webhook-signature'
import { verifyWebhook, WebhookVerificationError } from '../src/index'

const event = { id: 'evt_sdk1', event: 'sms.received', timestamp: '2026-11-22T10:30:00.000Z', data: { activationId: 'num_1', code: '424242' }, account: { id: 'usr_1', email: 'a@example.com' } }
const body = JSON.stringify(event)
const now = () => Math.floor(Date.now() / 1000)

describe('verifyWebhook', () => {
  it('accepts a delivery the API signed, and one the standardwebhooks package signed; the package accepts the API-signed one', async () => {
    const secret = newWebhookSecret()
    const headers = await signatureHeaders([secret], event.id, now(), body)
    expect(await verifyWebhook(secret, new Headers(headers), body)).toEqual(event)
    expect(new Webhook(secret).verify(body, headers)).toEqual(event)

    const id = 'msg_standard'
    const at = new Date()
    const signature = new Webhook(secret).sign(id, at, body)
    const theirs = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature }
    expect(await verifyWebhook(secret, theirs, body)).toEqual(event)
    // Bytes as received work as well as text.
    expect(await verifyWebhook(secret, theirs, new TextEncoder().encode(body))).toEqual(event)
  })

  it('is rotation-aware: a delivery signed with the new and the old secret verifies with either; a receiver may hold both', async () => {
    const [fresh, old] = [newWebhookSecret(), newWebhookSecret()]
    const headers = await signatureHeaders([fresh, old], event.id, now(), body)
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2)
    expect(await verifyWebhook(fresh, headers, body)).toEqual(event)
    expect(await verifyWebhook(old, headers, body)).toEqual(event)
    expect(new Webhook(old).verify(body, headers)).toEqual(event)
    // After the grace period only the new secret signs; a receiver still holding [old, new] accepts it.
    const later = await signatureHeaders([fresh], event.id, now(), body)
    expect(await verifyWebhook([old, fresh], later, body)).toEqual(event)
    await expect(verifyWebhook(old, later, body)).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' })
  })

  it('refuses a changed body, a stale timestamp, missing headers and a bad secret', async () => {
    const secret = newWebhookSecret()
    const headers = await signatureHeaders([secret], event.id, now(), body)
    await expect(verifyWebhook(secret, headers, body.replace('424242', '000000'))).rejects.toBeInstanceOf(WebhookVerificationError)
    const stale = await signatureHeaders([secret], event.id, now() - 600, body)
    await expect(verifyWebhook(secret, stale, body)).rejects.toMatchObject({ code: 'TIMESTAMP_OUT_OF_TOLERANCE' })
    expect(await verifyWebhook(secret, stale, body, { toleranceSeconds: 900 })).toEqual(event)
    await expect(verifyWebhook(secret, { 'webhook-id': event.id }, body)).rejects.toMatchObject({ code: 'MISSING_HEADERS' })
    await expect(verifyWebhook('whsec_!!', headers, body)).rejects.toMatchObject({ code: 'INVALID_SECRET' })
    // Node's req.headers: lower-case keys, possibly arrays.
    expect(await verifyWebhook(secret, { ...headers, 'webhook-signature': [headers['webhook-signature']!] }, body)).toEqual(event)
  })
})

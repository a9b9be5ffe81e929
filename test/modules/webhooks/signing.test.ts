/**
 * What a partner sees: every delivery verifies with the standardwebhooks npm package (as a partner
 * would check it) and with our own verifyWebhookSignature, including across a secret rotation.
 */
import { env } from 'cloudflare:test'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { verifyWebhookRequest, verifyWebhookSignature } from '../../../src/lib/webhook-signature'
import { call, registerUser } from '../../helpers/api'
import { sandboxProvider } from '../../helpers/catalog'
import { newId } from '../../../src/lib/ids'
import { answers, createEndpoint, deliveriesOf, emitEvent, harness, runEvents, runWebhooks, type ReceivedRequest } from '../../helpers/webhooks'

const headersOf = (r: ReceivedRequest) => Object.fromEntries(r.headers.entries())
const sigOf = (r: ReceivedRequest) => ({
  id: r.headers.get('webhook-id')!,
  timestamp: r.headers.get('webhook-timestamp')!,
  signature: r.headers.get('webhook-signature')!,
})

/** Fans `type` out for `userId` and delivers it once; the receiver's last request. */
async function deliverOne(h: ReturnType<typeof harness>, userId: string, type = 'SMS_RECEIVED', data: Record<string, unknown> = { messageId: 'sms_1', body: 'Hi' }) {
  const eventId = await emitEvent(userId, type, data)
  await runEvents(h, [eventId])
  const deliveries = await deliveriesOf(eventId)
  await runWebhooks(
    h,
    deliveries.map((d) => d.id),
  )
  return { eventId, deliveries, request: h.receiver.last }
}

describe('delivery signatures', () => {
  it('verify with the standardwebhooks package and with verifyWebhookSignature', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u, { events: ['SMS_RECEIVED'] })
    const h = harness(answers(200))
    const { eventId, request } = await deliverOne(h, u.id)

    // the partner's side, with the standardwebhooks package
    const payload = new Webhook(e.secret).verify(request.body, headersOf(request)) as Record<string, unknown>
    expect(payload).toMatchObject({ id: eventId, event: 'SMS_RECEIVED', data: { messageId: 'sms_1', body: 'Hi' }, account: { id: u.id, email: u.email } })
    expect(request.headers.get('webhook-id')).toBe(eventId)

    // and with ours
    expect(await verifyWebhookSignature(request.body, sigOf(request), e.secret)).toBe(true)
    expect(await verifyWebhookRequest(request.body, request.headers, e.secret)).toBe(true)

    // tampered body, wrong secret, missing header, replayed late: refused by both
    const tampered = request.body.replace('"Hi"', '"Hi!"')
    expect(await verifyWebhookSignature(tampered, sigOf(request), e.secret)).toBe(false)
    expect(() => new Webhook(e.secret).verify(tampered, headersOf(request))).toThrow()
    const other = await createEndpoint(u, { events: ['CALL_STARTED'] })
    expect(await verifyWebhookSignature(request.body, sigOf(request), other.secret)).toBe(false)
    expect(() => new Webhook(other.secret).verify(request.body, headersOf(request))).toThrow()
    const noSig = headersOf(request)
    delete noSig['webhook-signature']
    expect(() => new Webhook(e.secret).verify(request.body, noSig)).toThrow()
    expect(await verifyWebhookSignature(request.body, { ...sigOf(request), signature: '' }, e.secret)).toBe(false)
    const late = Date.now() + 10 * 60_000
    expect(await verifyWebhookSignature(request.body, sigOf(request), e.secret, { now: late })).toBe(false)
  })

  it('each retry is signed afresh (new timestamp) under the same webhook-id, and verifies', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const h = harness(answers(500, 200))
    const eventId = await emitEvent(u.id, 'NUMBER_RELEASED', { numberId: 'pn_9' })
    await runEvents(h, [eventId])
    const [d] = await deliveriesOf(eventId)
    await runWebhooks(h, [d!.id])
    // the retry runs later: its timestamp must be the time it is sent
    await env.DB.prepare(`UPDATE webhook_deliveries SET next_retry_at = ? WHERE id = ?`)
      .bind(Date.now() - 1000, d!.id)
      .run()
    await new Promise((r) => setTimeout(r, 1100))
    await runWebhooks(h, [d!.id], 2)
    const [first, second] = h.receiver.calls
    expect(first!.headers.get('webhook-id')).toBe(eventId)
    expect(second!.headers.get('webhook-id')).toBe(eventId)
    expect(Number(second!.headers.get('webhook-timestamp'))).toBeGreaterThan(Number(first!.headers.get('webhook-timestamp')))
    for (const r of [first!, second!]) {
      expect(new Webhook(e.secret).verify(r.body, headersOf(r))).toMatchObject({ id: eventId })
      expect(await verifyWebhookSignature(r.body, sigOf(r), e.secret)).toBe(true)
    }
  })

  it('during a rotation both secrets verify the same delivery (two signatures); after the grace period only the new one signs', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    const rotated = await call(`/api/v1/webhooks/${e.id}/rotate-secret`, { token: u.accessToken, body: { gracePeriodHours: 24 } })
    expect(rotated.status, rotated.text).toBe(200)
    const newSecret: string = rotated.body.data.secret
    const h = harness(answers(200))

    const during = (await deliverOne(h, u.id)).request
    const sigs = during.headers.get('webhook-signature')!.split(' ')
    expect(sigs).toHaveLength(2)
    for (const s of sigs) expect(s).toMatch(/^v1,/)
    for (const secret of [e.secret, newSecret]) {
      expect(await verifyWebhookSignature(during.body, sigOf(during), secret), secret).toBe(true)
      expect(new Webhook(secret).verify(during.body, headersOf(during))).toBeTruthy()
    }
    expect(await verifyWebhookSignature(during.body, sigOf(during), [e.secret, newSecret])).toBe(true)

    // the grace period ends
    await env.DB.prepare(`UPDATE webhook_endpoints SET previous_secret_expires_at = ? WHERE id = ?`)
      .bind(Date.now() - 1000, e.id)
      .run()
    const got = await call(`/api/v1/webhooks/${e.id}`, { token: u.accessToken })
    expect(got.body.data.previousSecretExpiresAt, got.text).toBeNull()
    const after = (await deliverOne(h, u.id)).request
    expect(after.headers.get('webhook-signature')!.split(' ')).toHaveLength(1)
    expect(await verifyWebhookSignature(after.body, sigOf(after), newSecret)).toBe(true)
    expect(await verifyWebhookSignature(after.body, sigOf(after), e.secret)).toBe(false)
    expect(() => new Webhook(e.secret).verify(after.body, headersOf(after))).toThrow()
    // a partner who keeps both secrets configured while switching still verifies
    expect(await verifyWebhookSignature(after.body, sigOf(after), [e.secret, newSecret])).toBe(true)
  })

  it("a number's own smsUrl gets the SMS event signed with the account's number-callback secret", async () => {
    const u = await registerUser()
    const provider = await sandboxProvider()
    const numberId = newId('pn')
    const now = Date.now()
    await env.DB.prepare(
      `INSERT INTO phone_numbers (id, user_id, provider_id, phone_number, country_code, number_type, capabilities, status, sms_url, monthly_price, purchased_at, created_at, updated_at)
       VALUES (?, ?, ?, '+12025550123', 'US', 'LOCAL', '["SMS"]', 'active', 'https://sms.partner.example/inbound', 1000000, ?, ?, ?)`,
    )
      .bind(numberId, u.id, provider.id, now, now, now)
      .run()
    const secretRes = await call('/api/v1/webhooks/number-callback-secret', { token: u.accessToken })
    expect(secretRes.status, secretRes.text).toBe(200)
    const h = harness(answers(200))
    const { eventId, deliveries, request } = await deliverOne(h, u.id, 'SMS_RECEIVED', { phoneNumberId: numberId, body: 'code 123456' })
    expect(deliveries.map((d) => d.target)).toEqual([`sms_url:${numberId}`])
    expect(request.url).toBe('https://sms.partner.example/inbound')
    expect(new Webhook(secretRes.body.data.secret).verify(request.body, headersOf(request))).toMatchObject({ id: eventId, data: { phoneNumberId: numberId } })

    // an smsUrl pointing inside a network is refused when it is sent, whatever its route accepted
    await env.DB.prepare(`UPDATE phone_numbers SET sms_url = 'http://169.254.169.254/latest/meta-data/' WHERE id = ?`).bind(numberId).run()
    const before = h.receiver.calls.length
    const second = await deliverOne(h, u.id, 'SMS_RECEIVED', { phoneNumberId: numberId, body: 'again' })
    expect(h.receiver.calls).toHaveLength(before)
    const [refused] = await deliveriesOf(second.eventId)
    expect(refused).toMatchObject({ status: 'failed' })
    expect(refused!.error_message).toMatch(/^URL refused/)
  })
})

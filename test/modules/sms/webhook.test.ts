import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { activationRow, outboxRows, purchase, sellingProvider, smsRows, smsWebhook, uniqueService, WEBHOOK_SECRET } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'

async function boughtNumber(config: Record<string, unknown> = {}) {
  const offer = await sellingProvider({ serviceCode: uniqueService('wh'), costUsd: 0.5, config })
  const u = await registerUser()
  await fund(u.id, 2)
  const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
  expect(res.status, res.text).toBe(201)
  return { offer, u, id: res.body.data.id as string, phone: res.body.data.phone as string }
}

describe('POST /api/v1/webhooks/sms: authentication per provider', () => {
  it('401 without a provider, with an unknown provider, without a secret or with a wrong one — before the body is read', async () => {
    const { offer, id } = await boughtNumber()
    const body = { activationId: id, text: 'code 1234' }
    expectErrorEnvelope(await call('/api/v1/webhooks/sms', { body, headers: { 'x-webhook-secret': WEBHOOK_SECRET } }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await smsWebhook('no-such-provider', body), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await smsWebhook(offer.provider.code, body, { secret: null }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await smsWebhook(offer.provider.code, body, { secret: `${WEBHOOK_SECRET}x` }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await smsWebhook(offer.provider.code, body, { secret: WEBHOOK_SECRET.slice(0, -1) }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await smsWebhook(offer.provider.code, { nonsense: true }, { secret: 'wrong' }), 401, 'UNAUTHORIZED')
    expect(await smsRows(id)).toHaveLength(0)
    expect(await activationRow(id)).toMatchObject({ status: 'active' })
  })

  it('accepts the secret as X-Webhook-Secret or ?token=, and the provider as ?provider= or X-Provider', async () => {
    const { offer, id } = await boughtNumber()
    const viaHeader = await smsWebhook(offer.provider.code, { activationId: id, text: 'one 1111', messageId: '1' })
    expect(viaHeader.status, viaHeader.text).toBe(200)
    const viaQuery = await smsWebhook(offer.provider.code, { activationId: id, text: 'two 2222', messageId: '2' }, { via: 'query' })
    expect(viaQuery.status, viaQuery.text).toBe(200)
    const viaProviderHeader = await call('/api/v1/webhooks/sms', {
      body: { activationId: id, text: 'three 3333', messageId: '3' },
      headers: { 'x-provider': offer.provider.code, 'x-webhook-secret': WEBHOOK_SECRET },
    })
    expect(viaProviderHeader.status, viaProviderHeader.text).toBe(200)
    expect(await smsRows(id)).toHaveLength(3)
  })

  it("uses the secret named by the provider's config `webhookSecret` instead of the default", async () => {
    const { offer, id } = await boughtNumber({ webhookSecret: 'JWT_SECRET' })
    expectErrorEnvelope(await smsWebhook(offer.provider.code, { activationId: id, text: 'x 1234' }), 401, 'UNAUTHORIZED')
    const ok = await smsWebhook(offer.provider.code, { activationId: id, text: 'x 1234' }, { secret: env.JWT_SECRET })
    expect(ok.status, ok.text).toBe(200)
    const unset = await boughtNumber({ webhookSecret: 'NO_SUCH_SECRET_CONFIGURED' })
    expectErrorEnvelope(await smsWebhook(unset.offer.provider.code, { activationId: unset.id, text: 'x 1234' }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await smsWebhook(unset.offer.provider.code, { activationId: unset.id, text: 'x 1234' }, { secret: '' }), 401, 'UNAUTHORIZED')
  })

  it('a provider can only deliver for its own activations (404), and an unknown activation is a 404 (the provider retries)', async () => {
    const mine = await boughtNumber()
    const theirs = await boughtNumber()
    expectErrorEnvelope(await smsWebhook(theirs.offer.provider.code, { activationId: mine.id, text: 'code 1234' }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await smsWebhook(mine.offer.provider.code, { activationId: 'num_unknown', text: 'code 1234' }), 404, 'NOT_FOUND')
    expect(await smsRows(mine.id)).toHaveLength(0)
  })

  it('an authenticated call with a bad body is a 400', async () => {
    const { offer } = await boughtNumber()
    const res = await smsWebhook(offer.provider.code, { text: 'no activation id' })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.text).toContain('activationId')
  })
})

describe('POST /api/v1/webhooks/sms: the SMS', () => {
  it("accepts HeroSMS / sms-activate's webhook JSON (numeric upstream activation id, code, receivedAt)", async () => {
    const { offer, u, id, phone } = await boughtNumber()
    await env.DB.prepare(`UPDATE activations SET upstream_id = '987654321' WHERE id = ?`).bind(id).run()
    const hero = { activationId: 987654321, service: 'tg', text: 'Telegram code: 54321. Do not give it to anyone', code: '54321', country: 0, receivedAt: '2025-01-24 15:05:00' }
    const res = await smsWebhook(offer.provider.code, hero)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ received: true, duplicate: false, activationId: id, code: '54321', status: 'sms_received', billing: 'captured' })

    const rows = await smsRows(id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ code: '54321', text: hero.text, sender: null, received_at: Date.UTC(2025, 0, 24, 15, 5, 0) })
    expect(await activationRow(id)).toMatchObject({ status: 'sms_received', billing: 'captured' })
    const events = await outboxRows('sms.received', id)
    expect(events).toHaveLength(1)
    expect(events[0]!.user_id).toBe(u.id)
    expect(events[0]!.payload).toEqual({ numberId: id, phone, code: '54321', text: hero.text, sender: null, receivedAt: '2025-01-24T15:05:00.000Z' })
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)

    // Redelivery: stored once, one event, answered as a duplicate.
    const again = await smsWebhook(offer.provider.code, hero)
    expect(again.status, again.text).toBe(200)
    expect(again.body.data).toMatchObject({ duplicate: true, smsId: res.body.data.smsId, code: '54321' })
    expect(await smsRows(id)).toHaveLength(1)
    expect(await outboxRows('sms.received', id)).toHaveLength(1)
  })

  it("accepts the sandbox's body (our num_ id, sender, messageId) and extracts the code from the text", async () => {
    const { offer, id } = await boughtNumber()
    const res = await smsWebhook(offer.provider.code, { activationId: id, text: 'Your WhatsApp code 123-456', sender: 'WhatsApp', messageId: 'sbx-msg-1' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ duplicate: false, code: '123456', status: 'sms_received' })
    expect((await smsRows(id))[0]).toMatchObject({ code: '123456', sender: 'WhatsApp' })
    // The same message id is the same message, whatever the body says.
    const again = await smsWebhook(offer.provider.code, { activationId: id, text: 'different text 999999', messageId: 'sbx-msg-1' })
    expect(again.body.data, again.text).toMatchObject({ duplicate: true, code: '123456' })
    // An SMS without a code is still stored.
    const noCode = await smsWebhook(offer.provider.code, { activationId: id, text: 'Welcome!', messageId: 'sbx-msg-2' })
    expect(noCode.body.data, noCode.text).toMatchObject({ duplicate: false, code: null })
    expect(await smsRows(id)).toHaveLength(2)
  })

  it('concurrent redeliveries of one message store it once and emit one event', async () => {
    const { offer, id } = await boughtNumber()
    const body = { activationId: id, text: 'Your code is 777888', receivedAt: '2026-03-01T12:00:00Z' }
    const answers = await Promise.all(Array.from({ length: 6 }, () => smsWebhook(offer.provider.code, body)))
    const texts = answers.map((a) => `${a.status} ${a.text}`).join('\n')
    expect(
      answers.every((a) => a.status === 200),
      texts,
    ).toBe(true)
    expect(answers.filter((a) => a.body.data.duplicate === false).length, texts).toBe(1)
    expect(new Set(answers.map((a) => a.body.data.smsId)).size, texts).toBe(1)
    expect(await smsRows(id)).toHaveLength(1)
    expect(await outboxRows('sms.received', id)).toHaveLength(1)
  })

  it('is not rate limited', async () => {
    const { offer, id } = await boughtNumber()
    const res = await smsWebhook(offer.provider.code, { activationId: id, text: 'code 4242' })
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('x-ratelimit-limit')).toBeNull()
  })
})

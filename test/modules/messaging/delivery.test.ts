/**
 * The `messages` consumer and status callbacks: exactly once toward the customer (a redelivery
 * after the connector accepted sends nothing), reconciliation of an attempt whose outcome was
 * lost, retries and the dead-letter queue, final failures release the hold, pacing spreads a
 * burst, and statuses only move forward whatever order the callbacks come in.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { messagesDlqConsumer } from '../../../src/modules/messaging/messages.consumer'
import { twilioSignature } from '../../../src/providers/numbers/twilio'
import { whatsAppSignature } from '../../../src/providers/messaging/whatsapp'
import { createServices } from '../../../src/services'
import { call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { messageRow, messagingSetup, outboxOf, sandboxSends, sendBody, untilStatus } from '../../helpers/messaging'

const services = () => createServices(env as unknown as Env, createExecutionContext())

/**
 * A message as the send route writes it — its hold on the wallet and its row `queued` — but not put
 * on the queue: the test drives the consumer itself, so no real delivery races it.
 */
async function heldMessage(s: Awaited<ReturnType<typeof messagingSetup>>, userId: string, extra: { to?: string } = {}) {
  const id = `msg_t${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`
  const hold = await services().wallet.hold(userId, { opId: `${id}:hold`, amount: 1000, ttlMs: 3_600_000, reference: { type: 'message', id } })
  expect(hold.ok).toBe(true)
  const now = Date.now()
  await env.DB.prepare(
    `INSERT INTO messages (id, user_id, project_id, connector_id, connector_type, template_id, "to", text, status, price, metadata, attempts, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'sandbox', ?, ?, 'Hello', 'queued', 1000, '{}', 0, ?, ?)`,
  )
    .bind(id, userId, s.projectId, s.connectorId, s.templateId, extra.to ?? '+14155550123', now, now)
    .run()
  return { id, to: extra.to ?? '+14155550123', text: 'Hello' }
}

describe('the messages consumer', () => {
  it('a queue message redelivered after the connector accepted does not send again', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s) })
    const id = res.body.data.messageId
    await untilStatus(id, 'delivered')
    // The same queue message again, twice at once and once more.
    const outcomes = await Promise.all([services().dispatcher.handle({ kind: 'send', messageId: id }), services().dispatcher.handle({ kind: 'send', messageId: id })])
    outcomes.push(await services().dispatcher.handle({ kind: 'send', messageId: id }))
    for (const o of outcomes) expect(o).toEqual({ ack: true })
    expect(await sandboxSends(id)).toBe(1)
    expect((await messageRow(id))!.attempts).toBe(1)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 999_000, ledgerSum: 999_000, activeHolds: 0 })
  })

  it('an attempt whose outcome was lost is reconciled: the sandbox says it went out, so it is marked sent and charged, not resent', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const m = await heldMessage(s, u.id)
    // The Worker "died" after the sandbox accepted and before the outcome was stored.
    const adapter = await services().connectors.adapterOf((await services().connectors.forCallback(s.connectorId))!)
    await adapter.send({ messageId: m.id, to: m.to, text: m.text })
    await env.DB.prepare('UPDATE messages SET attempt_started_at = ?, attempts = 1 WHERE id = ?')
      .bind(Date.now() - 120_000, m.id)
      .run()
    expect(await services().dispatcher.handle({ kind: 'send', messageId: m.id })).toEqual({ ack: true })
    const row = await messageRow(m.id)
    expect(row!.status === 'sent' || row!.status === 'delivered').toBe(true)
    expect(JSON.parse(row!.metadata).reconciled).toBe(true)
    expect(await sandboxSends(m.id)).toBe(1)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 999_000, ledgerSum: 999_000, activeHolds: 0 })
  })

  it('an attempt still running elsewhere is left alone (the delivery waits)', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const m = await heldMessage(s, u.id)
    await env.DB.prepare('UPDATE messages SET attempt_started_at = ?, attempts = 1 WHERE id = ?').bind(Date.now(), m.id).run()
    const o = await services().dispatcher.handle({ kind: 'send', messageId: m.id })
    expect(o).toEqual({ retryAfterSeconds: 60 })
    expect(await sandboxSends(m.id)).toBe(0)
  })

  it('a final refusal fails the message with the upstream code, releases the hold, emits message.failed', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u, { credentials: { deliverAfterMs: 0, failRecipients: ['+14155550199'] } })
    const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s, { to: '+14155550199' }) })
    expect(res.status, res.text).toBe(202)
    const row = await untilStatus(res.body.data.messageId, 'failed')
    expect(row.error_code).toBe('SANDBOX_REJECTED')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, ledgerSum: 1_000_000, activeHolds: 0 })
    expect((await outboxOf(row.id)).map((e) => e.type)).toEqual(['message.failed'])
    const got = await call(`/api/v1/messages/${row.id}`, { apiKey: s.key })
    expect(got.body.data).toMatchObject({ status: 'failed', price: 0, error: { code: 'SANDBOX_REJECTED' } })
  })

  it('an upstream that is down is retried with backoff; the dead-letter queue fails it and releases the hold', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u, { credentials: { deliverAfterMs: 0, unavailableRecipients: ['+14155550198'] } })
    const m = await heldMessage(s, u.id, { to: '+14155550198' })
    const o = await services().dispatcher.handle({ kind: 'send', messageId: m.id })
    expect(o).toEqual({ retryAfterSeconds: 1 })
    const row = await messageRow(m.id)
    expect(row).toMatchObject({ status: 'queued', attempts: 1, attempt_started_at: null, error_code: 'UPSTREAM_UNAVAILABLE' })
    // The queue gave up: the dead-letter consumer fails it.
    const acked: string[] = []
    await messagesDlqConsumer(
      { queue: 'messages-dlq', messages: [{ id: 'q1', body: { kind: 'send', messageId: m.id }, attempts: 1, ack: () => acked.push('q1'), retry: () => {} }] } as never,
      services(),
    )
    expect(acked).toEqual(['q1'])
    expect(await messageRow(m.id)).toMatchObject({ status: 'failed', error_code: 'THIRD_PARTY_ERROR' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, ledgerSum: 1_000_000, activeHolds: 0 })
  })

  it('pacing spreads a burst to one recipient: the second message waits its slot instead of being refused', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u, { settings: { perRecipientMs: 10_000 } })
    const a = await heldMessage(s, u.id)
    const b = await heldMessage(s, u.id)
    expect(await services().dispatcher.handle({ kind: 'send', messageId: a.id })).toEqual({ ack: true })
    const o = await services().dispatcher.handle({ kind: 'send', messageId: b.id })
    expect('retryAfterSeconds' in o && o.retryAfterSeconds >= 8 && o.retryAfterSeconds <= 10).toBe(true)
    expect(await messageRow(b.id)).toMatchObject({ status: 'queued', attempts: 0 })
    expect(await sandboxSends(b.id)).toBe(0)
    // b holds its slot: a redelivery before it waits for the same slot, and a third message gets the one after.
    const slot = JSON.parse((await messageRow(b.id))!.metadata).slotAt
    const again = await services().dispatcher.handle({ kind: 'send', messageId: b.id })
    expect(JSON.parse((await messageRow(b.id))!.metadata).slotAt).toBe(slot)
    expect('retryAfterSeconds' in again && again.retryAfterSeconds <= 10).toBe(true)
    const c = await heldMessage(s, u.id)
    const third = await services().dispatcher.handle({ kind: 'send', messageId: c.id })
    expect('retryAfterSeconds' in third && third.retryAfterSeconds >= 18 && third.retryAfterSeconds <= 20).toBe(true)
    // The view never shows the slot.
    const got = await call(`/api/v1/messages/${b.id}`, { token: u.accessToken })
    expect(got.body.data.metadata).toEqual({})
  })
})

describe('status callbacks', () => {
  const TOKEN = 'twilio-auth-token-0123456789abcdef'
  const SID = `AC${'0'.repeat(31)}1`

  async function twilioMessage() {
    const u = await registerUser()
    const s = await messagingSetup(u, { type: 'twilio', credentials: { accountSid: SID, authToken: TOKEN, fromNumber: '+14155550100' } })
    const id = `msg_cb${crypto.randomUUID().replace(/-/g, '').slice(0, 20)}`
    const upstream = `SM${crypto.randomUUID().replace(/-/g, '')}`
    const now = Date.now()
    await env.DB.prepare(
      `INSERT INTO messages (id, user_id, project_id, connector_id, connector_type, template_id, "to", text, status, price, upstream_id, metadata, attempts, created_at, sent_at, updated_at)
       VALUES (?, ?, ?, ?, 'twilio', ?, '+14155550123', 'Hi', 'sent', 10000, ?, '{}', 1, ?, ?, ?)`,
    )
      .bind(id, u.id, s.projectId, s.connectorId, s.templateId, upstream, now, now, now)
      .run()
    return { u, s, id, upstream }
  }

  async function twilioCallback(connectorId: string, fields: Record<string, string>, signWith = TOKEN) {
    const url = `http://switchboard.test/api/v1/connectors/${connectorId}/status`
    const form = new URLSearchParams(fields)
    const signature = await twilioSignature(signWith, url, form.entries())
    return call(`/api/v1/connectors/${connectorId}/status`, {
      method: 'POST',
      rawBody: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    })
  }

  it('Twilio: delivered then a late sent leaves delivered; events once; SMS_DELIVERED too', async () => {
    const { s, id, upstream } = await twilioMessage()
    const delivered = await twilioCallback(s.connectorId, { MessageSid: upstream, MessageStatus: 'delivered', AccountSid: SID })
    expect(delivered.status, delivered.text).toBe(200)
    expect(delivered.body.data).toEqual({ received: 1 })
    const late = await twilioCallback(s.connectorId, { MessageSid: upstream, MessageStatus: 'sent', AccountSid: SID })
    expect(late.body.data).toEqual({ received: 0 })
    const again = await twilioCallback(s.connectorId, { MessageSid: upstream, MessageStatus: 'delivered', AccountSid: SID })
    expect(again.body.data).toEqual({ received: 0 })
    const row = await messageRow(id)
    expect(row).toMatchObject({ status: 'delivered' })
    expect(row!.delivered_at).not.toBeNull()
    expect((await outboxOf(id)).map((e) => e.type).sort()).toEqual(['SMS_DELIVERED', 'message.delivered'])
  })

  it('Twilio: a wrong signature is 401 and changes nothing; undelivered after sent is failed with the code', async () => {
    const { s, id, upstream } = await twilioMessage()
    expectErrorEnvelope(await twilioCallback(s.connectorId, { MessageSid: upstream, MessageStatus: 'delivered' }, 'not-the-token-0000000000'), 401, 'INVALID_SIGNATURE')
    expect((await messageRow(id))!.status).toBe('sent')
    const failed = await twilioCallback(s.connectorId, { MessageSid: upstream, MessageStatus: 'undelivered', ErrorCode: '30003', AccountSid: SID })
    expect(failed.body.data).toEqual({ received: 1 })
    expect(await messageRow(id)).toMatchObject({ status: 'failed' })
    expect((await outboxOf(id)).map((e) => e.type).sort()).toEqual(['SMS_FAILED', 'message.failed'])
  })

  it('WhatsApp: the subscription handshake and signed status webhooks; read after delivered; unknown connector 404', async () => {
    const u = await registerUser()
    const s = await messagingSetup(u, {
      type: 'whatsapp',
      credentials: { phoneNumberId: '1234567890', accessToken: 'EAAG-access-token-0123456789', appSecret: 'app-secret-0123', webhookVerifyToken: 'verify-me-123' },
    })
    const ok = await call(`/api/v1/connectors/${s.connectorId}/status?hub.mode=subscribe&hub.verify_token=verify-me-123&hub.challenge=1158201444`)
    expect(ok.status, ok.text).toBe(200)
    expect(ok.text).toBe('1158201444')
    expect((await call(`/api/v1/connectors/${s.connectorId}/status?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`)).status).toBe(403)
    expect((await call('/api/v1/connectors/conn_nope/status?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1')).status).toBe(404)

    const id = `msg_wa${crypto.randomUUID().replace(/-/g, '').slice(0, 20)}`
    const wamid = `wamid.${crypto.randomUUID().replace(/-/g, '')}`
    const now = Date.now()
    await env.DB.prepare(
      `INSERT INTO messages (id, user_id, project_id, connector_id, connector_type, template_id, "to", text, status, price, upstream_id, metadata, attempts, created_at, sent_at, updated_at)
       VALUES (?, ?, ?, ?, 'whatsapp', ?, '+14155550123', 'Hi', 'sent', 5000, ?, '{}', 1, ?, ?, ?)`,
    )
      .bind(id, u.id, s.projectId, s.connectorId, s.templateId, wamid, now, now, now)
      .run()
    const hook = async (status: string, secret = 'app-secret-0123') => {
      const body = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [
          {
            id: 'WABA',
            changes: [
              {
                field: 'messages',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: '15550100', phone_number_id: '1234567890' },
                  statuses: [{ id: wamid, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: '14155550123' }],
                },
              },
            ],
          },
        ],
      })
      return call(`/api/v1/connectors/${s.connectorId}/status`, {
        method: 'POST',
        rawBody: body,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': await whatsAppSignature(secret, body) },
      })
    }
    expectErrorEnvelope(await hook('delivered', 'another-secret-99'), 401, 'INVALID_SIGNATURE')
    expect((await hook('read')).body.data).toEqual({ received: 1 })
    expect((await hook('delivered')).body.data).toEqual({ received: 0 })
    expect(await messageRow(id)).toMatchObject({ status: 'read' })
  })
})

/**
 * Sending a message end to end on the sandbox connector: 202 queued → the `messages` queue → sent →
 * delivered; the price held, then taken once; a usage row; partner events; exactly once.
 */
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { messageRow, messagingSetup, outboxOf, sandboxSends, sendBody, untilStatus } from '../../helpers/messaging'

describe('POST /api/v1/messages', () => {
  it('a project key sends: 202 queued, then sent and delivered; $0.001 taken once; usage row; events', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s) })
    expect(res.status, res.text).toBe(202)
    expect(res.body.data).toEqual({ messageId: expect.stringMatching(/^msg_/), status: 'queued' })
    // The rate headers show the plan's hourly tier (no plan: the free tier, 1,000 an hour).
    expect(res.headers.get('x-ratelimit-limit')).toBe('1000')
    const id = res.body.data.messageId
    const row = await untilStatus(id, 'delivered')
    expect(row.text).toBe('Hello Ada, your code is 12345')
    expect(row.sent_at).not.toBeNull()
    expect(row.delivered_at).not.toBeNull()
    expect(await sandboxSends(id)).toBe(1)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 999_000, ledgerSum: 999_000, activeHolds: 0 })
    const got = await call(`/api/v1/messages/${id}`, { apiKey: s.key })
    expect(got.status, got.text).toBe(200)
    expect(got.body.data).toMatchObject({ id, status: 'delivered', to: '+14155550123', connectorType: 'sandbox', price: 0.001, projectId: s.projectId })
    expect(got.body.data.metadata.messageId).toMatch(/^sbx_/)
    const events = (await outboxOf(id)).map((e) => e.type)
    expect(events).toEqual(expect.arrayContaining(['message.sent', 'message.delivered']))
    expect(events.filter((t) => t === 'message.sent')).toHaveLength(1)
  })

  it('a missing template variable is 400 MISSING_REQUIRED_FIELD and creates nothing', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s, { variables: { name: 'Ada' } }) })
    expectErrorEnvelope(res, 400, 'MISSING_REQUIRED_FIELD')
    expect(res.body.error.message).toContain('code')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, activeHolds: 0 })
    const list = await call(`/api/v1/messages?projectId=${s.projectId}`, { token: u.accessToken })
    expect(list.body.data.messages).toEqual([])
  })

  it('bad recipients, unknown and foreign ids, inactive connectors', async () => {
    const u = await registerUser()
    const other = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const theirs = await messagingSetup(other)
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s, { to: '12345' }) }), 400, 'INVALID_TO')
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s, { connectorId: 'conn_nope' }) }), 404, 'CONNECTOR_NOT_FOUND')
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s, { templateId: 'tpl_nope' }) }), 404, 'TEMPLATE_NOT_FOUND')
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s, { connectorId: theirs.connectorId }) }), 404, 'CONNECTOR_NOT_FOUND')
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s, { templateId: theirs.templateId }) }), 404, 'TEMPLATE_NOT_FOUND')
    await call(`/api/v1/projects/${s.projectId}/connectors/${s.connectorId}`, { method: 'PUT', token: u.accessToken, body: { isActive: false } })
    expectErrorEnvelope(await call('/api/v1/messages', { token: s.key, body: sendBody(s) }), 400, 'CONNECTOR_NOT_ACTIVE')
  })

  it('a wallet that pays for 3 of 10 sends: exactly 3 charged, the rest INSUFFICIENT_BALANCE', async () => {
    const u = await registerUser()
    await fund(u.id, 0.003)
    const s = await messagingSetup(u)
    const answers = await Promise.all(Array.from({ length: 10 }, () => call('/api/v1/messages', { token: s.key, body: sendBody(s) })))
    const accepted = answers.filter((a) => a.status === 202)
    expect(accepted).toHaveLength(3)
    for (const a of answers.filter((x) => x.status !== 202)) expectErrorEnvelope(a, 400, 'INSUFFICIENT_BALANCE')
    for (const a of accepted) await untilStatus(a.body.data.messageId, 'delivered')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, ledgerSum: 0, activeHolds: 0 })
  })

  it('ten concurrent sends with one Idempotency-Key: one message, one charge, the same messageId', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const headers = { 'idempotency-key': 'same-key-1' }
    const answers = await Promise.all(Array.from({ length: 10 }, () => call('/api/v1/messages', { token: s.key, body: sendBody(s), headers })))
    const ids = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.data.messageId))
    expect(ids.size).toBe(1)
    for (const a of answers) expect([202, 409]).toContain(a.status)
    const [id] = [...ids]
    await untilStatus(id!, 'delivered')
    // A retry after it finished answers the same 202; a different body with the key is 422.
    const again = await call('/api/v1/messages', { token: s.key, body: sendBody(s), headers })
    expect(again.status).toBe(202)
    expect(again.body.data.messageId).toBe(id)
    expect((await call('/api/v1/messages', { token: s.key, body: sendBody(s, { to: '+14155550124' }), headers })).status).toBe(422)
    expect(await sandboxSends(id!)).toBe(1)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 999_000, ledgerSum: 999_000, activeHolds: 0 })
    expect((await messageRow(id!))!.attempts).toBe(1)
  })
})

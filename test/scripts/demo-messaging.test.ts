/**
 * `npm start`'s messaging demo (scripts/demo-messaging.mjs), run against the Worker as the demo user
 * would: a second start reuses the project, connector and template, mints a new key and revokes the
 * earlier one, and funds the wallet only when it is low; the printed key and ids send a message that
 * reaches `delivered` (the sandbox's default 2 s).
 */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { describeDemoMessaging, FUND_AMOUNT, setUpDemoMessaging } from '../../scripts/demo-messaging.mjs'
import { call, expectErrorEnvelope, registerUser } from '../helpers/api'
import { walletAudit } from '../helpers/catalog'
import { untilStatus } from '../helpers/messaging'

const BASE = 'http://switchboard.test'
const workerFetch = (input: string, init?: RequestInit) => (exports as any).default.fetch(new Request(input, init)) as Promise<Response>

describe('npm start: the messaging demo', () => {
  it('sets up once, mints a key per start, funds once; the printed key and ids send a message to delivered', async () => {
    const u = await registerUser()
    const card = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: 'card', token: 'tok_visa' } })
    expect(card.status, card.text).toBe(201)

    const first = await setUpDemoMessaging({ base: BASE, token: u.accessToken, fetch: workerFetch })
    expect([first.project.created, first.connector.created, first.template.created]).toEqual([true, true, true])
    expect(first.template.row.content).toBe('Your code is {{code}}')
    expect(first.key).toMatch(/^pk_live_/)
    expect(first.revokedKeys).toBe(0)
    expect(first.funded).toEqual({ amount: FUND_AMOUNT, available: FUND_AMOUNT })

    const second = await setUpDemoMessaging({ base: BASE, token: u.accessToken, fetch: workerFetch })
    expect([second.project.created, second.connector.created, second.template.created]).toEqual([false, false, false])
    expect([second.project.row.id, second.connector.row.id, second.template.row.id]).toEqual([first.project.row.id, first.connector.row.id, first.template.row.id])
    expect(second.key).not.toBe(first.key)
    expect(second.revokedKeys).toBe(1)
    expect(second.funded).toBeNull()

    const projects = await call('/api/v1/projects', { token: u.accessToken })
    expect(projects.body.data.projects.map((p: { name: string }) => p.name)).toEqual(['Demo project'])
    const keys = await call(`/api/v1/projects/${first.project.row.id}/keys`, { token: u.accessToken })
    expect(keys.body.data.keys.map((k: { id: string }) => k.id)).toEqual([second.keyId])

    const printed = describeDemoMessaging(second, u.email)
    expect(printed).toContain('wallet   $5.00 available (a sandbox message costs $0.001)')
    expect(printed).toContain(`export PK=${second.key} CONN=${second.connector.row.id} TPL=${second.template.row.id}`)

    const body = { to: '+14155550123', connectorId: second.connector.row.id, templateId: second.template.row.id, variables: { code: '123456' } }
    expectErrorEnvelope(await call('/api/v1/messages', { token: first.key, body }), 401, 'INVALID_API_KEY')
    const sent = await call('/api/v1/messages', { token: second.key, body, headers: { 'idempotency-key': 'demo-1' } })
    expect(sent.status, sent.text).toBe(202)
    const row = await untilStatus(sent.body.data.messageId, 'delivered', 15_000)
    expect(row.text).toBe('Your code is 123456')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 4_999_000, activeHolds: 0 })
  })
})

/**
 * The hourly limits of sending: a key's own `rateLimit` (429 `RATE_LIMIT_EXCEEDED`, that key only)
 * and the plan's tier per account across all its keys and sessions (429 `QUOTA_EXCEEDED`), both with
 * `Retry-After`; a refused send holds no money, writes no message and queues nothing.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { type ApiResponse, call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { awayFromWindowEdge, callApp } from '../../helpers/app'
import { fund, walletAudit } from '../../helpers/catalog'
import { holdIds, type MessagingSetup, messagingSetup, sendBody, untilStatus } from '../../helpers/messaging'

const HOUR_S = 3600

async function messageRows(userId: string) {
  return (await env.DB.prepare('SELECT id, status FROM messages WHERE user_id = ?').bind(userId).all<{ id: string; status: string }>()).results
}

async function sandboxRows(s: MessagingSetup[]) {
  const ids = s.map((x) => x.connectorId)
  const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM sandbox_messages WHERE connector_key IN (${ids.map(() => '?').join(', ')})`)
    .bind(...ids)
    .first<{ n: number }>()
  return row?.n ?? 0
}

/** A 429 of `code` with a Retry-After inside the hour, agreeing with details.retry_after. */
function expectHourly429(res: ApiResponse, code: string, limit: number) {
  expectErrorEnvelope(res, 429, code)
  const retryAfter = Number(res.headers.get('retry-after'))
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= HOUR_S, res.text).toBe(true)
  expect(res.body.error.details, res.text).toMatchObject({ retry_after: retryAfter, limit, remaining: 0 })
}

describe("a key's rateLimit", () => {
  it('a key with rateLimit 2 sends 2 an hour, then 429 RATE_LIMIT_EXCEEDED with Retry-After; other keys are not held back', async () => {
    await awayFromWindowEdge(HOUR_S)
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u, { rateLimit: 2 })
    const keys = await call(`/api/v1/projects/${s.projectId}/keys`, { token: u.accessToken })
    expect(keys.body.data.keys[0], keys.text).toMatchObject({ id: s.keyId, rateLimit: 2 })

    const accepted: string[] = []
    for (let i = 0; i < 2; i++) {
      const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s) })
      expect(res.status, res.text).toBe(202)
      accepted.push(res.body.data.messageId)
    }
    for (let i = 0; i < 2; i++) expectHourly429(await call('/api/v1/messages', { token: s.key, body: sendBody(s) }), 'RATE_LIMIT_EXCEEDED', 2)

    // Reading is not sending: the key still lists.
    expect((await call('/api/v1/messages', { apiKey: s.key })).status).toBe(200)
    // Another key of the same project has no rateLimit: only the plan's tier applies to it.
    const other = await call(`/api/v1/projects/${s.projectId}/keys`, { token: u.accessToken, body: { name: 'Unlimited' } })
    const third = await call('/api/v1/messages', { apiKey: other.body.data.key, body: sendBody(s) })
    expect(third.status, third.text).toBe(202)
    accepted.push(third.body.data.messageId)

    for (const id of accepted) await untilStatus(id, 'delivered')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000 - 3 * 1_000, ledgerSum: 1_000_000 - 3 * 1_000, activeHolds: 0 })
    expect((await messageRows(u.id)).map((m) => m.id).sort()).toEqual([...accepted].sort())
    expect(await sandboxRows([s])).toBe(3)
    expect(await holdIds(u.id)).toEqual(accepted.map((id) => `${id}:hold`).sort())
  })

  it('concurrent sends on a key with rateLimit 3: exactly 3 accepted', async () => {
    await awayFromWindowEdge(HOUR_S)
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u, { rateLimit: 3 })
    const answers = await Promise.all(Array.from({ length: 8 }, () => call('/api/v1/messages', { token: s.key, body: sendBody(s) })))
    const accepted = answers.filter((a) => a.status === 202)
    expect(accepted, answers.map((a) => a.status).join(',')).toHaveLength(3)
    for (const a of answers.filter((x) => x.status !== 202)) expectHourly429(a, 'RATE_LIMIT_EXCEEDED', 3)
    for (const a of accepted) await untilStatus(a.body.data.messageId, 'delivered')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000 - 3 * 1_000, activeHolds: 0 })
    expect(await messageRows(u.id)).toHaveLength(3)
    expect(await holdIds(u.id)).toEqual(accepted.map((a) => `${a.body.data.messageId}:hold`).sort())
  })
})

describe("the plan's hourly tier", () => {
  it('counts per account across keys, projects and sessions: with messages_free at 2, the third send is 429 QUOTA_EXCEEDED', async () => {
    await awayFromWindowEdge(HOUR_S)
    const overrides = { RATE_LIMITS: JSON.stringify({ messages_free: { limit: 2 } }) }
    const u = await registerUser()
    await fund(u.id, 1)
    const a = await messagingSetup(u)
    const b = await messagingSetup(u)
    const send = (key: string, s: MessagingSetup) => callApp('/api/v1/messages', { env: overrides, token: key, body: sendBody(s) })

    const first = await send(a.key, a)
    const second = await send(b.key, b)
    expect(first.status, first.text).toBe(202)
    expect(second.status, second.text).toBe(202)
    expectHourly429(await send(a.key, a), 'QUOTA_EXCEEDED', 2)
    expectHourly429(await send(b.key, b), 'QUOTA_EXCEEDED', 2)
    // A key made after the tier was reached, and the account's own session, count in the same hour.
    const fresh = await callApp(`/api/v1/projects/${a.projectId}/keys`, { env: overrides, token: u.accessToken, body: { name: 'Fresh' } })
    expectHourly429(await send(fresh.body.data.key, a), 'QUOTA_EXCEEDED', 2)
    expectHourly429(await send(u.accessToken, a), 'QUOTA_EXCEEDED', 2)

    // Another account has its own hour.
    const v = await registerUser()
    await fund(v.id, 1)
    const c = await messagingSetup(v)
    const theirs = await send(c.key, c)
    expect(theirs.status, theirs.text).toBe(202)

    // Nothing held, written or queued for the four refused sends.
    const accepted = [first.body.data.messageId, second.body.data.messageId]
    for (const id of accepted) await untilStatus(id, 'delivered')
    await untilStatus(theirs.body.data.messageId, 'delivered')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000 - 2 * 1_000, ledgerSum: 1_000_000 - 2 * 1_000, activeHolds: 0 })
    const rows = await messageRows(u.id)
    expect(rows.map((m) => m.id).sort()).toEqual([...accepted].sort())
    expect(rows.every((m) => m.status === 'delivered')).toBe(true)
    expect(await sandboxRows([a, b])).toBe(2)
    expect(await holdIds(u.id)).toEqual(accepted.map((id) => `${id}:hold`).sort())
  })

  it("when both the key's rateLimit and the tier are reached, the tier answers (the route's rate class is counted first)", async () => {
    await awayFromWindowEdge(HOUR_S)
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u, { rateLimit: 1 })
    const overrides = { RATE_LIMITS: JSON.stringify({ messages_free: { limit: 1 } }) }
    const ok = await callApp('/api/v1/messages', { env: overrides, token: s.key, body: sendBody(s) })
    expect(ok.status, ok.text).toBe(202)
    // Both limits are reached; the plan's tier (the rate class, before the handler) answers.
    expectHourly429(await callApp('/api/v1/messages', { env: overrides, token: s.key, body: sendBody(s) }), 'QUOTA_EXCEEDED', 1)
    await untilStatus(ok.body.data.messageId, 'delivered')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000 - 1_000, activeHolds: 0 })
    expect(await holdIds(u.id)).toEqual([`${ok.body.data.messageId}:hold`])
  })
})

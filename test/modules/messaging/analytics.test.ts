/**
 * GET /api/v1/analytics/messages and GET /api/v1/analytics/usage over rows written straight into
 * D1: exact figures for two accounts, the period and project filters, deleted projects and
 * connectors, queued messages, the rounding of the rates, and another account's project.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'

const MESSAGES = '/api/v1/analytics/messages'
const USAGE = '/api/v1/analytics/usage'
const HOUR = 3_600_000
const DAY = 86_400_000

// Two UTC days long past (out of the default 30-day period whenever the test runs after 2025).
const D1 = Date.parse('2025-03-10T00:00:00Z')
const D2 = Date.parse('2025-03-11T00:00:00Z')

let seq = 0
const nextId = (prefix: string) => `${prefix}_ana_${++seq}`

async function project(userId: string, opts: { deleted?: boolean } = {}) {
  const id = nextId('proj')
  const at = D1 - 10 * DAY
  await env.DB.prepare(`INSERT INTO projects (id, user_id, name, created_at, updated_at, deleted_at) VALUES (?, ?, 'p', ?, ?, ?)`)
    .bind(id, userId, at, at, opts.deleted ? at + DAY : null)
    .run()
  return id
}

async function connector(userId: string, projectId: string, type: string, opts: { deleted?: boolean } = {}) {
  const id = nextId('conn')
  const at = D1 - 10 * DAY
  await env.DB.prepare(`INSERT INTO connectors (id, user_id, project_id, type, name, credentials, created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, 'c', 'v1.x.y', ?, ?, ?)`)
    .bind(id, userId, projectId, type, at, at, opts.deleted ? at + DAY : null)
    .run()
  return { id, userId, projectId, type }
}

type Conn = Awaited<ReturnType<typeof connector>>

/** Messages on `conn` created at `at`, one per status. */
async function sendAt(conn: Conn, at: number, statuses: string[]) {
  await env.DB.batch(
    statuses.map((status) =>
      env.DB.prepare(
        `INSERT INTO messages (id, user_id, project_id, connector_id, connector_type, "to", text, status, price, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '+14155550100', 'hi', ?, 1000, ?, ?)`,
      ).bind(nextId('msg'), conn.userId, conn.projectId, conn.id, conn.type, status, at, at),
    ),
  )
}

async function get(path: string, user: TestUser) {
  const res = await call(path, { token: user.accessToken })
  expect(res.status, res.text).toBe(200)
  return res.body.data
}

const counts = (sent: number, delivered: number, failed: number) => ({ sent, delivered, failed })

let a: TestUser
let b: TestUser
let empty: TestUser
let pA1: string
let pA2: string
let pA3: string
let pB1: string

beforeAll(async () => {
  ;[a, b, empty] = await Promise.all([registerUser(), registerUser(), registerUser()])

  // Account A: two live projects and a deleted one.
  pA1 = await project(a.id)
  pA2 = await project(a.id)
  pA3 = await project(a.id, { deleted: true })
  const whatsapp = await connector(a.id, pA1, 'whatsapp')
  const telegram = await connector(a.id, pA1, 'telegram')
  const twilio = await connector(a.id, pA2, 'twilio')
  const sandbox = await connector(a.id, pA2, 'sandbox', { deleted: true })
  // Left without deleted_at on a deleted project: still not counted (its project is gone).
  const oldTelegram = await connector(a.id, pA3, 'telegram')

  await sendAt(whatsapp, D1 + 9 * HOUR, ['delivered', 'read', 'failed', 'sent', 'queued'])
  await sendAt(telegram, D1 + 23 * HOUR, ['delivered'])
  await sendAt(whatsapp, D2, ['delivered', 'delivered'])
  await sendAt(twilio, D2 + 12 * HOUR, ['failed', 'delivered', 'delivered'])
  await sendAt(sandbox, D1 + HOUR, ['queued'])
  await sendAt(oldTelegram, D2 + HOUR, ['read'])
  // Just outside 2025-03-10..2025-03-11.
  await sendAt(whatsapp, D1 - 1, ['delivered'])
  await sendAt(whatsapp, D2 + DAY, ['delivered'])

  // Account B: the same days, and recent messages for the default period.
  pB1 = await project(b.id)
  const bWhatsapp = await connector(b.id, pB1, 'whatsapp')
  await sendAt(bWhatsapp, D1 + HOUR, ['delivered', 'delivered', 'delivered'])
  await sendAt(bWhatsapp, Date.now() - HOUR, ['failed', 'read'])
  await sendAt(bWhatsapp, Date.now() - 2 * DAY, ['delivered'])
  await sendAt(bWhatsapp, Date.now() - 31 * DAY, ['read'])
})

describe('GET /api/v1/analytics/messages', () => {
  it("counts the account's messages of the period: totals, per connector type and per UTC day", async () => {
    const d = await get(`${MESSAGES}?from=2025-03-10&to=2025-03-11`, a)
    expect(d).toEqual({
      period: { from: '2025-03-10T00:00:00.000Z', to: '2025-03-11T23:59:59.999Z' },
      // sent: 4 + 1 + 2 + 3 + 1 (the deleted project's message stays on the record); queued ones are not counted.
      totals: { sent: 11, delivered: 8, failed: 2, deliveredRate: 0.727 },
      byConnector: { whatsapp: counts(6, 4, 1), telegram: counts(2, 2, 0), twilio: counts(3, 2, 1) },
      byDay: [
        { date: '2025-03-10', ...counts(5, 3, 1) },
        { date: '2025-03-11', ...counts(6, 5, 1) },
      ],
    })
  })

  it('filters by project and rounds the rate to 3 decimals', async () => {
    const one = await get(`${MESSAGES}?projectId=${pA1}&from=2025-03-10&to=2025-03-11`, a)
    expect(one.totals).toEqual({ sent: 7, delivered: 5, failed: 1, deliveredRate: 0.714 })
    expect(one.byConnector).toEqual({ whatsapp: counts(6, 4, 1), telegram: counts(1, 1, 0) })
    expect(one.byDay).toEqual([
      { date: '2025-03-10', ...counts(5, 3, 1) },
      { date: '2025-03-11', ...counts(2, 2, 0) },
    ])
    // 2 / 3 = 0.6666… → 0.667; the queued sandbox message is in no figure.
    const two = await get(`${MESSAGES}?projectId=${pA2}&from=2025-03-10&to=2025-03-11`, a)
    expect(two.totals).toEqual({ sent: 3, delivered: 2, failed: 1, deliveredRate: 0.667 })
    expect(two.byConnector).toEqual({ twilio: counts(3, 2, 1) })
    expect(two.byDay).toEqual([{ date: '2025-03-11', ...counts(3, 2, 1) }])
  })

  it('takes date-times as instants, `to` included', async () => {
    const d = await get(`${MESSAGES}?from=2025-03-10T09:00:00Z&to=2025-03-10T23:00:00Z`, a)
    expect(d.period).toEqual({ from: '2025-03-10T09:00:00.000Z', to: '2025-03-10T23:00:00.000Z' })
    expect(d.totals).toEqual({ sent: 5, delivered: 3, failed: 1, deliveredRate: 0.6 })
    const later = await get(`${MESSAGES}?from=2025-03-10T09:00:00.001Z&to=2025-03-10T22:59:59.999Z`, a)
    expect(later.totals).toEqual({ sent: 0, delivered: 0, failed: 0, deliveredRate: 0 })
  })

  it('defaults to the last 30 days up to now; `to` alone ends the 30 days there', async () => {
    const before = Date.now()
    const d = await get(MESSAGES, b)
    expect(Date.parse(d.period.to)).toBeGreaterThanOrEqual(before)
    expect(Date.parse(d.period.to) - Date.parse(d.period.from)).toBe(30 * DAY)
    expect(d.totals).toEqual({ sent: 3, delivered: 2, failed: 1, deliveredRate: 0.667 })
    expect(d.byConnector).toEqual({ whatsapp: counts(3, 2, 1) })
    expect(d.byDay.map((x: { sent: number }) => x.sent).reduce((s: number, n: number) => s + n, 0)).toBe(3)

    const upTo = await get(`${MESSAGES}?to=2025-03-10`, b)
    expect(upTo.period).toEqual({ from: '2025-02-09T00:00:00.000Z', to: '2025-03-10T23:59:59.999Z' })
    expect(upTo.totals).toEqual({ sent: 3, delivered: 3, failed: 0, deliveredRate: 1 })
  })

  it("never counts another account's messages, and its project is 404", async () => {
    const d = await get(`${MESSAGES}?from=2025-03-10&to=2025-03-11`, b)
    expect(d.totals).toEqual({ sent: 3, delivered: 3, failed: 0, deliveredRate: 1 })
    expect(d.byConnector).toEqual({ whatsapp: counts(3, 3, 0) })
    expect(d.byDay).toEqual([{ date: '2025-03-10', ...counts(3, 3, 0) }])
    expectErrorEnvelope(await call(`${MESSAGES}?projectId=${pB1}`, { token: a.accessToken }), 404, 'PROJECT_NOT_FOUND')
    expectErrorEnvelope(await call(`${MESSAGES}?projectId=${pA1}`, { token: b.accessToken }), 404, 'PROJECT_NOT_FOUND')
  })

  it('is 404 for an unknown or deleted project', async () => {
    expectErrorEnvelope(await call(`${MESSAGES}?projectId=proj_ana_unknown`, { token: a.accessToken }), 404, 'PROJECT_NOT_FOUND')
    expectErrorEnvelope(await call(`${MESSAGES}?projectId=${pA3}`, { token: a.accessToken }), 404, 'PROJECT_NOT_FOUND')
  })

  it('answers zeros for an account without messages', async () => {
    const d = await get(`${MESSAGES}?from=2025-03-10&to=2025-03-11`, empty)
    expect(d.totals).toEqual({ sent: 0, delivered: 0, failed: 0, deliveredRate: 0 })
    expect(d.byConnector).toEqual({})
    expect(d.byDay).toEqual([])
  })

  it('refuses `to` before `from` and dates off the calendar', async () => {
    const back = await call(`${MESSAGES}?from=2025-03-11&to=2025-03-10`, { token: a.accessToken })
    expectErrorEnvelope(back, 400, 'VALIDATION_ERROR')
    expect(back.body.error.field, back.text).toBe('to')
    expectErrorEnvelope(await call(`${MESSAGES}?from=2025-02-30`, { token: a.accessToken }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await call(`${MESSAGES}?to=soon`, { token: a.accessToken }), 400, 'VALIDATION_ERROR')
  })
})

describe('GET /api/v1/analytics/usage', () => {
  it("sums the account's messaging of all time", async () => {
    const d = await get(USAGE, a)
    // 15 messages (2 queued); 13 left the queue, 10 delivered → 0.769. Projects and connectors not deleted: 2 and 3.
    expect(d).toEqual({
      totalMessages: 15,
      totalProjects: 2,
      totalConnectors: 3,
      averageDeliveryRate: 0.769,
      topConnectors: [
        { type: 'whatsapp', messages: 9 },
        { type: 'twilio', messages: 3 },
        { type: 'telegram', messages: 2 },
        { type: 'sandbox', messages: 1 },
      ],
    })
  })

  it('narrows to one project', async () => {
    // whatsapp 9 (8 left the queue, 6 delivered) + telegram 1 delivered: 7 / 9 → 0.778.
    expect(await get(`${USAGE}?projectId=${pA1}`, a)).toEqual({
      totalMessages: 10,
      totalProjects: 1,
      totalConnectors: 2,
      averageDeliveryRate: 0.778,
      topConnectors: [
        { type: 'whatsapp', messages: 9 },
        { type: 'telegram', messages: 1 },
      ],
    })
    expect(await get(`${USAGE}?projectId=${pA2}`, a)).toEqual({
      totalMessages: 4,
      totalProjects: 1,
      totalConnectors: 1,
      averageDeliveryRate: 0.667,
      topConnectors: [
        { type: 'twilio', messages: 3 },
        { type: 'sandbox', messages: 1 },
      ],
    })
  })

  it("keeps accounts apart: another account's project, an unknown or deleted one is 404", async () => {
    expect(await get(USAGE, b)).toEqual({
      totalMessages: 7,
      totalProjects: 1,
      totalConnectors: 1,
      averageDeliveryRate: 0.857,
      topConnectors: [{ type: 'whatsapp', messages: 7 }],
    })
    for (const [user, id] of [
      [a, pB1],
      [b, pA1],
      [a, pA3],
      [a, 'proj_ana_unknown'],
    ] as const)
      expectErrorEnvelope(await call(`${USAGE}?projectId=${id}`, { token: user.accessToken }), 404, 'PROJECT_NOT_FOUND')
  })

  it('answers zeros for an account without messaging', async () => {
    expect(await get(USAGE, empty)).toEqual({ totalMessages: 0, totalProjects: 0, totalConnectors: 0, averageDeliveryRate: 0, topConnectors: [] })
  })
})

describe('access', () => {
  it('needs credentials, and an API key with messages:read', async () => {
    const without = await createApiKey(a, ['sims:read'])
    const reader = await createApiKey(a, ['messages:read'])
    for (const path of [MESSAGES, USAGE]) {
      expectErrorEnvelope(await call(path), 401, 'UNAUTHORIZED')
      expectErrorEnvelope(await call(path, { apiKey: without.key }), 403, 'FORBIDDEN')
      const res = await call(path, { apiKey: reader.key })
      expect(res.status, res.text).toBe(200)
    }
  })
})

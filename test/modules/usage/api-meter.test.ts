import { env } from 'cloudflare:test'
import { and, eq } from 'drizzle-orm'
import { describe, expect, it, vi } from 'vitest'
import { usageRecords } from '../../../src/db/schema'
import { countApiCall, flushApiCalls } from '../../../src/modules/usage/meter'
import { call, createApiKey, registerAdmin, registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sleep, waitFor } from '../../helpers/db'
import { db, usageRows } from '../../helpers/usage'
import { logger } from '../../../src/lib/logger'

/** The key's metered rows (one per UTC day; a test may straddle midnight). */
async function keyRows(userId: string, keyId: string) {
  return db
    .select()
    .from(usageRecords)
    .where(and(eq(usageRecords.userId, userId), eq(usageRecords.resourceType, 'api_calls'), eq(usageRecords.resourceId, keyId)))
    .all()
}
const counted = async (userId: string, keyId: string) => (await keyRows(userId, keyId)).reduce((s, r) => s + r.quantity, 0)

/** Waits until the meter shows `n` calls, then a little longer to make sure it does not go past it. */
async function expectCount(userId: string, keyId: string, n: number) {
  await waitFor(async () => (await counted(userId, keyId)) >= n || null, `${n} calls of ${keyId}`, 5000)
  await sleep(150)
  expect(await counted(userId, keyId)).toBe(n)
}

describe('API-call meter', () => {
  it('counts every API-key request exactly, per key and UTC day: 7 calls → quantity 7', async () => {
    const u = await registerUser()
    const key = await createApiKey(u, ['billing:read'])
    const day = new Date().toISOString().slice(0, 10)
    for (let i = 0; i < 7; i++) {
      const res = await call('/api/usage', { apiKey: key.key })
      expect(res.status, res.text).toBe(200)
    }
    await expectCount(u.id, key.id, 7)
    const rows = await keyRows(u.id, key.id)
    expect(rows).toHaveLength(1)
    expect(rows[0], JSON.stringify(rows[0])).toMatchObject({
      resourceType: 'api_calls',
      resourceId: key.id,
      quantity: 7,
      unit: 'request',
      unitPrice: 1_000,
      totalCost: 7_000,
      prepaid: false,
      month: day.slice(0, 7),
      transactionId: `api:${key.id}:${day}`,
      description: `API requests with key ${key.id} on ${day}`,
      currency: 'USD',
      reportId: null,
    })
    expect(rows[0]!.id).toMatch(/^usg_/)
    expect(rows[0]!.occurredAt.toISOString()).toBe(`${day}T00:00:00.000Z`)

    // More calls grow the same row; the history shows them as apiCalls of this month.
    for (let i = 0; i < 3; i++) expect((await call('/api/usage', { apiKey: key.key })).status).toBe(200)
    await expectCount(u.id, key.id, 10)
    expect(await keyRows(u.id, key.id)).toHaveLength(1)
    const history = await call('/api/usage', { token: u.accessToken })
    expect(history.body.data[0], history.text).toMatchObject({ month: day.slice(0, 7), apiCalls: 10 })
  })

  it('concurrent requests on two keys: each counted exactly, separately', async () => {
    const u = await registerUser()
    const a = await createApiKey(u, ['billing:read'])
    const b = await createApiKey(u, ['numbers:read'])
    const answers = await Promise.all([
      ...Array.from({ length: 25 }, () => call('/api/usage', { apiKey: a.key })),
      // Refused by the route (no billing:read) but authenticated: counted.
      ...Array.from({ length: 12 }, () => call('/api/usage', { apiKey: b.key })),
    ])
    expect(answers.filter((r) => r.status === 200)).toHaveLength(25)
    expect(answers.filter((r) => r.status === 403)).toHaveLength(12)
    await expectCount(u.id, a.id, 25)
    await expectCount(u.id, b.id, 12)
  })

  it("a session's calls, refused credentials and the usage-report route are not counted", async () => {
    const u = await registerUser()
    const key = await createApiKey(u, ['*'])
    for (let i = 0; i < 4; i++) expect((await call('/api/usage', { token: u.accessToken })).status).toBe(200)
    expect((await call('/api/usage', { apiKey: `${key.key}x` })).status).toBe(401)
    await call(`/api/v1/api-keys/${key.id}`, { method: 'DELETE', token: u.accessToken })
    expect((await call('/api/usage', { apiKey: key.key })).status).toBe(401)
    const reporter = await createApiKey(u, ['usage:write'])
    for (let i = 0; i < 3; i++) {
      const res = await call('/api/usage', { apiKey: reporter.key, body: { month: '2025-01', callMinutes: 1 } })
      expect(res.status, res.text).toBe(201)
    }
    // One counted call, as a marker that the meter ran after everything above.
    expect((await call('/api/v1/billing/usage?startDate=2025-01-01&endDate=2025-01-02', { apiKey: reporter.key })).status).toBe(403)
    await expectCount(u.id, reporter.id, 1)
    expect(await counted(u.id, key.id)).toBe(0)
    expect((await usageRows(u.id, 'api_calls')).map((r) => r.resourceId)).toEqual([reporter.id])
  })

  it('the write happens after the response, in waitUntil (awaited by the test harness here)', async () => {
    const u = await registerUser()
    const admin = await registerAdmin()
    const key = await createApiKey(admin, ['*', 'admin'])
    // callApp awaits the ExecutionContext: once it returns, the deferred flush has run.
    const res = await callApp(`/api/usage?userId=${u.id}`, { apiKey: key.key })
    expect(res.status, res.text).toBe(200)
    expect(await counted(admin.id, key.id)).toBe(1)
  })

  it('flushes never share a promise: each takes what is pending when it runs, concurrent ones take disjoint counts, none is lost', async () => {
    const u = await registerUser()
    const keyId = `key_flush_${u.id.slice(-6)}`
    // Writable entries go in one statement for them all; nothing falls back to one per entry.
    const warn = vi.spyOn(logger, 'warn')
    for (let i = 0; i < 5; i++) countApiCall(u.id, keyId)
    countApiCall(u.id, `${keyId}_b`)
    const first = flushApiCalls(db)
    // Added while the first one writes: a second flush (another request's) writes them itself,
    // instead of awaiting work the first request owns (workerd cancels that when its request ends).
    for (let i = 0; i < 4; i++) countApiCall(u.id, keyId)
    const second = flushApiCalls(db)
    expect(second).not.toBe(first)
    const third = flushApiCalls(db) // nothing left for it
    await Promise.all([first, second, third])
    expect(await counted(u.id, keyId)).toBe(9)
    const rows = await keyRows(u.id, keyId)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.totalCost).toBe(9_000)
    expect(await counted(u.id, `${keyId}_b`)).toBe(1)
    expect(warn).not.toHaveBeenCalled()
    warn.mockRestore()

    // An entry that cannot be written (no such account) does not hold back the others.
    countApiCall('usr_missing_account', keyId)
    countApiCall(u.id, keyId)
    await flushApiCalls(db)
    expect(await counted(u.id, keyId)).toBe(10)
    const orphan = await env.DB.prepare(`SELECT COUNT(*) AS n FROM usage_records WHERE user_id = 'usr_missing_account'`).first<{ n: number }>()
    expect(orphan!.n).toBe(0)
  })
})

/**
 * SIM top-ups are sold: the price is held, the provider tops up, the price is captured (or the hold
 * voided when the provider fails); each top-up is a usage row on the invoice; a wallet that cannot
 * pay refuses; concurrency never overspends; Idempotency-Key never charges twice.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { createServices } from '../../../src/services'
import { call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'
import { setProviderConfig } from '../../helpers/providers'
import { quotaRow, registerSims, simEventRows, simProvider, topUpRows, uniqueIccid } from '../../helpers/sims'

const MiB = 1_048_576
let provider: { id: string }

beforeAll(async () => {
  provider = await simProvider({ alwaysConnected: true })
})

async function ledgerSum(userId: string) {
  const a = await walletAudit(userId)
  return { balance: a.balance, ledgerSum: a.ledgerSum, activeHolds: a.activeHolds, available: a.available }
}

describe('a single top-up', () => {
  it('charges the price per started MiB, grows the quota, writes the usage row and the event', async () => {
    const u = await registerUser()
    await fund(u.id, 10)
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    const before = await quotaRow(iccid)
    const res = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body: { quota_type: 'data', volume: 100 * MiB + 1 } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ iccid, quota_type: 'data', volume_added: 100 * MiB + 1, new_total: before!.volume + 100 * MiB + 1, price: 2.02, currency: 'USD' })
    expect(res.body.data.transaction_id).toMatch(/^stu_/)
    const audit = await ledgerSum(u.id)
    expect(audit).toMatchObject({ balance: 10_000_000 - 2_020_000, ledgerSum: 10_000_000 - 2_020_000, activeHolds: 0 })
    const usage = await env.DB.prepare(`SELECT * FROM usage_records WHERE user_id = ? AND transaction_id = ?`).bind(u.id, `sim_topup:${res.body.data.transaction_id}`).first<any>()
    expect(usage).toMatchObject({ resource_type: 'sim_data_topup', quantity: 101, total_cost: 2_020_000, prepaid: 1 })
    expect(await simEventRows(iccid, 'quota_topped_up')).toHaveLength(1)
    const quota = await call(`/api/v1/sims/${iccid}/quota/data`, { token: u.accessToken })
    expect(quota.body.data.volume).toBe(before!.volume + 100 * MiB + 1)
  })

  it('SMS top-ups are priced per message', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    const res = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body: { quota_type: 'sms', volume: 50 } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ quota_type: 'sms', volume_added: 50, new_total: 300, price: 0.5 })
  })

  it('400 INSUFFICIENT_BALANCE when the wallet cannot pay: nothing charged, nothing topped up', async () => {
    const u = await registerUser()
    await fund(u.id, 0.01)
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    const res = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body: { quota_type: 'data', volume: MiB } })
    expectErrorEnvelope(res, 400, 'INSUFFICIENT_BALANCE')
    expect(res.body.error.details).toMatchObject({ required: 0.02, available: 0.01 })
    expect(await ledgerSum(u.id)).toMatchObject({ balance: 10_000, ledgerSum: 10_000, activeHolds: 0 })
    expect((await quotaRow(iccid))!.volume).toBe(524288000)
  })

  it('a provider failure is 502 and charges nothing', async () => {
    const u = await registerUser()
    await fund(u.id, 5)
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    await setProviderConfig(provider.id, { sim: { alwaysConnected: true, failTopUpIccids: [iccid] } })
    const headers = { 'Idempotency-Key': crypto.randomUUID() }
    try {
      const res = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body: { quota_type: 'data', volume: MiB }, headers })
      expectErrorEnvelope(res, 502, 'UPSTREAM_ERROR')
    } finally {
      await setProviderConfig(provider.id, { sim: { alwaysConnected: true } })
    }
    expect(await ledgerSum(u.id)).toMatchObject({ balance: 5_000_000, ledgerSum: 5_000_000, activeHolds: 0 })
    expect((await topUpRows(iccid))[0]).toMatchObject({ status: 'failed', error_code: 'UPSTREAM_ERROR' })
    // A 502 is not kept: the retry with the same key is a new attempt, and it is charged once.
    const retry = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body: { quota_type: 'data', volume: MiB }, headers })
    expect(retry.status, retry.text).toBe(200)
    expect(retry.body.data.transaction_id).toMatch(/^stu_[0-9a-f]{26}_2$/)
    const again = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body: { quota_type: 'data', volume: MiB }, headers })
    expect(again.body.data).toEqual(retry.body.data)
    expect(await ledgerSum(u.id)).toMatchObject({ balance: 4_980_000, ledgerSum: 4_980_000, activeHolds: 0 })
    expect((await topUpRows(iccid)).map((t) => t.status)).toEqual(['failed', 'succeeded'])
  })

  it('Idempotency-Key: the retry answers the first top-up and charges once', async () => {
    const u = await registerUser()
    await fund(u.id, 5)
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    const headers = { 'Idempotency-Key': crypto.randomUUID() }
    const body = { quota_type: 'data', volume: 10 * MiB }
    const a = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body, headers })
    const b = await call(`/api/v1/sims/${iccid}/topup`, { token: u.accessToken, body, headers })
    expect(a.status).toBe(200)
    expect(b.body.data).toEqual(a.body.data)
    expect((await ledgerSum(u.id)).balance).toBe(5_000_000 - 200_000)
    // Below the middleware (a lost record): the derived operation id still charges once.
    const services = createServices(env as unknown as Env, createExecutionContext())
    const idem = { scope: `user:${u.id}`, key: crypto.randomUUID() }
    const [x, y] = await Promise.all([
      services.simTopUpService.topUp(ctxFor(u.id), iccid, { quota_type: 'data', volume: MiB }, { idempotency: idem }),
      services.simTopUpService.topUp(ctxFor(u.id), iccid, { quota_type: 'data', volume: MiB }, { idempotency: idem }),
    ])
    expect(x.id).toBe(y.id)
    expect((await ledgerSum(u.id)).balance).toBe(5_000_000 - 220_000)
  })
})

describe('concurrency', () => {
  it('20 concurrent top-ups on a wallet that pays for 5: exactly 5 succeed and the ledger sums to the balance', async () => {
    const u = await registerUser()
    await fund(u.id, 0.1)
    const iccids = Array.from({ length: 4 }, () => uniqueIccid())
    await registerSims(u, iccids)
    const services = createServices(env as unknown as Env, createExecutionContext())
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => services.simTopUpService.topUp(ctxFor(u.id), iccids[i % 4]!, { quota_type: 'data', volume: MiB })))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5)
    const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    expect(refused.every((r) => (r.reason as { code?: string }).code === 'INSUFFICIENT_BALANCE')).toBe(true)
    const audit = await walletAudit(u.id)
    expect(audit).toMatchObject({ balance: 0, ledgerSum: 0, activeHolds: 0, negativeAvailable: false })
    const rows = (await env.DB.prepare(`SELECT status, count(*) AS n FROM sim_topups WHERE user_id = ? GROUP BY status`).bind(u.id).all<any>()).results
    expect(Object.fromEntries(rows.map((r) => [r.status, r.n]))).toEqual({ succeeded: 5, failed: 15 })
    const added = (await Promise.all(iccids.map(async (i) => (await quotaRow(i))!.volume - 524288000))).reduce((s, v) => s + v, 0)
    expect(added).toBe(5 * MiB)
  })
})

/**
 * Bulk top-up as a job on the `jobs` queue: per-SIM results at the status_url; a redelivered
 * message charges nobody twice; a provider failure mid-bulk charges only the SIMs topped up; a
 * wallet that pays for some SIMs pays for exactly those.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import type { BulkTopUpMessage } from '../../../src/modules/sims/topup.service'
import { createServices } from '../../../src/services'
import { call, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'
import { waitFor } from '../../helpers/db'
import { setProviderConfig } from '../../helpers/providers'
import { quotaRow, registerSims, simProvider, uniqueIccid } from '../../helpers/sims'

const MiB = 1_048_576
let provider: { id: string }

beforeAll(async () => {
  provider = await simProvider({ alwaysConnected: true })
})

async function finished(user: TestUser, statusUrl: string) {
  return waitFor(
    async () => {
      const res = await call(statusUrl, { token: user.accessToken })
      return res.body.data?.status === 'completed' ? res : null
    },
    'job completed',
    15_000,
  )
}

describe('bulk top-up', () => {
  it('202 with a job; the queue runs it; per-SIM results, invalid and foreign ICCIDs fail alone', async () => {
    const u = await registerUser()
    const stranger = await registerUser()
    await fund(u.id, 10)
    const mine = [uniqueIccid(), uniqueIccid(), uniqueIccid()]
    const theirs = uniqueIccid()
    await registerSims(u, mine)
    await registerSims(stranger, [theirs])
    const sims = [...mine.map((iccid) => ({ iccid, quota_type: 'data', volume: 10 * MiB })), { iccid: '42', quota_type: 'data', volume: MiB }, { iccid: theirs, quota_type: 'sms', volume: 5 }]
    const res = await call('/api/v1/sims/topup', { token: u.accessToken, body: { sims } })
    expect(res.status, res.text).toBe(202)
    expect(res.body.data).toMatchObject({ status: 'processing', total_sims: 5 })
    expect(res.body.data.status_url).toBe(`/api/v1/jobs/${res.body.data.job_id}`)
    const done = await finished(u, res.body.data.status_url)
    expect(done.body.data).toMatchObject({ succeeded: 3, failed: 2, pending: 0, total_price: 0.6 })
    const results = done.body.data.results
    expect(results.map((r: any) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'failed', 'failed'])
    expect(results[3].error.code).toBe('INVALID_ICCID')
    expect(results[4].error.code).toBe('NOT_FOUND')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 9_400_000, ledgerSum: 9_400_000, activeHolds: 0 })
    // Another account cannot read the job.
    expect((await call(res.body.data.status_url, { token: stranger.accessToken })).status).toBe(404)
  })

  it('the largest bulk, 10,000 SIMs, is accepted: its 100 chunk messages are sent under the queue batch limits', async () => {
    const u = await registerUser()
    // ICCIDs the account does not hold: every item fails alone, nothing is charged.
    const sims = Array.from({ length: 10_000 }, () => ({ iccid: uniqueIccid(), quota_type: 'data', volume: MiB }))
    const res = await call('/api/v1/sims/topup', { token: u.accessToken, body: { sims } })
    expect(res.status, res.text).toBe(202)
    const done = await waitFor(
      async () => {
        const r = await call(`${res.body.data.status_url}?page_size=1`, { token: u.accessToken })
        return r.body.data?.status === 'completed' ? r : null
      },
      'job completed',
      60_000,
    )
    expect(done.body.data).toMatchObject({ total_sims: 10_000, succeeded: 0, failed: 10_000, pending: 0 })
  }, 90_000)

  it('a retried bulk request (same Idempotency-Key) sends its chunks again; each SIM is still topped up once', async () => {
    const u = await registerUser()
    await fund(u.id, 10)
    const iccids = [uniqueIccid(), uniqueIccid()]
    await registerSims(u, iccids)
    const services = createServices(env as unknown as Env, createExecutionContext())
    const items = iccids.map((iccid, i) => ({ i, iccid, quota_type: 'data' as const, volume: 50 * MiB }))
    const idempotency = { scope: `test:${u.id}`, key: 'bulk-retry' }
    const first = await services.simTopUpService.bulk(ctxFor(u.id), items, { idempotency })
    const again = await services.simTopUpService.bulk(ctxFor(u.id), items, { idempotency })
    expect(again.id).toBe(first.id)
    await finished(u, `/api/v1/jobs/${first.id}`)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 8_000_000, ledgerSum: 8_000_000, activeHolds: 0 })
    for (const iccid of iccids) expect((await quotaRow(iccid))!.volume).toBe(524288000 + 50 * MiB)
  })

  it('a job message delivered twice (also at once) charges and tops up each SIM once', async () => {
    const u = await registerUser()
    await fund(u.id, 10)
    const iccids = [uniqueIccid(), uniqueIccid()]
    await registerSims(u, iccids)
    const services = createServices(env as unknown as Env, createExecutionContext())
    const job = await services.simTopUpService.bulk(
      ctxFor(u.id),
      iccids.map((iccid, i) => ({ i, iccid, quota_type: 'data' as const, volume: 50 * MiB })),
    )
    const message: BulkTopUpMessage = { type: 'sims.topup', jobId: job.id, userId: u.id, chunk: 0, items: iccids.map((iccid, i) => ({ i, iccid, quota_type: 'data', volume: 50 * MiB })) }
    await Promise.all([services.simTopUpService.runChunk(message), services.simTopUpService.runChunk(message)])
    await services.simTopUpService.runChunk(message)
    await finished(u, `/api/v1/jobs/${job.id}`)
    const audit = await walletAudit(u.id)
    expect(audit).toMatchObject({ balance: 8_000_000, ledgerSum: 8_000_000, activeHolds: 0 })
    for (const iccid of iccids) expect((await quotaRow(iccid))!.volume).toBe(524288000 + 50 * MiB)
    const usage = await env.DB.prepare(`SELECT count(*) AS n FROM usage_records WHERE user_id = ? AND resource_type = 'sim_data_topup'`).bind(u.id).first<any>()
    expect(usage.n).toBe(2)
  })

  it('a provider failure mid-bulk charges only the SIMs that were topped up', async () => {
    const u = await registerUser()
    await fund(u.id, 10)
    const iccids = [uniqueIccid(), uniqueIccid(), uniqueIccid()]
    await registerSims(u, iccids)
    await setProviderConfig(provider.id, { sim: { alwaysConnected: true, failTopUpIccids: [iccids[1]] } })
    try {
      const services = createServices(env as unknown as Env, createExecutionContext())
      const job = await services.simTopUpService.bulk(
        ctxFor(u.id),
        iccids.map((iccid, i) => ({ i, iccid, quota_type: 'data' as const, volume: 10 * MiB })),
      )
      await services.simTopUpService.runChunk({ type: 'sims.topup', jobId: job.id, userId: u.id, chunk: 0, items: iccids.map((iccid, i) => ({ i, iccid, quota_type: 'data', volume: 10 * MiB })) })
      const done = await finished(u, `/api/v1/jobs/${job.id}`)
      expect(done.body.data.results.map((r: any) => r.status)).toEqual(['succeeded', 'failed', 'succeeded'])
      expect(done.body.data.results[1].error.code).toBe('UPSTREAM_ERROR')
    } finally {
      await setProviderConfig(provider.id, { sim: { alwaysConnected: true } })
    }
    expect(await walletAudit(u.id)).toMatchObject({ balance: 9_600_000, ledgerSum: 9_600_000, activeHolds: 0 })
    expect((await quotaRow(iccids[1]!))!.volume).toBe(524288000)
  })

  it('a wallet that pays for only some SIMs gives exactly those (in request order)', async () => {
    const u = await registerUser()
    await fund(u.id, 0.5)
    const iccids = [uniqueIccid(), uniqueIccid(), uniqueIccid()]
    await registerSims(u, iccids)
    const res = await call('/api/v1/sims/topup', { token: u.accessToken, body: { sims: iccids.map((iccid) => ({ iccid, quota_type: 'data', volume: 10 * MiB })) } })
    const done = await finished(u, res.body.data.status_url)
    expect(done.body.data.results.map((r: any) => r.status)).toEqual(['succeeded', 'succeeded', 'failed'])
    expect(done.body.data.results[2].error.code).toBe('INSUFFICIENT_BALANCE')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 100_000, ledgerSum: 100_000, activeHolds: 0 })
  })
})

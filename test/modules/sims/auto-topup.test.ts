/**
 * Auto top-up and the 15-minute sync: thresholds crossed in the sandbox's growing usage fire their
 * events and webhooks once, and one charged top-up happens per crossing — also when two syncs
 * overlap.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { enqueueSimSync, syncAllSims } from '../../../src/modules/sims/sim-sync.job'
import { CRONS } from '../../../src/scheduled'
import { createServices } from '../../../src/services'
import { call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { waitFor } from '../../helpers/db'
import { outboxFor, quotaRow, registerSims, simEventRows, simProvider, topUpRows, uniqueIccid, useSandboxData } from '../../helpers/sims'

const MiB = 1_048_576

const SIM = { alwaysConnected: true, dataBytesPerMinute: MiB }

beforeAll(async () => {
  await simProvider(SIM)
})

const services = () => createServices(env as unknown as Env, createExecutionContext())

describe('auto top-up', () => {
  it('configures per SIM; invalid and unknown ICCIDs fail alone', async () => {
    const u = await registerUser()
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    const res = await call('/api/v1/sims/auto-topup', {
      token: u.accessToken,
      body: { sims: [iccid, '12', uniqueIccid()], quota_type: 'data', threshold_percentage: 80, topup_amount: 100 * MiB, enabled: true },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ configured_sims: 1, failed_sims: 2 })
    expect(res.body.data.details[0]).toMatchObject({ iccid, status: 'configured', threshold: 80, topup_amount: 100 * MiB })
    const quota = await call(`/api/v1/sims/${iccid}/quota/data`, { token: u.accessToken })
    expect(quota.body.data).toMatchObject({ auto_reload: true, auto_reload_amount: 100 * MiB, threshold_percentage: 80 })
    expectErrorEnvelope(await call('/api/v1/sims/auto-topup', { token: u.accessToken, body: { sims: [iccid], threshold_percentage: 150, topup_amount: 1 } }), 400, 'VALIDATION_ERROR')
  })

  it('two overlapping syncs make one charged top-up per crossing, with one threshold event and webhook', async () => {
    const u = await registerUser()
    await fund(u.id, 20)
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    await call('/api/v1/sims/auto-topup', { token: u.accessToken, body: { sims: [iccid], quota_type: 'data', threshold_percentage: 80, topup_amount: 100 * MiB, enabled: true } })
    // 450 MiB of 500 used: past the 80 % mark.
    await useSandboxData(iccid, 450 * MiB, SIM)
    await Promise.all([syncAllSims(services()), syncAllSims(services())])
    await syncAllSims(services())

    const topups = (await topUpRows(iccid)).filter((t) => t.source === 'auto')
    expect(topups.filter((t) => t.status === 'succeeded')).toHaveLength(1)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 18_000_000, ledgerSum: 18_000_000, activeHolds: 0 })
    expect(await simEventRows(iccid, 'quota_threshold_reached')).toHaveLength(1)
    expect(await outboxFor('quota.threshold_reached', iccid)).toHaveLength(1)
    const q = await quotaRow(iccid)
    expect(q).toMatchObject({ volume: 600 * MiB, threshold_reached: 0 })

    // The next crossing (80 % of 600 MiB = 480 MiB) tops up again, once.
    await useSandboxData(iccid, 40 * MiB, SIM)
    await Promise.all([syncAllSims(services()), syncAllSims(services())])
    expect((await topUpRows(iccid)).filter((t) => t.source === 'auto' && t.status === 'succeeded')).toHaveLength(2)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 16_000_000, ledgerSum: 16_000_000 })
    expect(await simEventRows(iccid, 'quota_threshold_reached')).toHaveLength(2)
  })

  it('a wallet that cannot pay: nothing charged, the crossing stays open, the next sync tops up once funded', async () => {
    const u = await registerUser()
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    await call('/api/v1/sims/auto-topup', { token: u.accessToken, body: { sims: [iccid], topup_amount: 100 * MiB } })
    await useSandboxData(iccid, 450 * MiB, SIM)
    await syncAllSims(services())
    expect((await topUpRows(iccid)).map((t) => t.status)).toEqual(['failed'])
    expect((await walletAudit(u.id)).balance).toBe(0)
    await fund(u.id, 5)
    await syncAllSims(services())
    expect((await topUpRows(iccid)).map((t) => t.status)).toEqual(['failed', 'succeeded'])
    expect((await walletAudit(u.id)).balance).toBe(3_000_000)
  })

  it("a crossing's earlier attempts are its own: a crossing at a volume with more digits does not hide it", async () => {
    const u = await registerUser()
    await fund(u.id, 5)
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    await call('/api/v1/sims/auto-topup', { token: u.accessToken, body: { sims: [iccid], topup_amount: 100 * MiB } })
    const sim = await env.DB.prepare('SELECT id FROM sims WHERE iccid = ?').bind(iccid).first<{ id: number }>()
    // A succeeded auto top-up of this SIM at ten times today's volume (5242880000 bytes): its id
    // starts with this crossing's id (524288000) and one more digit.
    const now = Date.now()
    await env.DB.prepare(
      `INSERT INTO sim_topups (id, user_id, sim_id, iccid, quota_type, volume, amount, source, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'data', ?, 0, 'auto', 'succeeded', ?, ?)`,
    )
      .bind(`auto_${sim!.id}_data_${500 * MiB}0_1`, u.id, sim!.id, iccid, 100 * MiB, now, now)
      .run()
    await useSandboxData(iccid, 450 * MiB, SIM)
    await syncAllSims(services())
    const auto = (await topUpRows(iccid)).filter((t) => t.source === 'auto' && t.status === 'succeeded')
    expect(auto.map((t) => t.id)).toContain(`auto_${sim!.id}_data_${500 * MiB}_1`)
    expect((await walletAudit(u.id)).balance).toBe(3_000_000)
  })

  it('depletion fires quota.depleted once', async () => {
    const u = await registerUser()
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    await useSandboxData(iccid, 600 * MiB, SIM)
    await Promise.all([syncAllSims(services()), syncAllSims(services())])
    expect(await simEventRows(iccid, 'quota_depleted')).toHaveLength(1)
    expect(await outboxFor('quota.depleted', iccid)).toHaveLength(1)
    expect((await quotaRow(iccid))!.status).toBe('Exhausted')
  })

  it('the 15-minute cron sends the SIMs to the jobs queue in ranges, and the queue syncs them', async () => {
    const u = await registerUser()
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    await useSandboxData(iccid, 600 * MiB, SIM)
    const sent = await enqueueSimSync(services())
    expect(sent.messages).toBe(Math.ceil(sent.sims / 100))
    await waitFor(async () => ((await simEventRows(iccid, 'quota_depleted')).length ? true : null), 'the queued sync', 10_000)
    expect(await outboxFor('quota.depleted', iccid)).toHaveLength(1)
    // The cron expression runs it (with the provider sync).
    expect(CRONS['*/15 * * * *']!.name).toBe('provider-sync')
  })
})

/**
 * Global SIM limits: the read shape when never set, a set that merges and answers `updated_at`,
 * the push to each provider holding the account's SIMs (grouped by provider), and a provider
 * failure that leaves the stored limits as they were.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import type { SimLimitsInput, SimProvider } from '../../../src/providers/sims/types'
import { createServices } from '../../../src/services'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { ctxFor } from '../../helpers/context'
import { registerSims, simProvider, uniqueIccid } from '../../helpers/sims'

let owner: TestUser
let primary: { id: string }

beforeAll(async () => {
  primary = await simProvider({ alwaysConnected: true })
  owner = await registerUser()
})

const FULL = { daily_data_limit: 10485760, monthly_data_limit: 314572800, daily_sms_limit: 100, monthly_sms_limit: 1000, enforce_limits: true }

const sandboxLimits = async (iccid: string) => {
  const row = await env.DB.prepare('SELECT limits FROM sandbox_sims WHERE iccid = ?').bind(iccid).first<{ limits: string | null }>()
  return row?.limits ? JSON.parse(row.limits) : null
}

describe('limits', () => {
  it('never set: all null, not enforced; a set answers them with updated_at, a read answers them back', async () => {
    const u = await registerUser()
    const none = await call('/api/v1/sims/limits', { token: u.accessToken })
    expect(none.status, none.text).toBe(200)
    expect(none.body.data).toEqual({ daily_data_limit: null, monthly_data_limit: null, daily_sms_limit: null, monthly_sms_limit: null, enforce_limits: false })

    const set = await call('/api/v1/sims/limits', { token: u.accessToken, body: FULL })
    expect(set.status, set.text).toBe(200)
    expect(set.body.data).toMatchObject(FULL)
    expect(Math.abs(Date.parse(set.body.data.updated_at) - Date.now())).toBeLessThan(60_000)
    expect((await call('/api/v1/sims/limits', { token: u.accessToken })).body.data).toEqual(FULL)

    // A field left out keeps its value; null removes a limit.
    const partial = await call('/api/v1/sims/limits', { token: u.accessToken, body: { daily_sms_limit: null, enforce_limits: false } })
    expect(partial.body.data).toMatchObject({ ...FULL, daily_sms_limit: null, enforce_limits: false })
    expect((await call('/api/v1/sims/limits', { token: u.accessToken })).body.data).toEqual({ ...FULL, daily_sms_limit: null, enforce_limits: false })

    // Per account.
    expect((await call('/api/v1/sims/limits', { token: owner.accessToken })).body.data.enforce_limits).toBe(false)
  })

  it('refuses what is not a non-negative integer (or null), unknown fields and an empty change', async () => {
    for (const body of [{ daily_data_limit: -1 }, { monthly_sms_limit: 1.5 }, { daily_sms_limit: '100' }, { enforce_limits: 'yes' }, { weekly_limit: 1 }, {}]) {
      const res = await call('/api/v1/sims/limits', { token: owner.accessToken, body })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    }
    const res = await call('/api/v1/sims/limits', { token: owner.accessToken, body: { daily_data_limit: -1 } })
    expect(res.body.error.details[0].field).toBe('daily_data_limit')
    expect((await call('/api/v1/sims/limits', { token: owner.accessToken, body: { daily_data_limit: 0 } })).status).toBe(200)
  })

  it("pushes them to each provider holding the account's SIMs, one call per provider", async () => {
    const u = await registerUser()
    const iccids = [uniqueIccid(), uniqueIccid(), uniqueIccid()]
    await registerSims(u, iccids)
    const res = await call('/api/v1/sims/limits', { token: u.accessToken, body: FULL })
    expect(res.status, res.text).toBe(200)
    const pushed: SimLimitsInput = { dailyDataLimit: 10485760, monthlyDataLimit: 314572800, dailySmsLimit: 100, monthlySmsLimit: 1000, enforceLimits: true }
    for (const iccid of iccids) expect(await sandboxLimits(iccid)).toEqual(pushed)

    // One SIM moves to a second provider: two calls, each with its own SIMs.
    const second = await simProvider({ alwaysConnected: true }, 50)
    await env.DB.prepare('UPDATE sims SET provider_id = ? WHERE iccid = ?').bind(second.id, iccids[2]).run()
    const calls: { provider: string; iccids: string[] }[] = []
    const s = createServices(env as unknown as Env, createExecutionContext(), {
      simAdapter: (p, built) => {
        const a = built()
        const setLimits = (ids: string[], l: SimLimitsInput) => {
          calls.push({ provider: p.id, iccids: ids })
          return a.setLimits(ids, l)
        }
        return Object.assign(Object.create(a), { setLimits }) as SimProvider
      },
    })
    await s.simLimits.set(ctxFor(u.id), { daily_sms_limit: 5 })
    expect(calls.sort((a, b) => a.iccids.length - b.iccids.length)).toEqual([
      { provider: second.id, iccids: [iccids[2]] },
      { provider: primary.id, iccids: iccids.slice(0, 2) },
    ])
    expect((await sandboxLimits(iccids[2]!)).dailySmsLimit).toBe(5)
  })

  it('a provider failure is a 502 and the stored limits do not change', async () => {
    const u = await registerUser()
    const iccid = uniqueIccid()
    await registerSims(u, [iccid])
    expect((await call('/api/v1/sims/limits', { token: u.accessToken, body: FULL })).status).toBe(200)
    const failing = await simProvider({ failure: 'upstream_error' }, 60)
    await env.DB.prepare('UPDATE sims SET provider_id = ? WHERE iccid = ?').bind(failing.id, iccid).run()
    expectErrorEnvelope(await call('/api/v1/sims/limits', { token: u.accessToken, body: { daily_sms_limit: 1 } }), 502, 'UPSTREAM_ERROR')
    expect((await call('/api/v1/sims/limits', { token: u.accessToken })).body.data).toEqual(FULL)
  })

  it('reading takes sims:read, setting sims:write', async () => {
    const reader = await createApiKey(owner, ['sims:read'])
    expect((await call('/api/v1/sims/limits', { apiKey: reader.key })).status).toBe(200)
    expectErrorEnvelope(await call('/api/v1/sims/limits', { apiKey: reader.key, body: FULL }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/v1/sims/limits'), 401, 'UNAUTHORIZED')
  })
})

/**
 * The SIM API's SIMs: registration (per SIM), reads, the list style of the SIM API, ICCID rules on
 * every route, ownership (another account's SIM is a 404 everywhere), and writable fields.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { outboxFor, registerSims, simEventRows, simProvider, uniqueIccid, withLuhn } from '../../helpers/sims'

let owner: TestUser
let other: TestUser

beforeAll(async () => {
  await simProvider({ alwaysConnected: true })
  owner = await registerUser()
  other = await registerUser()
})

/** Every route that names one SIM, with a body where it needs one. */
const SIM_ROUTES: [string, string, unknown?][] = [
  ['GET', ''],
  ['PUT', '', { label: 'x' }],
  ['GET', '/status'],
  ['GET', '/connectivity'],
  ['POST', '/reset', {}],
  ['GET', '/reset/status'],
  ['GET', '/events'],
  ['GET', '/usage'],
  ['GET', '/quota/data'],
  ['GET', '/quota/sms'],
  ['POST', '/topup', { quota_type: 'data', volume: 1048576 }],
  ['GET', '/sms'],
  ['POST', '/sms', { message: 'ping' }],
  ['GET', '/sms/sms_00000000000000000000000000'],
  ['DELETE', '/sms/sms_00000000000000000000000000'],
]

describe('registration', () => {
  it('creates the SIMs it can and reports the others one by one, never saying who holds a SIM', async () => {
    const mine = uniqueIccid()
    const theirs = uniqueIccid()
    await registerSims(other, [theirs])
    const unknown = `1234567${uniqueIccid().slice(7)}`
    const res = await call('/api/v1/sims', {
      token: owner.accessToken,
      body: { sims: [{ iccid: withLuhn(mine), label: 'Device A', imei_lock: true }, { iccid: theirs }, { iccid: '123' }, { iccid: unknown }, { iccid: mine }] },
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.created).toBe(1)
    expect(res.body.data.failed).toBe(4)
    const [a, b, c, d, e] = res.body.data.sims
    expect(a).toMatchObject({ status: 'created', iccid: mine, iccid_with_luhn: withLuhn(mine) })
    expect(b).toMatchObject({ status: 'failed', error: { code: 'SIM_NOT_AVAILABLE' } })
    expect(d).toMatchObject({ status: 'failed', error: { code: 'SIM_NOT_AVAILABLE' } })
    expect(b.error.message).toBe(d.error.message)
    expect(JSON.stringify(b)).not.toContain(other.id)
    expect(c).toMatchObject({ status: 'failed', error: { code: 'INVALID_ICCID' } })
    expect(e).toMatchObject({ status: 'failed', error: { code: 'DUPLICATE' } })

    const got = await call(`/api/v1/sims/${mine}`, { token: owner.accessToken })
    expect(got.status).toBe(200)
    expect(got.body.data).toMatchObject({ iccid: mine, iccid_with_luhn: withLuhn(mine), label: 'Device A', imei_lock: true, status: 'Enabled', organization_id: null })
    expect(got.body.data.imsi).toMatch(/^\d{15}$/)
    expect(await simEventRows(mine, 'sim_registered')).toHaveLength(1)
  })

  it('a SIM already on the account is reported as such', async () => {
    const iccid = uniqueIccid()
    await registerSims(owner, [iccid])
    const res = await call('/api/v1/sims', { token: owner.accessToken, body: { sims: [{ iccid }] } })
    expect(res.body.data.sims[0]).toMatchObject({ status: 'failed', error: { code: 'ALREADY_REGISTERED' } })
  })
})

describe('ICCID rules and ownership on every SIM route', () => {
  it('bad ICCIDs (18 digits, 20 with a wrong check digit, letters) are 400 INVALID_ICCID with {field, reason}', async () => {
    const good = uniqueIccid()
    const wrongCheck = `${good}${(Number(withLuhn(good)[19]) + 1) % 10}`
    for (const bad of [good.slice(0, 18), wrongCheck, `89882286660000000AB`]) {
      for (const [method, suffix, body] of SIM_ROUTES) {
        const res = await call(`/api/v1/sims/${bad}${suffix}`, { method, token: owner.accessToken, body })
        expectErrorEnvelope(res, 400, 'INVALID_ICCID')
        expect(res.body.error.details).toMatchObject({ field: 'iccid' })
        expect(typeof res.body.error.details.reason).toBe('string')
      }
    }
  })

  it("another account's SIM is 404 on every SIM route, in either ICCID form", async () => {
    const iccid = uniqueIccid()
    await registerSims(other, [iccid])
    for (const form of [iccid, withLuhn(iccid)]) {
      for (const [method, suffix, body] of SIM_ROUTES) {
        const res = await call(`/api/v1/sims/${form}${suffix}`, { method, token: owner.accessToken, body })
        expectErrorEnvelope(res, 404, 'NOT_FOUND')
      }
    }
    // The holder still reads it.
    expect((await call(`/api/v1/sims/${iccid}`, { token: other.accessToken })).status).toBe(200)
  })
})

describe('the list', () => {
  it('pages with page/page_size and the SIM API pagination; filters by status and search; sorts', async () => {
    const u = await registerUser()
    const iccids = [uniqueIccid(), uniqueIccid(), uniqueIccid()]
    await registerSims(u, iccids)
    await call(`/api/v1/sims/${iccids[0]}`, { method: 'PUT', token: u.accessToken, body: { label: 'alpha pump' } })
    await call(`/api/v1/sims/${iccids[1]}`, { method: 'PUT', token: u.accessToken, body: { label: 'beta pump', status: 'Disabled' } })

    const page = await call('/api/v1/sims?page=1&page_size=2', { token: u.accessToken })
    expect(page.status).toBe(200)
    expect(page.body.data).toHaveLength(2)
    expect(page.body.pagination).toEqual({ total: 3, page: 1, page_size: 2, total_pages: 2, has_next: true, has_prev: false })
    expect((await call('/api/v1/sims?page=2&page_size=2', { token: u.accessToken })).body.pagination).toMatchObject({ has_next: false, has_prev: true })

    const disabled = await call('/api/v1/sims?status=Disabled', { token: u.accessToken })
    expect(disabled.body.data.map((s: any) => s.iccid)).toEqual([iccids[1]])
    const pumps = await call('/api/v1/sims?search=pump&sort_by=label&sort_order=asc', { token: u.accessToken })
    expect(pumps.body.data.map((s: any) => s.label)).toEqual(['alpha pump', 'beta pump'])
    const byPrefix = await call(`/api/v1/sims?search=${iccids[2]!.slice(0, 17)}`, { token: u.accessToken })
    expect(byPrefix.body.data.map((s: any) => s.iccid)).toContain(iccids[2])
    expect((await call('/api/v1/sims?page_size=101', { token: u.accessToken })).status).toBe(400)
    // Only the account's own.
    expect((await call('/api/v1/sims', { token: other.accessToken })).body.data.map((s: any) => s.iccid)).not.toContain(iccids[0])
  })
})

describe('changes', () => {
  it('status goes to the provider and is recorded with its webhook event; only writable fields change', async () => {
    const iccid = uniqueIccid()
    await registerSims(owner, [iccid])
    const off = await call(`/api/v1/sims/${iccid}`, { method: 'PUT', token: owner.accessToken, body: { status: 'Disabled', tags: ['a'], metadata: { site: 'x' } } })
    expect(off.status, off.text).toBe(200)
    expect(off.body.data).toMatchObject({ iccid, status: 'Disabled', tags: ['a'], metadata: { site: 'x' } })
    expect(await simEventRows(iccid, 'sim_suspended')).toHaveLength(1)
    expect(await outboxFor('sim.suspended', iccid)).toHaveLength(1)
    const status = await call(`/api/v1/sims/${iccid}/status`, { token: owner.accessToken })
    expect(status.body.data).toMatchObject({ status: 'Disabled', status_details: { is_active: false, is_suspended: true } })
    const on = await call(`/api/v1/sims/${iccid}`, { method: 'PUT', token: owner.accessToken, body: { status: 'Enabled' } })
    expect(on.body.data.status).toBe('Enabled')
    expect(await outboxFor('sim.activated', iccid)).toHaveLength(1)

    for (const body of [{ imsi: '1' }, { status: 'Suspended' }, { iccid: '1' }, {}]) {
      expectErrorEnvelope(await call(`/api/v1/sims/${iccid}`, { method: 'PUT', token: owner.accessToken, body }), 400, 'VALIDATION_ERROR')
    }
  })

  it('reset is 202 with a status_url that reports in_progress', async () => {
    const iccid = uniqueIccid()
    await registerSims(owner, [iccid])
    expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/reset/status`, { token: owner.accessToken }), 404, 'NOT_FOUND')
    const res = await call(`/api/v1/sims/${iccid}/reset`, { method: 'POST', token: owner.accessToken })
    expect(res.status, res.text).toBe(202)
    expect(res.body.data).toMatchObject({ iccid, reset_initiated: true, status_url: `/api/v1/sims/${iccid}/reset/status` })
    const st = await call(res.body.data.status_url, { token: owner.accessToken })
    expect(st.status).toBe(200)
    expect(st.body.data.status).toBe('in_progress')
  })
})

describe('reads', () => {
  it('connectivity, quotas, usage with its summary, and events', async () => {
    const iccid = uniqueIccid()
    await registerSims(owner, [iccid])
    const conn = await call(`/api/v1/sims/${iccid}/connectivity`, { token: owner.accessToken })
    expect(conn.status, conn.text).toBe(200)
    expect(conn.body.data).toMatchObject({ iccid, connected: true })
    expect(Object.keys(conn.body.data.connection_details).sort()).toEqual(['apn', 'cell_id', 'country_code', 'mcc', 'mnc', 'operator_name', 'rat', 'signal_quality', 'signal_strength'])

    const data = await call(`/api/v1/sims/${iccid}/quota/data`, { token: owner.accessToken })
    expect(data.body.data).toMatchObject({ iccid, quota_type: 'data', volume: 524288000, status: 'Active', threshold_percentage: 80, auto_reload: false })
    expect(data.body.data.remaining_volume).toBe(data.body.data.volume - data.body.data.used_volume)
    const sms = await call(`/api/v1/sims/${iccid}/quota/sms`, { token: owner.accessToken })
    expect(sms.body.data).toMatchObject({ quota_type: 'sms', volume: 250 })

    for (const granularity of ['daily', 'weekly', 'monthly']) {
      const usage = await call(`/api/v1/sims/${iccid}/usage?granularity=${granularity}`, { token: owner.accessToken })
      expect(usage.status, usage.text).toBe(200)
      expect(usage.body.data.granularity).toBe(granularity)
      expect(Object.keys(usage.body.data.summary).sort()).toEqual([
        'average_daily_volume',
        'peak_daily_volume',
        'peak_date',
        'total_sms_mo',
        'total_sms_mt',
        'total_volume',
        'total_volume_rx',
        'total_volume_tx',
      ])
    }
    expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/usage?start_date=2026-02-30`, { token: owner.accessToken }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/usage?start_date=2026-10-02&end_date=2026-10-01`, { token: owner.accessToken }), 400, 'VALIDATION_ERROR')

    const events = await call(`/api/v1/sims/${iccid}/events?page_size=10`, { token: owner.accessToken })
    expect(events.status).toBe(200)
    expect(events.body.data[0]).toMatchObject({ event_type: 'sim_registered', event_category: 'status', severity: 'info' })
    expect(events.body.pagination).toMatchObject({ total: 1, page: 1, page_size: 10 })
  })
})

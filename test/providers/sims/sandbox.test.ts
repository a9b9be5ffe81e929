/**
 * The sandbox SIM upstream is deterministic: its answers follow from the ICCID, its own records and
 * the clock it is given. Storage is shared by the tests of this file, so each test uses its own ICCIDs.
 */
import { env } from 'cloudflare:test'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { sandboxSims } from '../../../src/db/schema'
import { UpstreamError } from '../../../src/lib/errors'
import { SandboxSimConfig, SandboxSims, sandboxSimIdentity, sandboxSimRates } from '../../../src/providers/sims/sandbox'
import { failure } from '../../helpers/upstream'

const MIB = 1024 * 1024
const MINUTE = 60_000
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0)

let serial = 0
/** A fresh known ICCID (19 digits, issuer prefix 8988228). */
const newIccid = () => `8988228${String(100_000_000_000 + ++serial * 7)}`

function sandbox(sim: Record<string, unknown> = {}, start = T0) {
  const clock = { t: start }
  const config = SandboxSimConfig.parse({ activation: {}, did: {}, sim })
  const sims = new SandboxSims({ db: createDb(env.DB), config, now: () => clock.t })
  return { sims, clock, config }
}

describe('config', () => {
  it('parses an empty config and a whole provider row config, with the defaults', () => {
    expect(SandboxSimConfig.parse({}).sim).toEqual({
      unknownIccids: [],
      initialData: 524_288_000,
      initialSms: 250,
      dataBytesPerMinute: MIB,
      smsPerHour: 2,
      failTopUpIccids: [],
      alwaysConnected: false,
      resetSeconds: 30,
      latencyMs: 0,
    })
    expect(SandboxSimConfig.parse({ activation: { failEvery: 2 }, did: {}, sim: { initialSms: 10 } }).sim.initialSms).toBe(10)
    expect(SandboxSimConfig.safeParse({ sim: { latencyMs: 20_000 } }).success).toBe(false)
    expect(SandboxSimConfig.safeParse({ sim: { failure: 'no_numbers' } }).success).toBe(false)
  })
})

describe('identity', () => {
  it('is the same for the same ICCID, on any instance, and plausible', async () => {
    const iccid = newIccid()
    const a = sandbox()
    const first = await a.sims.getSim(iccid)
    a.clock.t += 3_600_000
    expect(await a.sims.getSim(iccid)).toEqual(first)
    expect(await sandbox({}, T0 + 7_200_000).sims.getSim(iccid)).toEqual(first)
    expect(first).toEqual({
      iccid,
      ...sandboxSimIdentity(iccid),
      imeiLock: false,
      status: 'Enabled',
      label: null,
      // When the sandbox first saw it.
      activationDate: new Date(T0),
    })
    expect(first?.imsi).toMatch(/^901288\d{9}$/)
    expect(first?.msisdn).toMatch(/^88236\d{10}$/)
    expect(first?.ipAddress).toMatch(/^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$/)
    expect(first?.ipAddress?.split('.').every((o) => Number(o) <= 255)).toBe(true)
    expect(first?.ipv6Address).toMatch(/^2001:db8:[0-9a-f]{1,4}:[0-9a-f]{1,4}::1$/)
    expect(first?.imei).toMatch(/^\d{15}$/)
  })

  it('differs between ICCIDs: consecutive ones never share an IMSI, MSISDN or IPv4', () => {
    const ids = Array.from({ length: 200 }, (_, i) => sandboxSimIdentity(`8988228666${String(i).padStart(9, '0')}`))
    for (const field of ['imsi', 'msisdn', 'ipAddress', 'imei'] as const) expect(new Set(ids.map((x) => x[field])).size).toBe(200)
  })

  it('updateSim stores status, label and the IMEI lock', async () => {
    const iccid = newIccid()
    const { sims } = sandbox()
    await sims.updateSim(iccid, { status: 'Disabled', label: 'pump 7', imeiLock: true })
    expect(await sims.getSim(iccid)).toMatchObject({ status: 'Disabled', label: 'pump 7', imeiLock: true })
    await sims.updateSim(iccid, { status: 'Enabled' })
    expect(await sims.getSim(iccid)).toMatchObject({ status: 'Enabled', label: 'pump 7', imeiLock: true })
    await sims.updateSim(iccid, { label: null })
    expect(await sims.getSim(iccid)).toMatchObject({ label: null })
  })
})

describe('unknown SIMs', () => {
  it('getSim answers null; every other call fails with SIM not found; a top-up item is refused', async () => {
    const listed = newIccid()
    const { sims } = sandbox({ unknownIccids: [listed] })
    for (const iccid of [listed, '8944500000000000001', '898822866600000000', '89882286660000000019']) {
      expect(await sims.getSim(iccid)).toBeNull()
      for (const call of [
        () => sims.quota(iccid, 'data'),
        () => sims.connectivity(iccid),
        () => sims.usage(iccid, '2026-01-10', '2026-01-10'),
        () => sims.updateSim(iccid, { label: 'x' }),
        () => sims.reset(iccid),
        () => sims.sendSms(iccid, { message: 'hi', encoding: 'GSM7', expiryDate: null }),
        () => sims.listSms(iccid, new Date(0)),
        () => sims.setLimits([iccid], { dailyDataLimit: null, monthlyDataLimit: null, dailySmsLimit: null, monthlySmsLimit: null, enforceLimits: false }),
      ]) {
        const e = await failure(call())
        expect(e).toBeInstanceOf(UpstreamError)
        expect(e.message).toBe('sandbox: SIM not found')
      }
    }
    expect(await sims.topUp([{ iccid: listed, quotaType: 'data', volume: MIB, reference: `ref-${listed}` }])).toEqual([
      { reference: `ref-${listed}`, ok: false, code: 'SIM_NOT_FOUND', message: 'SIM not found' },
    ])
    const rows = await createDb(env.DB).select().from(sandboxSims).where(eq(sandboxSims.iccid, listed))
    expect(rows).toEqual([])
  })
})

describe('quotas and usage', () => {
  it('data and SMS usage grow with time at the SIM rate, from first sight', async () => {
    const iccid = newIccid()
    const { sims, clock, config } = sandbox()
    const rate = sandboxSimRates(iccid, config)
    expect(rate.dataBytesPerMinute).toBeGreaterThanOrEqual(MIB / 2)
    expect(rate.dataBytesPerMinute).toBeLessThanOrEqual(1.5 * MIB)
    const rates = new Set(Array.from({ length: 20 }, () => sandboxSimRates(newIccid(), config).dataBytesPerMinute))
    expect(rates.size).toBeGreaterThan(10)

    expect(await sims.quota(iccid, 'data')).toEqual({
      type: 'data',
      volume: 524_288_000,
      usedVolume: 0,
      status: 'Active',
      lastVolumeAdded: null,
      lastStatusChangeDate: null,
      expiryDate: null,
    })
    clock.t += 60 * MINUTE
    expect(await sims.quota(iccid, 'data')).toMatchObject({ usedVolume: 60 * rate.dataBytesPerMinute, status: 'Active' })
    expect(await sims.quota(iccid, 'sms')).toMatchObject({ type: 'sms', volume: 250, usedVolume: 2, status: 'Active' })
    clock.t += 90 * MINUTE
    expect(await sims.quota(iccid, 'data')).toMatchObject({ usedVolume: 150 * rate.dataBytesPerMinute })
    expect(await sims.quota(iccid, 'sms')).toMatchObject({ usedVolume: 5 })
  })

  it('stops at exhaustion and resumes after a top-up', async () => {
    const iccid = newIccid()
    const { sims, clock, config } = sandbox({ initialData: 10 * MIB })
    const rate = sandboxSimRates(iccid, config).dataBytesPerMinute
    await sims.getSim(iccid)
    clock.t += 60 * MINUTE
    expect(await sims.quota(iccid, 'data')).toMatchObject({ volume: 10 * MIB, usedVolume: 10 * MIB, status: 'Exhausted' })
    const [outcome] = await sims.topUp([{ iccid, quotaType: 'data', volume: 20 * MIB, reference: `top-${iccid}` }])
    expect(outcome).toEqual({
      reference: `top-${iccid}`,
      ok: true,
      quota: { type: 'data', volume: 30 * MIB, usedVolume: 10 * MIB, status: 'Active', lastVolumeAdded: 20 * MIB, lastStatusChangeDate: new Date(clock.t), expiryDate: null },
    })
    clock.t += 5 * MINUTE
    expect(await sims.quota(iccid, 'data')).toMatchObject({ usedVolume: 10 * MIB + 5 * rate, status: 'Active' })
  })

  it('daily usage: zeros before activation, nothing after today, days summing to the used volumes', async () => {
    const iccid = newIccid()
    // At half the average rate or more, 1000 MiB are used up within the 42.5 h.
    const { sims, clock } = sandbox({ initialData: 1_000 * MIB })
    await sims.getSim(iccid)
    clock.t = Date.UTC(2026, 0, 12, 6, 30, 0)
    const days = await sims.usage(iccid, '2026-01-09', '2026-01-15')
    expect(days.map((d) => d.date)).toEqual(['2026-01-09', '2026-01-10', '2026-01-11', '2026-01-12'])
    expect(days[0]).toEqual({ date: '2026-01-09', volumeRx: 0, volumeTx: 0, smsMo: 0, smsMt: 0, sessionCount: 0 })
    const data = await sims.quota(iccid, 'data')
    const sms = await sims.quota(iccid, 'sms')
    expect(data.status).toBe('Exhausted')
    const sum = (f: (d: (typeof days)[number]) => number) => days.reduce((s, d) => s + f(d), 0)
    expect(sum((d) => d.volumeRx + d.volumeTx)).toBe(data.usedVolume)
    expect(sum((d) => d.smsMo + d.smsMt)).toBe(sms.usedVolume)
    // 12 h on the 10th, 24 h on the 11th (2 SMS an hour).
    expect(days[1]).toMatchObject({ smsMo: 12, smsMt: 12 })
    expect(days[2]).toMatchObject({ smsMo: 24, smsMt: 24 })
    const active = days.slice(1).filter((d) => d.volumeRx > 0)
    expect(active.length).toBeGreaterThan(0)
    for (const d of active) {
      expect(Math.abs(d.volumeRx - 2 * d.volumeTx)).toBeLessThanOrEqual(2)
      expect(d.sessionCount).toBeGreaterThan(0)
    }
    // Used up by the 12th: no data, so no data sessions.
    expect(days[3]).toMatchObject({ volumeRx: 0, volumeTx: 0, sessionCount: 0, smsMo: 7, smsMt: 6 })
    // The same answer on a second call, and part of a range is part of the answer.
    expect(await sims.usage(iccid, '2026-01-09', '2026-01-15')).toEqual(days)
    expect(await sims.usage(iccid, '2026-01-11', '2026-01-11')).toEqual([days[2]])
    expect(await sims.usage(iccid, '2026-01-12', '2026-01-11')).toEqual([])
    expect(await failure(sims.usage(iccid, '2026-1-11', '2026-01-11'))).toBeInstanceOf(UpstreamError)
  })
})

describe('top-ups', () => {
  it('a reference tops up once; a replay answers ok with the quota as it stands', async () => {
    const iccid = newIccid()
    const { sims, clock } = sandbox()
    const req = { iccid, quotaType: 'sms' as const, volume: 100, reference: `once-${iccid}` }
    const [first] = await sims.topUp([req])
    expect(first).toMatchObject({ ok: true, quota: { volume: 350, lastVolumeAdded: 100, lastStatusChangeDate: new Date(T0) } })
    clock.t += MINUTE
    expect(await sims.topUp([req, req])).toEqual([first, first])
    expect(await sims.quota(iccid, 'sms')).toMatchObject({ volume: 350 })
    expect(await sims.quota(iccid, 'data')).toMatchObject({ volume: 524_288_000, lastVolumeAdded: null })
  })

  it('answers each item: a disabled SIM, a failing ICCID and an unknown SIM are refused, the others topped up', async () => {
    const [ok, disabled, failing] = [newIccid(), newIccid(), newIccid()]
    const { sims } = sandbox({ failTopUpIccids: [failing] })
    await sims.topUp([{ iccid: disabled, quotaType: 'data', volume: MIB, reference: `before-${disabled}` }])
    await sims.updateSim(disabled, { status: 'Disabled' })
    const out = await sims.topUp([
      { iccid: ok, quotaType: 'data', volume: MIB, reference: `a-${ok}` },
      { iccid: disabled, quotaType: 'data', volume: MIB, reference: `b-${disabled}` },
      { iccid: failing, quotaType: 'data', volume: MIB, reference: `c-${failing}` },
      { iccid: '8944500000000000001', quotaType: 'data', volume: MIB, reference: `d-${ok}` },
      // Done before the SIM was disabled: the replay still answers ok.
      { iccid: disabled, quotaType: 'data', volume: MIB, reference: `before-${disabled}` },
    ])
    expect(out.map((o) => (o.ok ? ['ok', o.reference, o.quota?.volume] : [o.code, o.reference]))).toEqual([
      ['ok', `a-${ok}`, 524_288_000 + MIB],
      ['SIM_DISABLED', `b-${disabled}`],
      ['UPSTREAM_ERROR', `c-${failing}`],
      ['SIM_NOT_FOUND', `d-${ok}`],
      ['ok', `before-${disabled}`, 524_288_000 + MIB],
    ])
    expect(await sims.quota(failing, 'data')).toMatchObject({ volume: 524_288_000 })
  })
})

describe('connectivity', () => {
  it('changes across 10-minute slots (about one in six offline) and holds within a slot', async () => {
    const iccid = newIccid()
    const { sims, clock } = sandbox()
    const seen = []
    for (let slot = 0; slot < 144; slot++) {
      clock.t = T0 + slot * 10 * MINUTE + MINUTE
      const c = await sims.connectivity(iccid)
      clock.t += 8 * MINUTE
      expect({ ...(await sims.connectivity(iccid)), at: c.at }).toEqual(c)
      seen.push(c)
    }
    const online = seen.filter((c) => c.connected)
    expect(online.length).toBeGreaterThan(100)
    expect(online.length).toBeLessThan(144)
    expect(new Set(online.map((c) => c.signalStrength)).size).toBeGreaterThan(5)
    for (const c of online) {
      expect(c).toMatchObject({ countryCode: 'DE', mcc: '262', apn: 'iot.1nce.net', rat: expect.stringMatching(/^(LTE|LTE-M|NB-IoT)$/) })
      expect(c.signalStrength).toBeGreaterThanOrEqual(-115)
      expect(c.signalStrength).toBeLessThanOrEqual(-75)
      expect(c.signalQuality).toBeGreaterThanOrEqual(0)
      expect(c.signalQuality).toBeLessThanOrEqual(100)
    }
    for (const c of seen.filter((x) => !x.connected)) expect(c).toMatchObject({ cellId: null, rat: null, signalStrength: null })
  })

  it('alwaysConnected keeps an enabled SIM online; a disabled one is offline', async () => {
    const iccid = newIccid()
    const { sims, clock } = sandbox({ alwaysConnected: true })
    for (let slot = 0; slot < 144; slot++) {
      clock.t = T0 + slot * 10 * MINUTE
      expect((await sims.connectivity(iccid)).connected).toBe(true)
    }
    await sims.updateSim(iccid, { status: 'Disabled' })
    expect(await sims.connectivity(iccid)).toMatchObject({ connected: false, at: new Date(clock.t) })
  })
})

describe('reset', () => {
  it('is in progress until resetSeconds after the request, offline meanwhile, then completed', async () => {
    const iccid = newIccid()
    const { sims, clock } = sandbox({ alwaysConnected: true, resetSeconds: 45 })
    const requestedAt = new Date(clock.t)
    expect(await sims.reset(iccid)).toEqual({ expectedCompletion: new Date(T0 + 45_000) })
    expect(await sims.resetStatus(iccid, requestedAt)).toBe('in_progress')
    expect((await sims.connectivity(iccid)).connected).toBe(false)
    clock.t += 44_999
    expect(await sims.resetStatus(iccid, requestedAt)).toBe('in_progress')
    clock.t += 1
    expect(await sims.resetStatus(iccid, requestedAt)).toBe('completed')
    expect((await sims.connectivity(iccid)).connected).toBe(true)
  })

  it('takes 30 seconds by default', async () => {
    const { sims } = sandbox()
    expect(await sims.reset(newIccid())).toEqual({ expectedCompletion: new Date(T0 + 30_000) })
  })
})

describe('SMS', () => {
  const sms = (message: string) => ({ message, encoding: 'GSM7' as const, expiryDate: null })

  it('an MT message goes pending → sent → delivered, and the device replies 10 s after sending', async () => {
    const iccid = newIccid()
    const { sims, clock } = sandbox()
    const text = 'Hello device, please report your position and battery level now'
    const { upstreamId } = await sims.sendSms(iccid, sms(text))
    expect(upstreamId).toMatch(/^ssms_/)
    const since = new Date(T0)
    const mt = { upstreamId, direction: 'MT', message: text, sourceAddress: null, createdAt: new Date(T0) }
    expect(await sims.listSms(iccid, since)).toEqual([{ ...mt, status: 'pending', sentAt: null, deliveredAt: null }])
    clock.t = T0 + 2_000
    expect(await sims.listSms(iccid, since)).toEqual([{ ...mt, status: 'sent', sentAt: new Date(T0 + 2_000), deliveredAt: null }])
    clock.t = T0 + 5_000
    const delivered = { ...mt, status: 'delivered', sentAt: new Date(T0 + 2_000), deliveredAt: new Date(T0 + 5_000) }
    expect(await sims.listSms(iccid, since)).toEqual([delivered])
    clock.t = T0 + 10_000
    const listed = await sims.listSms(iccid, since)
    const reply = {
      upstreamId: listed[1]?.upstreamId,
      direction: 'MO',
      message: `ACK ${text.slice(0, 40)}`,
      status: 'received',
      sourceAddress: sandboxSimIdentity(iccid).msisdn,
      createdAt: new Date(T0 + 10_000),
      sentAt: null,
      deliveredAt: null,
    }
    expect(listed).toEqual([delivered, reply])
    expect(reply.upstreamId).not.toBe(upstreamId)
    clock.t = T0 + 60_000
    expect(await sims.listSms(iccid, since)).toEqual(listed)
    // Created at or after `since`: the reply alone from just after the message.
    expect(await sims.listSms(iccid, new Date(T0 + 1))).toEqual([reply])
    expect(await sims.listSms(iccid, new Date(T0 + 10_001))).toEqual([])
    const e = await failure(sims.cancelSms(iccid, upstreamId))
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.message).toBe('sandbox: already delivered')
  })

  it('a message containing FAIL fails at 5 s; a cancelled one stays cancelled; neither gets a reply', async () => {
    const iccid = newIccid()
    const { sims, clock } = sandbox()
    const failing = await sims.sendSms(iccid, sms('please FAIL'))
    clock.t = T0 + 1
    const cancelled = await sims.sendSms(iccid, sms('never mind'))
    clock.t = T0 + 3_000
    await sims.cancelSms(iccid, cancelled.upstreamId)
    await sims.cancelSms(iccid, cancelled.upstreamId)
    clock.t = T0 + 60_000
    const listed = await sims.listSms(iccid, new Date(T0))
    expect(listed.map((m) => [m.upstreamId, m.direction, m.status, m.sentAt, m.deliveredAt])).toEqual([
      [failing.upstreamId, 'MT', 'failed', new Date(T0 + 2_000), null],
      [cancelled.upstreamId, 'MT', 'cancelled', new Date(T0 + 2_001), null],
    ])
    expect((await failure(sims.cancelSms(iccid, failing.upstreamId))).message).toBe('sandbox: already failed')
    expect((await failure(sims.cancelSms(iccid, 'ssms_unknown'))).message).toBe('sandbox: SMS not found')
    // Another SIM's message is not found through this one.
    expect((await failure(sims.cancelSms(newIccid(), cancelled.upstreamId))).message).toBe('sandbox: SMS not found')
  })

  it('a disabled SIM cannot be sent an SMS', async () => {
    const iccid = newIccid()
    const { sims } = sandbox()
    await sims.updateSim(iccid, { status: 'Disabled' })
    expect((await failure(sims.sendSms(iccid, sms('hi')))).message).toBe('sandbox: SIM is disabled')
  })
})

describe('limits, ping and failures', () => {
  it('setLimits stores the limits per ICCID, recording SIMs seen for the first time', async () => {
    const [a, b] = [newIccid(), newIccid()]
    const { sims } = sandbox()
    await sims.getSim(a)
    const limits = { dailyDataLimit: 10 * MIB, monthlyDataLimit: null, dailySmsLimit: 5, monthlySmsLimit: 100, enforceLimits: true }
    await sims.setLimits([a, b, a], limits)
    const db = createDb(env.DB)
    for (const iccid of [a, b]) {
      expect(await db.select().from(sandboxSims).where(eq(sandboxSims.iccid, iccid)).get()).toMatchObject({ limits, status: 'Enabled', activatedAt: new Date(T0) })
    }
    await sims.setLimits([], limits)
    await sims.ping()
  })

  it("failure: 'upstream_error' makes every call throw", async () => {
    const iccid = newIccid()
    const { sims } = sandbox({ failure: 'upstream_error' })
    for (const call of [
      () => sims.getSim(iccid),
      () => sims.quota(iccid, 'data'),
      () => sims.topUp([{ iccid, quotaType: 'data', volume: MIB, reference: `f-${iccid}` }]),
      () => sims.connectivity(iccid),
      () => sims.sendSms(iccid, { message: 'x', encoding: 'GSM7', expiryDate: null }),
      () => sims.ping(),
    ]) {
      const e = await failure(call())
      expect(e).toBeInstanceOf(UpstreamError)
      expect(e.message).toBe('sandbox: simulated upstream failure (HTTP 500)')
    }
  })

  it('latencyMs delays each call', async () => {
    const started = Date.now()
    await sandbox({ latencyMs: 60 }).sims.ping()
    expect(Date.now() - started).toBeGreaterThanOrEqual(50)
  })
})

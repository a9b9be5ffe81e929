/**
 * SMS to and from SIMs: send → pending → sent → delivered (the sandbox's clock moved by ageing its
 * records), the device's reply listed with the sent messages and its `sms.received` event written
 * once, statuses that never move back, cancelling, payload rules and ownership.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import type { SimProvider, UpstreamSms } from '../../../src/providers/sims/types'
import { syncSim } from '../../../src/modules/sims/sim-sync.job'
import { createServices } from '../../../src/services'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { ctxFor } from '../../helpers/context'
import { ageSimSms, outboxFor, registerSims, simEventRows, simProvider, simSmsRows, uniqueIccid } from '../../helpers/sims'

let owner: TestUser
let other: TestUser

beforeAll(async () => {
  await simProvider({ alwaysConnected: true })
  owner = await registerUser()
  other = await registerUser()
})

const services = () => createServices(env as unknown as Env, createExecutionContext())

async function newSim(user = owner) {
  const iccid = uniqueIccid()
  await registerSims(user, [iccid])
  return iccid
}

async function send(iccid: string, body: Record<string, unknown> = { message: 'Reboot device now' }, user = owner) {
  return call(`/api/v1/sims/${iccid}/sms`, { token: user.accessToken, body })
}

/** The stored SIM and its adapter, as the sync hands them to refresh. */
async function simAndAdapter(iccid: string, user = owner) {
  const s = services()
  const sim = await s.sims.get(ctxFor(user.id), iccid)
  const { adapter } = await s.sims.adapterOf(sim)
  return { s, sim, adapter }
}

describe('send and delivery', () => {
  it('202 pending with a status_url, then sent, delivered, and the device reply listed with it, newest first', async () => {
    const iccid = await newSim()
    const res = await send(iccid)
    expect(res.status, res.text).toBe(202)
    expect(res.body.data).toMatchObject({ iccid, message: 'Reboot device now', status: 'pending', status_url: `/api/v1/sims/${iccid}/sms/${res.body.data.sms_id}` })
    expect(res.body.data.sms_id).toMatch(/^sms_/)
    expect(new Date(res.body.data.created_at).toISOString()).toBe(res.body.data.created_at)
    const [row] = await simSmsRows(iccid)
    expect(row).toMatchObject({ direction: 'MT', status: 'pending', encoding: 'GSM7' })
    expect(row!.upstream_id).toBeTruthy()

    const pending = await call(res.body.data.status_url, { token: owner.accessToken })
    expect(pending.status, pending.text).toBe(200)
    expect(pending.body.data).toMatchObject({ id: row!.id, sms_id: res.body.data.sms_id, iccid, direction: 'MT', status: 'pending', sent_at: null, delivered_at: null })

    await ageSimSms(iccid, 3_000)
    const sent = await call(res.body.data.status_url, { token: owner.accessToken })
    expect(sent.body.data, sent.text).toMatchObject({ status: 'sent', delivered_at: null })
    expect(sent.body.data.sent_at).toEqual(expect.any(String))

    await ageSimSms(iccid, 3_000)
    // By its integer id too.
    const delivered = await call(`/api/v1/sims/${iccid}/sms/${row!.id}`, { token: owner.accessToken })
    expect(delivered.body.data, delivered.text).toMatchObject({ sms_id: res.body.data.sms_id, status: 'delivered' })
    expect(Date.parse(delivered.body.data.delivered_at)).toBeGreaterThan(Date.parse(delivered.body.data.sent_at))

    await ageSimSms(iccid, 5_000)
    const list = await call(`/api/v1/sims/${iccid}/sms`, { token: owner.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(
      list.body.data.map((m: any) => [m.direction, m.status]),
      list.text,
    ).toEqual([
      ['MO', 'received'],
      ['MT', 'delivered'],
    ])
    expect(list.body.data[0]).toMatchObject({ message: 'ACK Reboot device now', encoding: 'GSM7', sent_at: null, delivered_at: null })
    expect(Object.keys(list.body.data[1]).sort()).toEqual(['created_at', 'delivered_at', 'direction', 'encoding', 'id', 'message', 'sent_at', 'sms_id', 'status'])
    expect(list.body.pagination).toEqual({ total: 2, page: 1, page_size: 50, total_pages: 1, has_next: false, has_prev: false })

    expect((await call(`/api/v1/sims/${iccid}/sms?direction=MO`, { token: owner.accessToken })).body.data.map((m: any) => m.direction)).toEqual(['MO'])
    expect((await call(`/api/v1/sims/${iccid}/sms?status=delivered`, { token: owner.accessToken })).body.data.map((m: any) => m.direction)).toEqual(['MT'])
    expect((await call(`/api/v1/sims/${iccid}/sms?page_size=1&page=2`, { token: owner.accessToken })).body.pagination).toMatchObject({ total: 2, has_prev: true, has_next: false })
    const today = new Date().toISOString().slice(0, 10)
    expect((await call(`/api/v1/sims/${iccid}/sms?start_date=${today}&end_date=${today}`, { token: owner.accessToken })).body.data).toHaveLength(2)
    expect((await call(`/api/v1/sims/${iccid}/sms?end_date=2020-01-01`, { token: owner.accessToken })).body.data).toHaveLength(0)
    expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/sms?direction=UP`, { token: owner.accessToken }), 400, 'VALIDATION_ERROR')

    expect(await simEventRows(iccid, 'sms_received')).toHaveLength(1)
    const [event] = await outboxFor('sms.received', iccid)
    expect(JSON.parse(event!.payload)).toMatchObject({ iccid, sms_id: list.body.data[0].sms_id, message: 'ACK Reboot device now' })
  })

  it("a device reply is stored, and its sms.received event written, once when two refreshes run at once (and the sync's again)", async () => {
    const iccid = await newSim()
    expect((await send(iccid)).status).toBe(202)
    await ageSimSms(iccid, 11_000)
    const a = await simAndAdapter(iccid)
    const b = await simAndAdapter(iccid)
    const results = await Promise.all([a.s.simSms.refresh(a.sim, a.adapter), b.s.simSms.refresh(b.sim, b.adapter)])
    expect(results.map((r) => r.listed)).toEqual([2, 2])
    const s = services()
    expect(await syncSim(s, await s.sims.get(ctxFor(owner.id), iccid))).toBe(true)

    const rows = await simSmsRows(iccid)
    expect(rows.map((r) => [r.direction, r.status])).toEqual([
      ['MT', 'delivered'],
      ['MO', 'received'],
    ])
    expect(await simEventRows(iccid, 'sms_received')).toHaveLength(1)
    expect(await outboxFor('sms.received', iccid)).toHaveLength(1)
    expect((await simEventRows(iccid, 'sms_received'))[0]!.event_data).toContain(rows[1]!.sms_id)
  })

  it('a failing message ends failed; a provider that refuses the send is a 502 and nothing is recorded', async () => {
    const iccid = await newSim()
    expect((await send(iccid, { message: 'please FAIL' })).status).toBe(202)
    await ageSimSms(iccid, 6_000)
    const list = await call(`/api/v1/sims/${iccid}/sms`, { token: owner.accessToken })
    expect(
      list.body.data.map((m: any) => m.status),
      list.text,
    ).toEqual(['failed'])
    expect((await simSmsRows(iccid))[0]!.failed_at).toEqual(expect.any(Number))

    const off = await newSim()
    expect((await call(`/api/v1/sims/${off}`, { method: 'PUT', token: owner.accessToken, body: { status: 'Disabled' } })).status).toBe(200)
    expectErrorEnvelope(await send(off), 502, 'UPSTREAM_ERROR')
    expect(await simSmsRows(off)).toEqual([])
  })

  it('an Idempotency-Key makes a retried send answer the first one instead of sending again', async () => {
    const iccid = await newSim()
    const headers = { 'idempotency-key': `sms-${iccid}` }
    const first = await call(`/api/v1/sims/${iccid}/sms`, { token: owner.accessToken, headers, body: { message: 'once' } })
    const again = await call(`/api/v1/sims/${iccid}/sms`, { token: owner.accessToken, headers, body: { message: 'once' } })
    expect(first.status, first.text).toBe(202)
    expect(again.status).toBe(202)
    expect(again.body.data.sms_id).toBe(first.body.data.sms_id)
    expect(await simSmsRows(iccid)).toHaveLength(1)
  })
})

describe('status updates', () => {
  const upstream = (id: string, status: UpstreamSms['status'], at: number): UpstreamSms => ({
    upstreamId: id,
    direction: 'MT',
    message: 'x',
    status,
    sourceAddress: null,
    createdAt: new Date(at),
    sentAt: new Date(at + 1_000),
    deliveredAt: status === 'delivered' ? new Date(at + 2_000) : null,
  })
  const reporting = (list: UpstreamSms[]) => ({ listSms: async () => list }) as unknown as SimProvider

  it('only move forward: delivered then an older "sent" leaves it delivered with its times; a final status is never replaced', async () => {
    const iccid = await newSim()
    const res = await send(iccid)
    const [row] = await simSmsRows(iccid)
    const { s, sim } = await simAndAdapter(iccid)
    const at = Date.now()

    expect((await s.simSms.refresh(sim, reporting([upstream(row!.upstream_id, 'delivered', at)]))).updated).toBe(1)
    const delivered = (await simSmsRows(iccid))[0]!
    expect(delivered).toMatchObject({ status: 'delivered', sent_at: at + 1_000, delivered_at: at + 2_000 })

    const stale = { ...upstream(row!.upstream_id, 'sent', at), sentAt: new Date(at + 5_000) }
    expect((await s.simSms.refresh(sim, reporting([stale]))).updated).toBe(0)
    await s.simSms.refresh(sim, reporting([upstream(row!.upstream_id, 'failed', at)]))
    await s.simSms.refresh(sim, reporting([upstream(row!.upstream_id, 'pending', at)]))
    expect((await simSmsRows(iccid))[0]).toMatchObject({ status: 'delivered', sent_at: at + 1_000, delivered_at: at + 2_000, failed_at: null })
    const got = await call(res.body.data.status_url, { token: owner.accessToken })
    expect(got.body.data.status).toBe('delivered')
  })

  it('enforced in the UPDATE: of two refreshes racing with "sent" and "delivered", delivered stays', async () => {
    for (let i = 0; i < 3; i++) {
      const iccid = await newSim()
      await send(iccid)
      const [row] = await simSmsRows(iccid)
      const { s, sim } = await simAndAdapter(iccid)
      const at = Date.now()
      await Promise.all([s.simSms.refresh(sim, reporting([upstream(row!.upstream_id, 'delivered', at)])), services().simSms.refresh(sim, reporting([upstream(row!.upstream_id, 'sent', at)]))])
      expect((await simSmsRows(iccid))[0]).toMatchObject({ status: 'delivered', sent_at: at + 1_000, delivered_at: at + 2_000 })
    }
  })

  it('an MT message Switchboard did not send is left alone', async () => {
    const iccid = await newSim()
    const { s, sim } = await simAndAdapter(iccid)
    const r = await s.simSms.refresh(sim, reporting([upstream('not-ours', 'delivered', Date.now())]))
    expect(r).toMatchObject({ updated: 0, received: 0 })
    expect(await simSmsRows(iccid)).toEqual([])
  })
})

describe('cancel', () => {
  it('204 before delivery (the message stays, cancelled; again 204); 409 after; 404 unknown', async () => {
    const iccid = await newSim()
    const res = await send(iccid)
    const url = res.body.data.status_url
    const del = await call(url, { method: 'DELETE', token: owner.accessToken })
    expect(del.status, del.text).toBe(204)
    expect((await call(url, { token: owner.accessToken })).body.data.status).toBe('cancelled')
    expect((await call(url, { method: 'DELETE', token: owner.accessToken })).status).toBe(204)
    // The sandbox stopped it: ageing it no longer delivers it.
    await ageSimSms(iccid, 20_000)
    expect((await call(url, { token: owner.accessToken })).body.data.status).toBe('cancelled')

    const later = await send(iccid, { message: 'second' })
    await ageSimSms(iccid, 6_000)
    // Stored as pending; the provider has delivered it: the refused cancel reads through and says so.
    expectErrorEnvelope(await call(later.body.data.status_url, { method: 'DELETE', token: owner.accessToken }), 409, 'SMS_ALREADY_DELIVERED')
    expect((await call(later.body.data.status_url, { token: owner.accessToken })).body.data.status).toBe('delivered')
    expectErrorEnvelope(await call(later.body.data.status_url, { method: 'DELETE', token: owner.accessToken }), 409, 'SMS_ALREADY_DELIVERED')

    await ageSimSms(iccid, 11_000)
    const mo = (await call(`/api/v1/sims/${iccid}/sms?direction=MO`, { token: owner.accessToken })).body.data[0]
    expect(mo).toBeTruthy()
    expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/sms/${mo.sms_id}`, { method: 'DELETE', token: owner.accessToken }), 409, 'SMS_NOT_CANCELLABLE')

    const failed = await send(iccid, { message: 'FAIL' })
    await ageSimSms(iccid, 6_000)
    expect((await call(failed.body.data.status_url, { token: owner.accessToken })).body.data.status).toBe('failed')
    expectErrorEnvelope(await call(failed.body.data.status_url, { method: 'DELETE', token: owner.accessToken }), 409, 'SMS_NOT_CANCELLABLE')

    for (const id of ['sms_01hx0000000000000000000000', '999999999']) {
      expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/sms/${id}`, { method: 'DELETE', token: owner.accessToken }), 404, 'NOT_FOUND')
      expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/sms/${id}`, { token: owner.accessToken }), 404, 'NOT_FOUND')
    }
  })
})

describe('payload rules', () => {
  it('one SMS: 160 GSM-7 (extension characters count 2) or 70 UCS-2; the alphabet; expiry within 7 days; known fields', async () => {
    const iccid = await newSim()
    const day = 86_400_000
    for (const body of [
      { message: 'a'.repeat(160) },
      { message: '€'.repeat(80), encoding: 'GSM7' },
      { message: 'ж'.repeat(70), encoding: 'UCS2' },
      { message: '🙂'.repeat(35), encoding: 'UCS2' },
      { message: 'ok', expiry_date: new Date(Date.now() + 6 * day).toISOString(), source_address: '+4912345' },
      { message: 'ok', source_address: 'Acme' },
    ]) {
      const res = await send(iccid, body)
      expect(res.status, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`).toBe(202)
    }
    expect((await simSmsRows(iccid)).map((r) => r.encoding)).toEqual(['GSM7', 'GSM7', 'UCS2', 'UCS2', 'GSM7', 'GSM7'])

    const refused: [Record<string, unknown>, string, RegExp][] = [
      [{ message: 'a'.repeat(161) }, 'message', /161 characters, at most 160/],
      [{ message: `${'a'.repeat(159)}€` }, 'message', /161 characters/],
      [{ message: 'Grüße 🙂' }, 'message', /not in the GSM-7 alphabet.*UCS2/],
      [{ message: 'ж'.repeat(71), encoding: 'UCS2' }, 'message', /at most 70/],
      [{ message: '🙂'.repeat(36), encoding: 'UCS2' }, 'message', /72 UTF-16 code units/],
      [{ message: '' }, 'message', /./],
      [{ message: 'ok', encoding: 'UTF8' }, 'encoding', /./],
      [{ message: 'ok', expiry_date: new Date(Date.now() - 60_000).toISOString() }, 'expiry_date', /in the future/],
      [{ message: 'ok', expiry_date: new Date(Date.now() + 8 * day).toISOString() }, 'expiry_date', /at most 7 days/],
      [{ message: 'ok', expiry_date: '2026-13-01T00:00:00Z' }, 'expiry_date', /ISO 8601/],
      [{ message: 'ok', source_address: 'Far too long sender' }, 'source_address', /./],
      [{ message: 'ok', priority: 'high' }, '(body)', /priority/],
    ]
    for (const [body, name, message] of refused) {
      const res = await send(iccid, body)
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      const issue = (res.body.error.details as { field: string; message: string }[]).find((d) => d.field === name)
      expect(issue, `${JSON.stringify(body).slice(0, 60)}: ${res.text}`).toBeTruthy()
      expect(issue!.message, res.text).toMatch(message)
    }
    expect(await simSmsRows(iccid)).toHaveLength(6)
  })
})

describe('ownership and permissions', () => {
  it("another account's SIM is 404 on every SMS route; a message is only found under its own SIM", async () => {
    const theirs = await newSim(other)
    const sent = await send(theirs, { message: 'theirs' }, other)
    expect(sent.status).toBe(202)
    const id = sent.body.data.sms_id
    expectErrorEnvelope(await call(`/api/v1/sims/${theirs}/sms`, { token: owner.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await send(theirs), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/sims/${theirs}/sms/${id}`, { token: owner.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/sims/${theirs}/sms/${id}`, { method: 'DELETE', token: owner.accessToken }), 404, 'NOT_FOUND')
    const mine = await newSim()
    expectErrorEnvelope(await call(`/api/v1/sims/${mine}/sms/${id}`, { token: owner.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/sims/${mine}/sms/${id}`, { method: 'DELETE', token: owner.accessToken }), 404, 'NOT_FOUND')
    expect((await call(`/api/v1/sims/${theirs}/sms/${id}`, { token: other.accessToken })).body.data.status).toBe('pending')
    expectErrorEnvelope(await call(`/api/v1/sims/12345/sms`, { token: owner.accessToken }), 400, 'INVALID_ICCID')
    expectErrorEnvelope(await call(`/api/v1/sims/${mine}/sms`), 401, 'UNAUTHORIZED')
  })

  it('reading takes sims:read, sending and cancelling sims:write', async () => {
    const iccid = await newSim()
    const sent = await send(iccid)
    const reader = await createApiKey(owner, ['sims:read'])
    expect((await call(`/api/v1/sims/${iccid}/sms`, { apiKey: reader.key })).status).toBe(200)
    expect((await call(sent.body.data.status_url, { apiKey: reader.key })).status).toBe(200)
    expectErrorEnvelope(await call(`/api/v1/sims/${iccid}/sms`, { apiKey: reader.key, body: { message: 'x' } }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call(sent.body.data.status_url, { method: 'DELETE', apiKey: reader.key }), 403, 'FORBIDDEN')
    const writer = await createApiKey(owner, ['sims:write'])
    expect((await call(`/api/v1/sims/${iccid}/sms`, { apiKey: writer.key, body: { message: 'x' } })).status).toBe(202)
  })
})

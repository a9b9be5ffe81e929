import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { sandboxProvider, walletAudit, type TestProvider } from '../../helpers/catalog'
import { fundedUser, lockState, micros, purchase, seedDids } from '../../helpers/dids'

let p: TestProvider

beforeAll(async () => {
  p = await sandboxProvider()
})

const THIRTY_MIN = 30 * 60_000
const reserve = (u: TestUser, phoneNumbers: unknown) => call('/api/v1/numbers/reservations', { token: u.accessToken, body: { phoneNumbers } })

/** Makes a reservation's time run out: the lock's expiry and the row's, then the lock's alarm. */
async function expire(phone: string, reservationId: string) {
  const stub = env.NUMBER_LOCK.get(env.NUMBER_LOCK.idFromName(phone))
  await runInDurableObject(stub, (_instance, state) => {
    const lock = state.storage.kv.get<{ holder: string; expiresAt: number | null }>('lock')
    if (lock) state.storage.kv.put('lock', { ...lock, expiresAt: Date.now() - 1 })
  })
  await runDurableObjectAlarm(stub)
  await env.DB.prepare(`UPDATE number_reservations SET expires_at = ? WHERE id >= ? AND id < ?`).bind(Date.now() - 1, `${reservationId}.`, `${reservationId}/`).run()
}

describe('POST /api/v1/numbers/reservations', () => {
  it('holds each number for 30 minutes for this account', async () => {
    const [a, b] = await seedDids(p, [{}, {}])
    const u = await registerUser()
    const t0 = Date.now()
    const res = await reserve(u, [a, b])
    expect(res.status, res.text).toBe(201)
    const d = res.body.data
    expect(d, res.text).toMatchObject({ id: expect.stringMatching(/^rsv_/), status: 'active' })
    expect(d.phoneNumbers, res.text).toEqual([
      { id: `${d.id}.1`, phoneNumber: a, status: 'reserved', expiresAt: d.expiresAt },
      { id: `${d.id}.2`, phoneNumber: b, status: 'reserved', expiresAt: d.expiresAt },
    ])
    const expiresAt = Date.parse(d.expiresAt)
    expect(expiresAt - t0).toBeGreaterThanOrEqual(THIRTY_MIN - 1000)
    expect(expiresAt - t0).toBeLessThanOrEqual(THIRTY_MIN + 5000)
    const lock = await lockState(a!)
    expect(lock?.holder).toBe(u.id)
    expect(Math.abs(lock!.expiresAt! - expiresAt)).toBeLessThan(2000)
  })

  it('reports the numbers it could not reserve; none at all is 409 NUMBER_NOT_AVAILABLE', async () => {
    const [ok, sold] = await seedDids(p, [{}, { status: 'sold' }])
    const u = await registerUser()
    const res = await reserve(u, [ok, sold, '+14155550199'])
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.status, res.text).toBe('partial')
    expect(res.body.data.phoneNumbers.map((n: { phoneNumber: string; status: string }) => `${n.phoneNumber}:${n.status}`), res.text).toEqual([
      `${ok}:reserved`,
      `${sold}:failed`,
      '+14155550199:failed',
    ])
    const none = await reserve(u, [sold])
    expectErrorEnvelope(none, 409, 'NUMBER_NOT_AVAILABLE')
    expect(none.body.error.details.phoneNumbers[0], none.text).toMatchObject({ phoneNumber: sold, status: 'failed', error: 'NUMBER_NOT_AVAILABLE' })
  })

  it('validates: 1–20 E.164 numbers, no duplicates', async () => {
    const u = await registerUser()
    for (const phoneNumbers of [[], ['4155550123'], ['+14155550123', '+14155550123'], 'x', Array.from({ length: 21 }, (_, i) => `+1415555${1000 + i}`)]) {
      expectErrorEnvelope(await reserve(u, phoneNumbers), 400, 'VALIDATION_ERROR')
    }
  })
})

describe('a reserved number and other accounts', () => {
  it('another account can neither reserve nor buy it; the holder can buy it', async () => {
    const [n] = await seedDids(p, [{ setup: 1, monthly: 1 }])
    const a = await fundedUser(10)
    const b = await fundedUser(10)
    const r = await reserve(a, [n])
    expect(r.status, r.text).toBe(201)

    expectErrorEnvelope(await reserve(b, [n]), 409, 'NUMBER_NOT_AVAILABLE')
    const bBuys = await purchase(b, [n!])
    expectErrorEnvelope(bBuys, 409, 'NUMBER_NOT_AVAILABLE')
    expect(bBuys.body.error.details.results[0].message, bBuys.text).toContain('reserved by another account')
    expect(await walletAudit(b.id)).toMatchObject({ balance: micros(10), activeHolds: 0 })

    const aBuys = await purchase(a, [n!])
    expect(aBuys.status, aBuys.text).toBe(201)
    expect(aBuys.body.data.results[0].status, aBuys.text).toBe('SUCCESS')
    expect(await lockState(n!)).toEqual({ holder: a.id, expiresAt: null })
  })
})

describe('GET /api/v1/numbers/reservations and /{id}', () => {
  it('lists only the account\'s reservations that still hold numbers; one is readable by either id', async () => {
    const [x, y, z] = await seedDids(p, [{}, {}, {}])
    const a = await registerUser()
    const b = await registerUser()
    const ra = await reserve(a, [x, y])
    const rb = await reserve(b, [z])
    expect(ra.status, ra.text).toBe(201)
    expect(rb.status, rb.text).toBe(201)
    const list = await call('/api/v1/numbers/reservations', { token: a.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(list.body.data.map((r: { id: string }) => r.id), list.text).toEqual([ra.body.data.id])
    expect(list.body.data[0].phoneNumbers.map((n: { phoneNumber: string }) => n.phoneNumber), list.text).toEqual([x, y])

    const byGroup = await call(`/api/v1/numbers/reservations/${ra.body.data.id}`, { token: a.accessToken })
    expect(byGroup.body.data.phoneNumbers.length, byGroup.text).toBe(2)
    const byNumber = await call(`/api/v1/numbers/reservations/${ra.body.data.id}.2`, { token: a.accessToken })
    expect(byNumber.status, byNumber.text).toBe(200)
    expect(byNumber.body.data.id, byNumber.text).toBe(ra.body.data.id)

    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${rb.body.data.id}`, { token: a.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${ra.body.data.id}.9`, { token: a.accessToken }), 404, 'NOT_FOUND')
  })
})

describe('POST /api/v1/numbers/reservations/{id}/extend', () => {
  it('holds every still-held number 30 more minutes from now (or just the one named)', async () => {
    const [x, y] = await seedDids(p, [{}, {}])
    const u = await registerUser()
    const r = await reserve(u, [x, y])
    const id = r.body.data.id as string
    // Pretend 20 minutes have passed: 10 left on each.
    const soon = Date.now() + 10 * 60_000
    for (const phone of [x!, y!]) {
      await runInDurableObject(env.NUMBER_LOCK.get(env.NUMBER_LOCK.idFromName(phone)), (_i, state) => {
        state.storage.kv.put('lock', { holder: u.id, expiresAt: soon })
      })
    }
    await env.DB.prepare(`UPDATE number_reservations SET expires_at = ? WHERE id >= ? AND id < ?`).bind(soon, `${id}.`, `${id}/`).run()

    const one = await call(`/api/v1/numbers/reservations/${id}.1/extend`, { method: 'POST', token: u.accessToken })
    expect(one.status, one.text).toBe(200)
    const [e1, e2] = one.body.data.phoneNumbers as { expiresAt: string }[]
    expect(Date.parse(e1!.expiresAt) - Date.now(), one.text).toBeGreaterThan(THIRTY_MIN - 5000)
    expect(Date.parse(e2!.expiresAt), one.text).toBe(soon)
    expect((await lockState(x!))!.expiresAt! - Date.now()).toBeGreaterThan(THIRTY_MIN - 5000)
    expect((await lockState(y!))!.expiresAt).toBe(soon)

    const all = await call(`/api/v1/numbers/reservations/${id}/extend`, { method: 'POST', token: u.accessToken })
    expect(all.status, all.text).toBe(200)
    for (const n of all.body.data.phoneNumbers as { expiresAt: string; status: string }[]) {
      expect(n.status).toBe('reserved')
      expect(Date.parse(n.expiresAt) - Date.now(), all.text).toBeGreaterThan(THIRTY_MIN - 5000)
    }
    expect((await lockState(y!))!.expiresAt! - Date.now()).toBeGreaterThan(THIRTY_MIN - 5000)
  })
})

describe('expiry and release', () => {
  it('once expired: reads as expired, cannot be extended, leaves the list, and others can take the number', async () => {
    const [n] = await seedDids(p, [{}])
    const a = await registerUser()
    const b = await fundedUser(10)
    const r = await reserve(a, [n])
    const id = r.body.data.id as string
    await expire(n!, id)
    expect(await lockState(n!)).toBeNull()

    const got = await call(`/api/v1/numbers/reservations/${id}`, { token: a.accessToken })
    expect(got.body.data, got.text).toMatchObject({ status: 'expired', expiresAt: null })
    expect(got.body.data.phoneNumbers[0].status, got.text).toBe('expired')
    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${id}/extend`, { method: 'POST', token: a.accessToken }), 409, 'RESERVATION_NOT_ACTIVE')
    const list = await call('/api/v1/numbers/reservations', { token: a.accessToken })
    expect(list.body.data, list.text).toEqual([])

    const bBuys = await purchase(b, [n!])
    expect(bBuys.status, bBuys.text).toBe(201)
    expect(bBuys.body.data.results[0].status, bBuys.text).toBe('SUCCESS')
  })

  it('DELETE lets the numbers go at once (idempotently); then another account can reserve them', async () => {
    const [n] = await seedDids(p, [{}])
    const a = await registerUser()
    const b = await registerUser()
    const r = await reserve(a, [n])
    const id = r.body.data.id as string
    const del = await call(`/api/v1/numbers/reservations/${id}`, { method: 'DELETE', token: a.accessToken })
    expect(del.status, del.text).toBe(200)
    expect(del.body.data, del.text).toMatchObject({ id, status: 'released', expiresAt: null })
    expect(await lockState(n!)).toBeNull()
    const again = await call(`/api/v1/numbers/reservations/${id}`, { method: 'DELETE', token: a.accessToken })
    expect(again.status, again.text).toBe(200)
    expect(again.body.data.status).toBe('released')
    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${id}/extend`, { method: 'POST', token: a.accessToken }), 409, 'RESERVATION_NOT_ACTIVE')
    const rb = await reserve(b, [n])
    expect(rb.status, rb.text).toBe(201)
    // A's stale release cannot free B's hold.
    await call(`/api/v1/numbers/reservations/${id}`, { method: 'DELETE', token: a.accessToken })
    expect((await lockState(n!))?.holder).toBe(b.id)
  })

  it('another account cannot extend or release it (404)', async () => {
    const [n] = await seedDids(p, [{}])
    const a = await registerUser()
    const b = await registerUser()
    const r = await reserve(a, [n])
    const id = r.body.data.id as string
    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${id}/extend`, { method: 'POST', token: b.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${id}`, { method: 'DELETE', token: b.accessToken }), 404, 'NOT_FOUND')
    expect((await lockState(n!))?.holder).toBe(a.id)
  })
})

import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, type TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
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
  await env.DB.prepare(`UPDATE number_reservations SET expires_at = ? WHERE id >= ? AND id < ?`)
    .bind(Date.now() - 1, `${reservationId}.`, `${reservationId}/`)
    .run()
}

describe('POST /api/v1/numbers/reservations', () => {
  it('holds each number for 30 minutes for this account', async () => {
    const [a, b] = await seedDids(p, [{}, {}])
    const u = await fundedUser(50)
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
    const u = await fundedUser(50)
    const res = await reserve(u, [ok, sold, '+14155550199'])
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.status, res.text).toBe('partial')
    expect(
      res.body.data.phoneNumbers.map((n: { phoneNumber: string; status: string }) => `${n.phoneNumber}:${n.status}`),
      res.text,
    ).toEqual([`${ok}:reserved`, `${sold}:failed`, '+14155550199:failed'])
    const none = await reserve(u, [sold])
    expectErrorEnvelope(none, 409, 'NUMBER_NOT_AVAILABLE')
    expect(none.body.error.details.phoneNumbers[0], none.text).toMatchObject({ phoneNumber: sold, status: 'failed', error: 'NUMBER_NOT_AVAILABLE' })
  })

  it('validates: 1–20 E.164 numbers, no duplicates', async () => {
    const u = await fundedUser(50)
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
  it("lists only the account's reservations that still hold numbers; one is readable by either id", async () => {
    const [x, y, z] = await seedDids(p, [{}, {}, {}])
    const a = await fundedUser(50)
    const b = await fundedUser(50)
    const ra = await reserve(a, [x, y])
    const rb = await reserve(b, [z])
    expect(ra.status, ra.text).toBe(201)
    expect(rb.status, rb.text).toBe(201)
    const list = await call('/api/v1/numbers/reservations', { token: a.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(
      list.body.data.map((r: { id: string }) => r.id),
      list.text,
    ).toEqual([ra.body.data.id])
    expect(
      list.body.data[0].phoneNumbers.map((n: { phoneNumber: string }) => n.phoneNumber),
      list.text,
    ).toEqual([x, y])

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
    const u = await fundedUser(50)
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
    const a = await fundedUser(50)
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
    const a = await fundedUser(50)
    const b = await fundedUser(50)
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
    const a = await fundedUser(50)
    const b = await fundedUser(50)
    const r = await reserve(a, [n])
    const id = r.body.data.id as string
    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${id}/extend`, { method: 'POST', token: b.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/numbers/reservations/${id}`, { method: 'DELETE', token: b.accessToken }), 404, 'NOT_FOUND')
    expect((await lockState(n!))?.holder).toBe(a.id)
  })
})

describe('many numbers in one reservation', () => {
  it('reserves 20 numbers (the most one request takes): every row is written and listed', async () => {
    const phones = await seedDids(
      p,
      Array.from({ length: 20 }, () => ({ setup: 0.5, monthly: 0.5 })),
    )
    const u = await fundedUser(50)
    const res = await reserve(u, phones)
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.status, res.text).toBe('active')
    expect(
      res.body.data.phoneNumbers.map((n: { status: string }) => n.status),
      res.text,
    ).toEqual(phones.map(() => 'reserved'))
    const list = await call('/api/v1/numbers/reservations', { token: u.accessToken })
    expect(
      list.body.data[0].phoneNumbers.map((n: { phoneNumber: string }) => n.phoneNumber),
      list.text,
    ).toEqual(phones)
    for (const phone of phones) expect((await lockState(phone))?.holder).toBe(u.id)
  })

  it('when the write fails, every lock it took is let go: others can reserve the numbers at once', async () => {
    const phones = await seedDids(
      p,
      Array.from({ length: 6 }, () => ({})),
    )
    const u = await fundedUser(50)
    const other = await fundedUser(50)
    // A D1 failure on exactly this write.
    await env.DB.prepare(`CREATE TRIGGER fail_reservations BEFORE INSERT ON number_reservations BEGIN SELECT RAISE(ABORT, 'simulated D1 failure'); END`).run()
    let res: Awaited<ReturnType<typeof reserve>>
    try {
      res = await reserve(u, phones)
    } finally {
      await env.DB.prepare('DROP TRIGGER fail_reservations').run()
    }
    expectErrorEnvelope(res, 500, 'INTERNAL_ERROR')
    for (const phone of phones) expect(await lockState(phone), phone).toBeNull()
    const list = await call('/api/v1/numbers/reservations', { token: u.accessToken })
    expect(list.body.data, list.text).toEqual([])
    const theirs = await reserve(other, phones)
    expect(theirs.status, theirs.text).toBe(201)
    expect(theirs.body.data.status, theirs.text).toBe('active')
  })
})

describe('reservation limits', () => {
  const limited = (u: TestUser, path: string, body?: unknown, vars: Record<string, string> = {}) =>
    callApp(path, { token: u.accessToken, body, method: body === undefined ? 'POST' : undefined, env: { RESERVATION_MAX_NUMBERS: '5', RESERVATION_MAX_EXTENSIONS: '2', ...vars } })

  it('a wallet that could not buy the numbers cannot hold them: 400 INSUFFICIENT_BALANCE, no lock taken', async () => {
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 2 },
      { setup: 1, monthly: 2 },
    ])
    const broke = await fundedUser(0)
    const res = await reserve(broke, [a])
    expectErrorEnvelope(res, 400, 'INSUFFICIENT_BALANCE')
    expect(res.body.error.details, res.text).toMatchObject({ required: 3, available: 0 })
    expect(await lockState(a!)).toBeNull()
    // $5 covers one $3 number, not a second one on top of it.
    const some = await fundedUser(5)
    expect((await reserve(some, [a])).status).toBe(201)
    const second = await reserve(some, [b])
    expectErrorEnvelope(second, 400, 'INSUFFICIENT_BALANCE')
    expect(second.body.error.details, second.text).toMatchObject({ required: 6, available: 5 })
    expect(await lockState(b!)).toBeNull()
  })

  it('an account holds at most RESERVATION_MAX_NUMBERS numbers: 409 RESERVATION_LIMIT_REACHED', async () => {
    const phones = await seedDids(
      p,
      Array.from({ length: 7 }, () => ({ setup: 0, monthly: 1 })),
    )
    const u = await fundedUser(50)
    expect((await limited(u, '/api/v1/numbers/reservations', { phoneNumbers: phones.slice(0, 4) })).status).toBe(201)
    const over = await limited(u, '/api/v1/numbers/reservations', { phoneNumbers: phones.slice(4, 6) })
    expectErrorEnvelope(over, 409, 'RESERVATION_LIMIT_REACHED')
    expect(over.body.error.details, over.text).toMatchObject({ limit: 5, held: 4, requested: 2 })
    expect(await lockState(phones[4]!)).toBeNull()
    // Reserving a held number again does not count twice.
    expect((await limited(u, '/api/v1/numbers/reservations', { phoneNumbers: [phones[0]!, phones[4]!] })).status).toBe(201)
  })

  it('the cap holds under concurrency: of many parallel reservations, the account never ends above it', async () => {
    const phones = await seedDids(
      p,
      Array.from({ length: 12 }, () => ({ setup: 0, monthly: 1 })),
    )
    const u = await fundedUser(50)
    const answers = await Promise.all([0, 1, 2, 3].map((i) => limited(u, '/api/v1/numbers/reservations', { phoneNumbers: phones.slice(i * 3, i * 3 + 3) })))
    const ok = answers.filter((r) => r.status === 201)
    for (const r of answers) if (r.status !== 201) expectErrorEnvelope(r, 409, 'RESERVATION_LIMIT_REACHED')
    expect(ok.length).toBeGreaterThanOrEqual(1)
    const live = await env.DB.prepare(`SELECT phone_number FROM number_reservations WHERE user_id = ? AND status = 'active' AND expires_at > ?`).bind(u.id, Date.now()).all()
    expect(live.results.length).toBeLessThanOrEqual(5)
    expect(live.results.length).toBe(ok.length * 3)
    // Locks of the refused requests were let go.
    const held = new Set(live.results.map((r) => r.phone_number as string))
    for (const phone of phones) expect((await lockState(phone))?.holder ?? null, phone).toBe(held.has(phone) ? u.id : null)
  })

  it('a number can be extended RESERVATION_MAX_EXTENSIONS times, also across a new reservation of it', async () => {
    const [n] = await seedDids(p, [{ setup: 0, monthly: 1 }])
    const u = await fundedUser(50)
    const r = await limited(u, '/api/v1/numbers/reservations', { phoneNumbers: [n] })
    const id = r.body.data.id as string
    expect((await limited(u, `/api/v1/numbers/reservations/${id}/extend`)).status).toBe(200)
    // Reserving it again keeps the count.
    const again = await limited(u, '/api/v1/numbers/reservations', { phoneNumbers: [n] })
    expect(again.status, again.text).toBe(201)
    const id2 = again.body.data.id as string
    expect((await limited(u, `/api/v1/numbers/reservations/${id2}/extend`)).status).toBe(200)
    const third = await limited(u, `/api/v1/numbers/reservations/${id2}/extend`)
    expectErrorEnvelope(third, 409, 'RESERVATION_EXTENSION_LIMIT')
    expect(third.body.error.details, third.text).toMatchObject({ maxExtensions: 2 })
  })

  it('extending needs a wallet that could still buy every held number', async () => {
    const [n] = await seedDids(p, [{ setup: 2, monthly: 2 }])
    const u = await fundedUser(4)
    const r = await reserve(u, [n])
    expect(r.status, r.text).toBe(201)
    await env.WALLET.get(env.WALLET.idFromName(u.id)).debit(u.id, { opId: `spend_${u.id}`, amount: 1_000_000 })
    const ext = await call(`/api/v1/numbers/reservations/${r.body.data.id}/extend`, { method: 'POST', token: u.accessToken })
    expectErrorEnvelope(ext, 400, 'INSUFFICIENT_BALANCE')
  })
})

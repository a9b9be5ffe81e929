import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { addMonth } from '../../../src/modules/dids/purchase-lines'
import { call, expectErrorEnvelope } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sandboxProvider, walletAudit, type TestProvider } from '../../helpers/catalog'
import { fundedUser, holdOutcome, inventoryStatus, lockState, micros, numberRows, orderRow, outboxEvents, purchase, seedDids } from '../../helpers/dids'

let p: TestProvider

beforeAll(async () => {
  p = await sandboxProvider()
})

async function ordersOf(userId: string) {
  const { results } = await env.DB.prepare(`SELECT id, status FROM orders WHERE user_id = ?`).bind(userId).all<{ id: string; status: string }>()
  return results
}

describe('POST /api/v1/numbers/purchase — partial success', () => {
  it('charges only SUCCESS and PENDING numbers, records every result, releases the rest', async () => {
    const [ok, bad, slow] = await seedDids(p, [
      { setup: 1, monthly: 2 },
      { setup: 1, monthly: 1 },
      { setup: 2, monthly: 2, numberType: 'TOLL_FREE', areaCode: '888' },
    ])
    const partial = await sandboxProvider({ did: { failNumbers: [bad], pendingNumbers: [slow] } })
    await env.DB.prepare(`UPDATE did_inventory SET provider_id = ? WHERE phone_number IN (?, ?, ?)`).bind(partial.id, ok, bad, slow).run()
    const u = await fundedUser(50)

    const res = await purchase(u, [ok!, bad!, slow!])
    expect(res.status, res.text).toBe(201)
    const d = res.body.data
    expect(d.results, res.text).toEqual([
      { phoneNumber: ok, status: 'SUCCESS', numberId: expect.stringMatching(/^pn_/) },
      { phoneNumber: bad, status: 'FAILED', error: 'NUMBER_NOT_AVAILABLE', message: expect.any(String) },
      { phoneNumber: slow, status: 'PENDING', numberId: expect.stringMatching(/^pn_/), estimatedActivation: expect.any(String) },
    ])
    expect(d.summary, res.text).toEqual({ totalRequested: 3, successful: 1, failed: 1, pending: 1 })
    expect(d.order, res.text).toMatchObject({ status: 'partially_completed', totalAmount: 7, currency: 'USD', orderNumber: expect.stringMatching(/^ORD-\d{8}-/) })
    expect(d.nextSteps.configurationUrl, res.text).toContain(`/api/v1/numbers/${d.results[0].numberId}/configure`)

    // Money: 3 (setup 1 + month 2) + 4 (pending: setup 2 + month 2) charged; the failed 2 released.
    const w = await walletAudit(u.id)
    expect(w, JSON.stringify(w)).toMatchObject({ balance: micros(43), reserved: 0, available: micros(43), activeHolds: 0, ledgerSum: micros(43), negativeAvailable: false })

    // D1: numbers, order, hold outcome, inventory, events.
    const [okRow] = await numberRows(ok!)
    expect(okRow, JSON.stringify(okRow)).toMatchObject({ user_id: u.id, status: 'active', monthly_price: micros(2), setup_price: micros(1), order_id: d.order.id })
    // First renewal: the same day next month.
    expect(okRow!.next_renewal_at).toBe(addMonth(okRow!.purchased_at).getTime())
    expect((await numberRows(slow!))[0]?.status).toBe('pending')
    expect(await numberRows(bad!)).toEqual([])
    expect(await inventoryStatus(ok!)).toBe('sold')
    expect(await inventoryStatus(slow!)).toBe('sold')
    expect(await inventoryStatus(bad!)).toBe('gone')
    const order = await orderRow(d.order.id)
    expect(order, JSON.stringify(order)).toMatchObject({ user_id: u.id, status: 'partially_completed', payment_status: 'paid', total: micros(9), charged: micros(7) })
    expect(await holdOutcome(order!.hold_id!)).toMatchObject({ outcome: 'capture', amount: micros(7) })
    const events = await outboxEvents('NUMBER_PURCHASED', u.id)
    expect(
      events.map((e) => e.payload),
      JSON.stringify(events),
    ).toEqual([
      expect.objectContaining({ numberId: d.results[0].numberId, phoneNumber: ok, numberType: 'LOCAL', orderId: d.order.id, cost: 3, currency: 'USD' }),
      expect.objectContaining({ numberId: d.results[2].numberId, phoneNumber: slow, numberType: 'TOLL_FREE', orderId: d.order.id, cost: 4, currency: 'USD' }),
    ])

    // Locks: bought numbers owned for good, the failed one free.
    expect(await lockState(ok!)).toEqual({ holder: u.id, expiresAt: null })
    expect(await lockState(slow!)).toEqual({ holder: u.id, expiresAt: null })
    expect(await lockState(bad!)).toBeNull()

    // The order's timeline and items.
    const o = await call(`/api/v1/orders/${d.order.id}`, { token: u.accessToken })
    expect(o.status, o.text).toBe(200)
    expect(
      o.body.data.timeline.map((t: { status: string }) => t.status),
      o.text,
    ).toEqual(['pending', 'processing', 'partially_completed'])
    expect(
      o.body.data.items.map((i: { metadata: { status: string } }) => i.metadata.status),
      o.text,
    ).toEqual(['success', 'failed', 'success'])
    expect(o.body.data.numbers.map((n: { phoneNumber: string }) => n.phoneNumber).sort(), o.text).toEqual([ok, slow].sort())
  })

  it('when every upstream purchase fails: order failed, nothing charged, hold voided, locks free', async () => {
    const broken = await sandboxProvider({ did: { failure: 'upstream_error' } })
    const [a, b] = await seedDids(broken, [{}, {}])
    const u = await fundedUser(20)
    const res = await purchase(u, [a!, b!])
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.order, res.text).toMatchObject({ status: 'failed', totalAmount: 0 })
    expect(
      res.body.data.results.map((r: { status: string; error: string }) => `${r.status}:${r.error}`),
      res.text,
    ).toEqual(['FAILED:UPSTREAM_ERROR', 'FAILED:UPSTREAM_ERROR'])
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(20), reserved: 0, activeHolds: 0, entries: 1 })
    const order = await orderRow(res.body.data.order.id)
    expect(order, JSON.stringify(order)).toMatchObject({ status: 'failed', payment_status: 'refunded', charged: 0 })
    expect(await holdOutcome(order!.hold_id!)).toMatchObject({ outcome: 'void', amount: 0 })
    expect(await lockState(a!)).toBeNull()
    expect(await inventoryStatus(a!)).toBe('available')
    expect(await numberRows(a!)).toEqual([])
  })
})

describe('POST /api/v1/numbers/purchase — refusals', () => {
  it('insufficient funds: 400 INSUFFICIENT_BALANCE (decimal details), a payment_failed order, no hold, no number, lock free', async () => {
    const [n] = await seedDids(p, [{ setup: 1, monthly: 1.5 }])
    const u = await fundedUser(2)
    const res = await purchase(u, [n!])
    expectErrorEnvelope(res, 400, 'INSUFFICIENT_BALANCE')
    expect(res.body.error.details, res.text).toMatchObject({ required: 2.5, available: 2, currency: 'USD', orderId: expect.stringMatching(/^ord_/) })
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(2), reserved: 0, activeHolds: 0 })
    expect(await numberRows(n!)).toEqual([])
    expect(await lockState(n!)).toBeNull()
    expect(await inventoryStatus(n!)).toBe('available')
    const order = await orderRow(res.body.error.details.orderId)
    expect(order, JSON.stringify(order)).toMatchObject({ user_id: u.id, status: 'payment_failed', payment_status: 'failed', charged: 0, total: micros(2.5) })
    // Another account can buy it right away.
    const other = await fundedUser(10)
    const again = await purchase(other, [n!])
    expect(again.status, again.text).toBe(201)
    expect(again.body.data.results[0].status, again.text).toBe('SUCCESS')
  })

  it('unknown or sold numbers: 409 NUMBER_NOT_AVAILABLE with per-number results, no order, no money moved', async () => {
    const [sold] = await seedDids(p, [{ status: 'sold' }])
    const u = await fundedUser(10)
    const res = await purchase(u, ['+14155550000', sold!])
    expectErrorEnvelope(res, 409, 'NUMBER_NOT_AVAILABLE')
    expect(res.body.error.details.results, res.text).toEqual([
      { phoneNumber: '+14155550000', status: 'FAILED', error: 'NUMBER_NOT_AVAILABLE', message: 'The number is not in the inventory' },
      { phoneNumber: sold, status: 'FAILED', error: 'NUMBER_NOT_AVAILABLE', message: 'The number has already been sold' },
    ])
    expect(await ordersOf(u.id)).toEqual([])
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(10), reserved: 0, activeHolds: 0, entries: 1 })
  })

  it('a number reserved by another account is FAILED; the rest of the order goes through', async () => {
    const [taken, free] = await seedDids(p, [{}, {}])
    const holder = await fundedUser(10)
    const r = await call('/api/v1/numbers/reservations', { token: holder.accessToken, body: { phoneNumbers: [taken] } })
    expect(r.status, r.text).toBe(201)
    const u = await fundedUser(10)
    const res = await purchase(u, [taken!, free!])
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.results[0], res.text).toMatchObject({ phoneNumber: taken, status: 'FAILED', error: 'NUMBER_NOT_AVAILABLE', message: expect.stringContaining('reserved') })
    expect(res.body.data.results[1], res.text).toMatchObject({ phoneNumber: free, status: 'SUCCESS' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(8), reserved: 0, activeHolds: 0 })
    // The holder's reservation is untouched.
    expect(await lockState(taken!)).toMatchObject({ holder: holder.id, expiresAt: expect.any(Number) })
  })

  it('validates the body: numbers required (1–20), E.164 only, no duplicates, http(s) URLs', async () => {
    const u = await fundedUser(1)
    const bodies = [
      {},
      { numbers: [] },
      { numbers: [{ phoneNumber: '4155550123' }] },
      { numbers: [{ phoneNumber: '+14155550123' }, { phoneNumber: '+14155550123' }] },
      { numbers: [{ phoneNumber: '+14155550123', configuration: { smsUrl: 'ftp://example.com/x' } }] },
      { numbers: Array.from({ length: 21 }, (_, i) => ({ phoneNumber: `+1415555${String(1000 + i)}` })) },
    ]
    for (const body of bodies) {
      const res = await call('/api/v1/numbers/purchase', { token: u.accessToken, body })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    }
    expect(await ordersOf(u.id)).toEqual([])
  })
})

describe('POST /api/v1/numbers/purchase — configuration', () => {
  it('a loopback smsUrl: accepted in development with WEBHOOK_ALLOW_LOOPBACK=true; refused in production (numbers and orders) before any order', async () => {
    const [a] = await seedDids(p, [{}])
    const u = await fundedUser(10)
    const dev = { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: 'true' }
    const production = { ENVIRONMENT: 'production', METRICS_TOKEN: 'metrics-token-for-this-test-0123', WEBHOOK_ALLOW_LOOPBACK: 'true' }
    const numbers = (smsUrl: string) => ({ numbers: [{ phoneNumber: a, configuration: { smsUrl } }] })

    for (const [path, body, field] of [
      ['/api/v1/numbers/purchase', numbers('https://127.0.0.1/sms'), 'numbers.0.configuration.smsUrl'],
      ['/api/v1/orders', { items: [{ type: 'number_purchase', itemId: a, metadata: { configuration: { smsUrl: 'https://localhost/sms' } } }] }, 'items.0.metadata.configuration.smsUrl'],
      [
        '/api/v1/orders',
        { items: [{ type: 'number_purchase', itemId: a, metadata: { configuration: { smsUrl: 'https://localhost/sms' } } }], autoComplete: false },
        'items.0.metadata.configuration.smsUrl',
      ],
    ] as const) {
      const refused = await callApp(path, { env: production, token: u.accessToken, body })
      expectErrorEnvelope(refused, 400, 'VALIDATION_ERROR')
      expect(refused.body.error.field, refused.text).toBe(field)
    }
    const devMetadata = await callApp('/api/v1/numbers/purchase', { env: dev, token: u.accessToken, body: numbers('http://169.254.169.254/sms') })
    expectErrorEnvelope(devMetadata, 400, 'VALIDATION_ERROR')
    expect(await ordersOf(u.id)).toEqual([])

    const res = await callApp('/api/v1/numbers/purchase', { env: dev, token: u.accessToken, body: numbers('http://127.0.0.1:4000/sms') })
    expect(res.status, res.text).toBe(201)
    const n = await call(`/api/v1/numbers/${res.body.data.results[0].numberId}`, { token: u.accessToken })
    expect(n.body.data.smsUrl, n.text).toBe('http://127.0.0.1:4000/sms')
  })

  it("applies friendlyName, the number's own routing and defaultRouting to the new numbers", async () => {
    const [a, b] = await seedDids(p, [{}, {}])
    const u = await fundedUser(10)
    const res = await call('/api/v1/numbers/purchase', {
      token: u.accessToken,
      body: {
        numbers: [{ phoneNumber: a, friendlyName: 'Support line', configuration: { smsUrl: 'https://hooks.example.com/sms', voiceMethod: 'GET' } }, { phoneNumber: b }],
        billing: { billingAddress: { city: 'Berlin' } },
        configuration: { autoActivate: true, defaultRouting: { voiceUrl: 'https://hooks.example.com/voice', voiceMethod: 'POST', recordCalls: true } },
      },
    })
    expect(res.status, res.text).toBe(201)
    const [ida, idb] = res.body.data.results.map((r: { numberId: string }) => r.numberId)
    const na = await call(`/api/v1/numbers/${ida}`, { token: u.accessToken })
    expect(na.body.data, na.text).toMatchObject({
      friendlyName: 'Support line',
      smsUrl: 'https://hooks.example.com/sms',
      voiceUrl: 'https://hooks.example.com/voice',
      voiceMethod: 'GET',
      features: { recordCalls: true },
      status: 'active',
      monthlyPrice: 1,
      setupPrice: 1,
    })
    const nb = await call(`/api/v1/numbers/${idb}`, { token: u.accessToken })
    expect(nb.body.data, nb.text).toMatchObject({ friendlyName: null, smsUrl: null, voiceUrl: 'https://hooks.example.com/voice', voiceMethod: 'POST' })
    const o = await call(`/api/v1/orders/${res.body.data.order.id}`, { token: u.accessToken })
    expect(o.body.data.billingAddress, o.text).toEqual({ city: 'Berlin' })
  })

  it('a number the buyer reserved can be bought by them; the reservation is then marked purchased', async () => {
    const [n] = await seedDids(p, [{}])
    const u = await fundedUser(10)
    const r = await call('/api/v1/numbers/reservations', { token: u.accessToken, body: { phoneNumbers: [n] } })
    expect(r.status, r.text).toBe(201)
    const res = await purchase(u, [n!])
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.results[0].status, res.text).toBe('SUCCESS')
    const after = await call(`/api/v1/numbers/reservations/${r.body.data.id}`, { token: u.accessToken })
    expect(after.body.data.status, after.text).toBe('purchased')
    expect(await lockState(n!)).toEqual({ holder: u.id, expiresAt: null })
  })

  it('a failed purchase of a number the buyer reserved keeps their reservation', async () => {
    const [n] = await seedDids(p, [{}])
    const failing = await sandboxProvider({ did: { failNumbers: [n] } })
    await env.DB.prepare(`UPDATE did_inventory SET provider_id = ? WHERE phone_number = ?`).bind(failing.id, n).run()
    const u = await fundedUser(10)
    const r = await call('/api/v1/numbers/reservations', { token: u.accessToken, body: { phoneNumbers: [n] } })
    expect(r.status, r.text).toBe(201)
    const before = await lockState(n!)
    const res = await purchase(u, [n!])
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.results[0].status, res.text).toBe('FAILED')
    const after = await lockState(n!)
    expect(after, JSON.stringify(after)).toEqual({ holder: u.id, expiresAt: expect.any(Number) })
    expect(after!.expiresAt!).toBeGreaterThanOrEqual(before!.expiresAt! - 1000)
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(10), activeHolds: 0 })
  })
})

describe('addMonth (first renewal date)', () => {
  it('is the same day next month, or the last day of a shorter month', () => {
    expect(addMonth(Date.UTC(2026, 10, 22, 16, 30)).toISOString()).toBe('2026-12-22T16:30:00.000Z')
    expect(addMonth(Date.UTC(2026, 0, 31, 8)).toISOString()).toBe('2026-02-28T08:00:00.000Z')
    expect(addMonth(Date.UTC(2028, 0, 31)).toISOString()).toBe('2028-02-29T00:00:00.000Z')
    expect(addMonth(Date.UTC(2026, 11, 15)).toISOString()).toBe('2027-01-15T00:00:00.000Z')
  })
})

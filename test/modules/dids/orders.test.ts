import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, type TestUser } from '../../helpers/api'
import { fund, sandboxProvider, walletAudit, type TestProvider } from '../../helpers/catalog'
import { fundedUser, inventoryStatus, lockState, micros, numberRows, orderRow, outboxEvents, purchase, seedDids } from '../../helpers/dids'

let p: TestProvider

beforeAll(async () => {
  p = await sandboxProvider()
})

const get = (u: TestUser, path: string) => call(path, { token: u.accessToken })
const ids = (res: { body: any }) => (res.body.data as { id: string }[]).map((o) => o.id)
const cancel = (u: TestUser, id: string, body: Record<string, unknown> = { reason: 'changed my mind' }) => call(`/api/v1/orders/${id}/cancel`, { method: 'PUT', token: u.accessToken, body })
const retry = (u: TestUser, id: string) => call(`/api/v1/orders/${id}/retry-payment`, { method: 'POST', token: u.accessToken, body: {} })

/** A payment_failed order: the number costs $2, the wallet holds $1. */
async function unpaidOrder() {
  const [n] = await seedDids(p, [{ setup: 1, monthly: 1 }])
  const u = await fundedUser(1)
  const res = await purchase(u, [n!])
  expectErrorEnvelope(res, 400, 'INSUFFICIENT_BALANCE')
  return { u, phone: n!, orderId: res.body.error.details.orderId as string }
}

describe('GET /api/v1/orders', () => {
  it("lists the account's orders with items, filters, sorts, pages and a summary", async () => {
    const [a, b, c, d] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 1, monthly: 2 },
      { setup: 5, monthly: 5 },
      { setup: 1, monthly: 1 },
    ])
    const u = await fundedUser(10)
    const o1 = await purchase(u, [a!, b!]) // $5, completed
    expect(o1.status, o1.text).toBe(201)
    const o2 = await purchase(u, [c!]) // $10 > $5 left: payment_failed
    expectErrorEnvelope(o2, 400, 'INSUFFICIENT_BALANCE')
    const o3 = await purchase(u, [d!]) // $2, completed
    expect(o3.status, o3.text).toBe(201)
    const [id1, id2, id3] = [o1.body.data.order.id, o2.body.error.details.orderId, o3.body.data.order.id]
    const t = Date.now()
    await env.DB.batch([
      env.DB.prepare(`UPDATE orders SET created_at = ? WHERE id = ?`).bind(Date.UTC(2026, 0, 10, 12), id1),
      env.DB.prepare(`UPDATE orders SET created_at = ? WHERE id = ?`).bind(Date.UTC(2026, 0, 11, 12), id2),
      env.DB.prepare(`UPDATE orders SET created_at = ? WHERE id = ?`).bind(t, id3),
    ])
    const other = await fundedUser(10)
    const [e] = await seedDids(p, [{}])
    expect((await purchase(other, [e!])).status).toBe(201)

    const res = await get(u, '/api/v1/orders')
    expect(res.status, res.text).toBe(200)
    expect(ids(res), res.text).toEqual([id3, id2, id1])
    expect(res.body.pagination, res.text).toEqual({ page: 1, limit: 20, total: 3, totalPages: 1, hasNext: false, hasPrevious: false })
    expect(res.body.summary, res.text).toEqual({ totalOrders: 3, totalSpent: 7, pendingOrders: 1, currency: 'USD' })
    const first = res.body.data.find((o: { id: string }) => o.id === id1)
    expect(first, res.text).toMatchObject({ status: 'completed', paymentStatus: 'paid', totalAmount: 5, itemCount: 2, currency: 'USD', completedAt: expect.any(String) })
    expect(first.items, res.text).toEqual([
      { type: 'number_purchase', description: expect.stringContaining(a!), quantity: 1, unitPrice: 2, totalPrice: 2, phoneNumber: a, status: 'success' },
      { type: 'number_purchase', description: expect.stringContaining(b!), quantity: 1, unitPrice: 3, totalPrice: 3, phoneNumber: b, status: 'success' },
    ])
    const unpaid = res.body.data.find((o: { id: string }) => o.id === id2)
    expect(unpaid, res.text).toMatchObject({ status: 'payment_failed', paymentStatus: 'failed', totalAmount: 10, chargedAmount: 0 })

    expect(ids(await get(u, '/api/v1/orders?status=payment_failed'))).toEqual([id2])
    expect(ids(await get(u, '/api/v1/orders?status=completed,payment_failed&sortOrder=asc'))).toEqual([id1, id2, id3])
    expect(ids(await get(u, '/api/v1/orders?type=number_purchase&status=completed'))).toEqual([id3, id1])
    expect(ids(await get(u, '/api/v1/orders?dateFrom=2026-01-10&dateTo=2026-01-10'))).toEqual([id1])
    expect(ids(await get(u, '/api/v1/orders?dateFrom=2026-01-11T00:00:00Z&dateTo=2026-01-31'))).toEqual([id2])
    expect(ids(await get(u, '/api/v1/orders?sortBy=totalAmount&sortOrder=desc'))).toEqual([id2, id1, id3])
    // completed < payment_failed; ties by id, in the same direction.
    expect(ids(await get(u, '/api/v1/orders?sortBy=status&sortOrder=asc'))).toEqual([id1, id3, id2])
    const page = await get(u, '/api/v1/orders?limit=2&page=2')
    expect(ids(page), page.text).toEqual([id1])
    expect(page.body.pagination).toMatchObject({ page: 2, total: 3, totalPages: 2, hasNext: false, hasPrevious: true })
    for (const bad of ['status=shipped', 'dateFrom=yesterday', 'sortBy=price', 'limit=500']) {
      expectErrorEnvelope(await get(u, `/api/v1/orders?${bad}`), 400, 'VALIDATION_ERROR')
    }
  })
})

describe('GET /api/v1/orders/:id', () => {
  it('details: amounts, items with their results, the numbers bought, the timeline', async () => {
    const [ok, bad] = await seedDids(p, [{ setup: 1, monthly: 2 }, {}])
    const failing = await sandboxProvider({ did: { failNumbers: [bad] } })
    await env.DB.prepare(`UPDATE did_inventory SET provider_id = ? WHERE phone_number = ?`).bind(failing.id, bad).run()
    const u = await fundedUser(10)
    const placed = await purchase(u, [ok!, bad!])
    expect(placed.status, placed.text).toBe(201)
    const res = await get(u, `/api/v1/orders/${placed.body.data.order.id}`)
    expect(res.status, res.text).toBe(200)
    const d = res.body.data
    expect(d, res.text).toMatchObject({
      id: placed.body.data.order.id,
      orderNumber: placed.body.data.order.orderNumber,
      status: 'partially_completed',
      subtotalAmount: 3,
      taxAmount: 0,
      discountAmount: 0,
      totalAmount: 3,
      chargedAmount: 3,
      refundedAmount: 0,
      currency: 'USD',
      paymentStatus: 'paid',
      paymentMethod: 'wallet',
      billingAddress: {},
      cancelledAt: null,
    })
    expect(
      d.items.map((i: { metadata: Record<string, unknown> }) => i.metadata),
      res.text,
    ).toEqual([
      expect.objectContaining({ phoneNumber: ok, status: 'success', phoneNumberId: placed.body.data.results[0].numberId, setupPrice: 1, monthlyPrice: 2 }),
      expect.objectContaining({ phoneNumber: bad, status: 'failed', phoneNumberId: null, error: 'NUMBER_NOT_AVAILABLE' }),
    ])
    expect(d.numbers, res.text).toEqual([{ id: placed.body.data.results[0].numberId, phoneNumber: ok, status: 'active', activatedAt: expect.any(String) }])
    expect(
      d.timeline.map((t: { status: string }) => t.status),
      res.text,
    ).toEqual(['pending', 'processing', 'partially_completed'])
    expect(d.timeline[2].note, res.text).toContain('$3.00 charged')
  })
})

describe('POST /api/v1/orders', () => {
  it('autoComplete (default): runs the purchase; itemId may be the inventory id; metadata configures the number', async () => {
    const [a, b] = await seedDids(p, [{}, { setup: 2, monthly: 1 }])
    const inv = await env.DB.prepare(`SELECT id FROM did_inventory WHERE phone_number = ?`).bind(b).first<{ id: string }>()
    const u = await fundedUser(10)
    const res = await call('/api/v1/orders', {
      token: u.accessToken,
      body: {
        items: [
          { type: 'number_purchase', itemId: a, quantity: 1, metadata: { friendlyName: 'Desk', configuration: { smsUrl: 'https://h.example.com/sms' }, costCenter: 'eng' } },
          { type: 'PHONE_NUMBER', itemId: inv!.id, quantity: 1 },
        ],
        billing: { billingAddress: { line1: '1 Main St', city: 'Springfield', country: 'US' } },
      },
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data, res.text).toMatchObject({ status: 'completed', totalAmount: 5, paymentStatus: 'paid', billingAddress: { city: 'Springfield' } })
    expect(res.body.data.summary, res.text).toEqual({ totalRequested: 2, successful: 2, failed: 0, pending: 0 })
    expect(res.body.data.items[0].metadata, res.text).toMatchObject({ friendlyName: 'Desk', costCenter: 'eng' })
    const num = await get(u, `/api/v1/numbers/${res.body.data.results[0].numberId}`)
    expect(num.body.data, num.text).toMatchObject({ friendlyName: 'Desk', smsUrl: 'https://h.example.com/sms' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(5), activeHolds: 0 })
  })

  it('autoComplete false: a pending order, nothing held; retry-payment pays and buys it', async () => {
    const [n] = await seedDids(p, [{ setup: 1, monthly: 1 }])
    const u = await fundedUser(5)
    const res = await call('/api/v1/orders', { token: u.accessToken, body: { items: [{ type: 'number', itemId: n, quantity: 1 }], autoComplete: false } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data, res.text).toMatchObject({ status: 'pending', paymentStatus: 'pending', totalAmount: 2, chargedAmount: 0 })
    expect(res.body.data.results, res.text).toBeUndefined()
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(5), reserved: 0, activeHolds: 0 })
    expect(await lockState(n!)).toBeNull()

    const paid = await retry(u, res.body.data.id)
    expect(paid.status, paid.text).toBe(200)
    expect(paid.body.data.order, paid.text).toMatchObject({ id: res.body.data.id, status: 'completed', totalAmount: 2 })
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(3), activeHolds: 0 })
    const again = await retry(u, res.body.data.id)
    expectErrorEnvelope(again, 409, 'ORDER_NOT_RETRYABLE')
  })

  it('validates items: itemId required, quantity 1, known inventory ids; customPrice is for admins', async () => {
    const [n] = await seedDids(p, [{}])
    const u = await fundedUser(5)
    for (const items of [
      [{ type: 'number_purchase', quantity: 1 }],
      [{ type: 'number_purchase', itemId: n, quantity: 2 }],
      [{ type: 'number_purchase', itemId: 'inv_unknown', quantity: 1 }],
      [{ type: 'subscription', itemId: n, quantity: 1 }],
      [],
    ]) {
      expectErrorEnvelope(await call('/api/v1/orders', { token: u.accessToken, body: { items } }), 400, 'VALIDATION_ERROR')
    }
    const priced = await call('/api/v1/orders', { token: u.accessToken, body: { items: [{ type: 'number_purchase', itemId: n, quantity: 1, customPrice: 0.01 }] } })
    expectErrorEnvelope(priced, 403, 'FORBIDDEN')
    expect(await inventoryStatus(n!)).toBe('available')
  })

  it('an admin may set customPrice: the whole first charge', async () => {
    const [n] = await seedDids(p, [{ setup: 1, monthly: 3 }])
    const admin = await registerAdmin()
    await fund(admin.id, 5)
    const res = await call('/api/v1/orders', { token: admin.accessToken, body: { items: [{ type: 'number_purchase', itemId: n, quantity: 1, customPrice: 0.5 }] } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data, res.text).toMatchObject({ status: 'completed', totalAmount: 0.5 })
    expect(await walletAudit(admin.id)).toMatchObject({ balance: micros(4.5) })
    const [row] = await numberRows(n!)
    expect(row, JSON.stringify(row)).toMatchObject({ monthly_price: micros(3), setup_price: micros(0.5) })
  })

  it("through an API key, customPrice needs the explicit 'admin' permission: an admin's '*' key is refused", async () => {
    const [n, m] = await seedDids(p, [
      { setup: 1, monthly: 3 },
      { setup: 1, monthly: 3 },
    ])
    const admin = await registerAdmin()
    await fund(admin.id, 5)
    const item = (itemId: string) => ({ items: [{ type: 'number_purchase', itemId, quantity: 1, customPrice: 0.5 }] })
    const star = await createApiKey(admin, ['*'])
    const refused = await call('/api/v1/orders', { apiKey: star.key, body: item(n!) })
    expectErrorEnvelope(refused, 403, 'FORBIDDEN')
    expect(await inventoryStatus(n!)).toBe('available')
    expect(await walletAudit(admin.id)).toMatchObject({ balance: micros(5) })

    const full = await createApiKey(admin, ['*', 'admin'])
    const ok = await call('/api/v1/orders', { apiKey: full.key, body: item(m!) })
    expect(ok.status, ok.text).toBe(201)
    expect(ok.body.data, ok.text).toMatchObject({ status: 'completed', totalAmount: 0.5 })
  })
})

describe('PUT /api/v1/orders/:id/cancel', () => {
  it('a completed order: numbers released, the charge refunded once', async () => {
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 1, monthly: 2 },
    ])
    const u = await fundedUser(10)
    const placed = await purchase(u, [a!, b!])
    expect(placed.status, placed.text).toBe(201)
    const id = placed.body.data.order.id
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(5) })

    const res = await cancel(u, id, { reason: 'wrong area code' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ status: 'cancelled', paymentStatus: 'refunded', chargedAmount: 5, refundedAmount: 5, cancelledAt: expect.any(String) })
    expect(
      res.body.data.numbers.map((n: { status: string }) => n.status),
      res.text,
    ).toEqual(['released', 'released'])
    expect(res.body.data.timeline.at(-1), res.text).toMatchObject({ status: 'cancelled', note: expect.stringContaining('wrong area code') })
    const w = await walletAudit(u.id)
    expect(w, JSON.stringify(w)).toMatchObject({ balance: micros(10), activeHolds: 0, ledgerSum: micros(10), entries: 3 })
    expect(await lockState(a!)).toBeNull()
    expect((await outboxEvents('NUMBER_RELEASED', u.id)).length).toBe(2)

    // Again: refused, and no second refund.
    expectErrorEnvelope(await cancel(u, id), 409, 'ORDER_NOT_CANCELLABLE')
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(10), entries: 3 })
  })

  it("a 20-number order cancels in one go (statements stay under D1's 100-parameter limit)", async () => {
    const phones = await seedDids(
      p,
      Array.from({ length: 20 }, () => ({ setup: 0.5, monthly: 0.5 })),
    )
    const u = await fundedUser(30)
    const placed = await purchase(u, phones)
    expect(placed.status, placed.text).toBe(201)
    expect(placed.body.data.summary.successful, placed.text).toBe(20)
    const res = await cancel(u, placed.body.data.order.id, { reason: 'bulk mistake' })
    expect(res.status, res.text.slice(0, 500)).toBe(200)
    expect(
      res.body.data.numbers.every((n: { status: string }) => n.status === 'released'),
      res.text.slice(0, 500),
    ).toBe(true)
    expect((await outboxEvents('NUMBER_RELEASED', u.id)).length).toBe(20)
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(30), activeHolds: 0 })
  })

  it('refundRequested false releases the numbers and keeps the charge', async () => {
    const [n] = await seedDids(p, [{ setup: 1, monthly: 1 }])
    const u = await fundedUser(10)
    const placed = await purchase(u, [n!])
    const res = await cancel(u, placed.body.data.order.id, { reason: 'done', refundRequested: false })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ status: 'cancelled', paymentStatus: 'paid', refundedAmount: 0 })
    expect((await numberRows(n!))[0]?.status).toBe('released')
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(8) })
  })

  it('an unpaid order is simply cancelled; it can then not be paid', async () => {
    const { u, orderId } = await unpaidOrder()
    const res = await cancel(u, orderId)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ status: 'cancelled', paymentStatus: 'failed', chargedAmount: 0, refundedAmount: 0 })
    expect(res.body.data.items[0].metadata.status, res.text).toBe('cancelled')
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(1), entries: 1 })
    expectErrorEnvelope(await retry(u, orderId), 409, 'ORDER_NOT_RETRYABLE')
  })

  it('refuses processing, failed and old completed orders (409 ORDER_NOT_CANCELLABLE); needs a reason', async () => {
    const [a, b] = await seedDids(p, [{}, {}])
    const u = await fundedUser(10)
    const o1 = await purchase(u, [a!])
    const o2 = await purchase(u, [b!])
    expectErrorEnvelope(await cancel(u, o1.body.data.order.id, {}), 400, 'VALIDATION_ERROR')
    await env.DB.prepare(`UPDATE orders SET status = 'processing' WHERE id = ?`).bind(o1.body.data.order.id).run()
    expectErrorEnvelope(await cancel(u, o1.body.data.order.id), 409, 'ORDER_NOT_CANCELLABLE')
    await env.DB.prepare(`UPDATE orders SET status = 'failed' WHERE id = ?`).bind(o1.body.data.order.id).run()
    expectErrorEnvelope(await cancel(u, o1.body.data.order.id), 409, 'ORDER_NOT_CANCELLABLE')
    const longAgo = Date.now() - 25 * 3_600_000
    await env.DB.prepare(`UPDATE orders SET completed_at = ?, created_at = ? WHERE id = ?`).bind(longAgo, longAgo, o2.body.data.order.id).run()
    const old = await cancel(u, o2.body.data.order.id)
    expectErrorEnvelope(old, 409, 'ORDER_NOT_CANCELLABLE')
    expect((await numberRows(b!))[0]?.status).toBe('active')
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(6) })
  })
})

describe('POST /api/v1/orders/:id/retry-payment', () => {
  it('pays a payment_failed order once the wallet can: reserved again, bought, charged', async () => {
    const { u, phone, orderId } = await unpaidOrder()
    const short = await retry(u, orderId)
    expectErrorEnvelope(short, 400, 'INSUFFICIENT_BALANCE')
    expect(short.body.error.details, short.text).toMatchObject({ required: 2, available: 1, orderId })
    expect((await orderRow(orderId))?.status).toBe('payment_failed')
    expect(await lockState(phone)).toBeNull()

    await fund(u.id, 4)
    const res = await retry(u, orderId)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.order, res.text).toMatchObject({ id: orderId, status: 'completed', totalAmount: 2 })
    expect(res.body.data.results[0], res.text).toMatchObject({ phoneNumber: phone, status: 'SUCCESS' })
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(3), reserved: 0, activeHolds: 0 })
    const o = await get(u, `/api/v1/orders/${orderId}`)
    expect(
      o.body.data.timeline.map((t: { status: string }) => t.status),
      o.text,
    ).toEqual(['pending', 'payment_failed', 'payment_failed', 'processing', 'completed'])
    expectErrorEnvelope(await retry(u, orderId), 409, 'ORDER_NOT_RETRYABLE')
  })

  it('keeps the defaultRouting of the refused purchase for the paid retry', async () => {
    const [n] = await seedDids(p, [{ setup: 1, monthly: 1 }])
    const u = await fundedUser(1)
    const res = await purchase(u, [n!], { configuration: { defaultRouting: { voiceUrl: 'https://h.example.com/voice', voiceMethod: 'POST' } } })
    expectErrorEnvelope(res, 400, 'INSUFFICIENT_BALANCE')
    await fund(u.id, 5)
    const paid = await retry(u, res.body.error.details.orderId)
    expect(paid.status, paid.text).toBe(200)
    expect((await numberRows(n!))[0]?.voice_url).toBe('https://h.example.com/voice')
  })

  it('when its numbers were sold meanwhile: 409 NUMBER_NOT_AVAILABLE and the order fails, nothing charged', async () => {
    const { u, phone, orderId } = await unpaidOrder()
    const other = await fundedUser(10)
    expect((await purchase(other, [phone])).status).toBe(201)
    await fund(u.id, 10)
    const res = await retry(u, orderId)
    expectErrorEnvelope(res, 409, 'NUMBER_NOT_AVAILABLE')
    expect(res.body.error.details, res.text).toMatchObject({ orderId, status: 'failed' })
    expect((await orderRow(orderId))?.status).toBe('failed')
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(11), activeHolds: 0 })
  })

  it('refuses orders that are not waiting for payment (409 ORDER_NOT_RETRYABLE)', async () => {
    const [n] = await seedDids(p, [{}])
    const u = await fundedUser(5)
    const placed = await purchase(u, [n!])
    expectErrorEnvelope(await retry(u, placed.body.data.order.id), 409, 'ORDER_NOT_RETRYABLE')
    expect(await walletAudit(u.id)).toMatchObject({ balance: micros(3) })
  })
})

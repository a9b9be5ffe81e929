/**
 * `billing.paymentMethodId` on DID purchases and orders: the order total is charged to the
 * payment method as a wallet top-up (its `payments` row, the credit), then the order runs as it
 * does from the wallet (hold, capture what was bought). A declined card is 402 PAYMENT_FAILED with
 * the order recorded payment_failed and nothing bought; an unknown or foreign method is a 404; a
 * retried request never charges twice. `promoCode` is refused until promotions exist.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sandboxProvider, walletAudit, type TestProvider } from '../../helpers/catalog'
import { fundedUser, inventoryStatus, lockState, numberRows, orderRow, purchase, seedDids } from '../../helpers/dids'

let p: TestProvider
beforeAll(async () => {
  p = await sandboxProvider()
})

async function addMethod(u: TestUser, token = 'tok_visa'): Promise<string> {
  const res = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: 'credit_card', token } })
  if (res.status !== 201) throw new Error(`add method failed: ${res.status} ${res.text}`)
  return res.body.data.id
}

interface Txn {
  type: string
  amount: number
  balanceAfter: number
  reference: { type: string; id: string } | null
}

/** The wallet ledger, oldest first. */
async function ledger(u: TestUser): Promise<Txn[]> {
  const res = await call('/api/wallet/transactions?limit=100', { token: u.accessToken })
  expect(res.status, res.text).toBe(200)
  return [...(res.body.data as Txn[])].reverse()
}

async function paymentsOf(userId: string) {
  const { results } = await env.DB.prepare(`SELECT id, purpose, amount, status, payment_method_id, attempt_key FROM payments WHERE user_id = ? ORDER BY created_at, id`)
    .bind(userId)
    .all<{ id: string; purpose: string; amount: number; status: string; payment_method_id: string; attempt_key: string }>()
  return results
}

/** The WALLET binding as when the wallet object cannot be reached for a hold: every hold throws, everything else goes through. */
const holdUnreachable = {
  idFromName: (name: string) => env.WALLET.idFromName(name),
  get: (id: DurableObjectId) => {
    const stub = env.WALLET.get(id)
    const methods = stub as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
    return new Proxy(
      {},
      {
        get(_, prop) {
          if (typeof prop !== 'string' || prop === 'then') return undefined
          if (prop === 'hold') return async () => Promise.reject(new Error('Wallet unreachable'))
          return (...args: unknown[]) => methods[prop]!(...args)
        },
      },
    )
  },
}

/** Another account takes the number for good (buys it from its own wallet). */
async function boughtBySomeoneElse(phone: string) {
  const other = await fundedUser(50)
  const res = await purchase(other, [phone])
  expect(res.status, res.text).toBe(201)
  expect(res.body.data.summary.successful, res.text).toBe(1)
}

/** The sum of what the card was charged: every payment row is one charge under its own processor key. */
const chargedToCards = async (userId: string) => (await paymentsOf(userId)).filter((x) => x.status === 'succeeded').reduce((s, x) => s + x.amount, 0)

const ordersOf = async (userId: string) =>
  (await env.DB.prepare(`SELECT id, status, payment_status FROM orders WHERE user_id = ? ORDER BY created_at, id`).bind(userId).all<{ id: string; status: string; payment_status: string }>()).results

describe('POST /api/v1/numbers/purchase with billing.paymentMethodId', () => {
  it('charges the card for the total as a top-up, then the order captures it from the wallet', async () => {
    const u = await registerUser() // an empty wallet
    const pm = await addMethod(u)
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 2 },
      { setup: 0.5, monthly: 1.5 },
    ])
    const res = await purchase(u, [a!, b!], { billing: { paymentMethodId: pm } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.summary, res.text).toMatchObject({ successful: 2, failed: 0 })
    expect(res.body.data.order.totalAmount, res.text).toBe(5)

    const pays = await paymentsOf(u.id)
    expect(pays, JSON.stringify(pays)).toHaveLength(1)
    expect(pays[0]).toMatchObject({ purpose: 'wallet_topup', amount: 5_000_000, status: 'succeeded', payment_method_id: pm })
    const entries = await ledger(u)
    expect(
      entries.map((e) => [e.type, e.amount, e.balanceAfter]),
      JSON.stringify(entries),
    ).toEqual([
      ['credit', 5, 5],
      ['capture', -5, 0],
    ])
    expect(entries[0]!.reference).toEqual({ type: 'payment', id: pays[0]!.id })
    expect(entries[1]!.reference).toEqual({ type: 'order', id: res.body.data.order.id })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, reserved: 0 })

    const order = await call(`/api/v1/orders/${res.body.data.order.id}`, { token: u.accessToken })
    expect(order.body.data, order.text).toMatchObject({ status: 'completed', paymentStatus: 'paid', paymentMethod: pm, paymentProcessor: 'sandbox' })
  })

  it('what was not bought stays in the wallet', async () => {
    const [ok, bad] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 2, monthly: 2 },
    ])
    const failing = await sandboxProvider({ did: { failNumbers: [bad] } })
    await env.DB.prepare(`UPDATE did_inventory SET provider_id = ? WHERE phone_number = ?`).bind(failing.id, bad).run()
    const u = await registerUser()
    const pm = await addMethod(u)
    const res = await purchase(u, [ok!, bad!], { billing: { paymentMethodId: pm } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.summary, res.text).toMatchObject({ successful: 1, failed: 1 })
    const entries = await ledger(u)
    expect(
      entries.map((e) => [e.type, e.amount]),
      JSON.stringify(entries),
    ).toEqual([
      ['credit', 6],
      ['capture', -2],
    ])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 4_000_000, reserved: 0 })
  })

  it('a declined card: 402 PAYMENT_FAILED, the order payment_failed, nothing bought, locks released', async () => {
    const u = await fundedUser(50) // money in the wallet does not pay for a card order
    const pm = await addMethod(u, 'tok_chargeDeclined')
    const [n] = await seedDids(p, [{ setup: 1, monthly: 1 }])
    const res = await purchase(u, [n!], { billing: { paymentMethodId: pm } })
    expectErrorEnvelope(res, 402, 'PAYMENT_FAILED')
    const orderId = res.body.error.details.orderId as string
    expect(orderId, res.text).toMatch(/^ord_/)
    expect(await orderRow(orderId)).toMatchObject({ status: 'payment_failed', payment_status: 'failed', charged: 0, hold_id: null })
    expect(await numberRows(n!)).toEqual([])
    expect(await inventoryStatus(n!)).toBe('available')
    expect(await lockState(n!)).toBeNull()
    expect(await paymentsOf(u.id)).toMatchObject([{ status: 'failed', payment_method_id: pm }])
    expect((await ledger(u)).map((e) => e.amount)).toEqual([50])
    const timeline = await call(`/api/v1/orders/${orderId}`, { token: u.accessToken })
    expect(timeline.body.data.timeline.at(-1), timeline.text).toMatchObject({ status: 'payment_failed' })
    expect(timeline.body.data.timeline.at(-1).note, timeline.text).toMatch(/declined/i)
  })

  it("an unknown or another account's payment method: 404, no order, nothing charged, locks released", async () => {
    const u = await fundedUser(10)
    const other = await registerUser()
    const foreign = await addMethod(other)
    const [n] = await seedDids(p, [{}])
    for (const id of ['pm_doesnotexist000000000000', foreign]) {
      const res = await purchase(u, [n!], { billing: { paymentMethodId: id } })
      expectErrorEnvelope(res, 404, 'NOT_FOUND')
    }
    expect(await ordersOf(u.id)).toEqual([])
    expect(await lockState(n!)).toBeNull()
    expect(await paymentsOf(other.id)).toEqual([])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 10_000_000 })
  })

  it('a retried request (same Idempotency-Key, first answer lost) charges the card once', async () => {
    const own = await sandboxProvider({ did: { failure: 'upstream_error' } })
    const [n] = await seedDids(own, [{ setup: 1, monthly: 1 }])
    const u = await registerUser()
    const pm = await addMethod(u)
    // The first attempt charges the card, then its upstream purchase fails: the money stays in the wallet.
    const key = `retry-${crypto.randomUUID()}`
    const body = { numbers: [{ phoneNumber: n }], billing: { paymentMethodId: pm } }
    const first = await call('/api/v1/numbers/purchase', { token: u.accessToken, body, headers: { 'Idempotency-Key': key } })
    await env.DB.prepare(`UPDATE providers SET config = '{}' WHERE id = ?`).bind(own.id).run()
    expect(first.status, first.text).toBe(201)
    expect(first.body.data.summary.failed, first.text).toBe(1)
    // Its answer never reached the client and the key's record is gone (as after a crash): the client sends it again.
    await env.DB.prepare(`DELETE FROM idempotency_keys WHERE key = ?`).bind(key).run()
    const again = await call('/api/v1/numbers/purchase', { token: u.accessToken, body, headers: { 'Idempotency-Key': key } })
    expect(again.status, again.text).toBe(201)
    expect(again.body.data.summary.successful, again.text).toBe(1)

    const pays = await paymentsOf(u.id)
    expect(pays, JSON.stringify(pays)).toHaveLength(1)
    expect((await ledger(u)).map((e) => [e.type, e.amount])).toEqual([
      ['credit', 2],
      ['capture', -2],
    ])
  })
})

describe('a retry after a 5xx whose order total changed (same Idempotency-Key)', () => {
  it('the total shrank (a number was sold meanwhile): no second charge, no 422; the hold takes it from what the first charge put in the wallet', async () => {
    const u = await registerUser()
    const pm = await addMethod(u)
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 1, monthly: 2 },
    ])
    const key = `shrank-${crypto.randomUUID()}`
    const body = { numbers: [{ phoneNumber: a }, { phoneNumber: b }], billing: { paymentMethodId: pm } }
    // The card is charged $5 and the wallet credited, then the wallet cannot be reached for the hold: a 500, not kept for the key.
    const first = await callApp('/api/v1/numbers/purchase', { token: u.accessToken, body, headers: { 'Idempotency-Key': key }, env: { WALLET: holdUnreachable } })
    expectErrorEnvelope(first, 500, 'INTERNAL_ERROR')
    expect(await chargedToCards(u.id)).toBe(5_000_000)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 5_000_000, reserved: 0 })
    expect(await lockState(a!)).toBeNull()

    await boughtBySomeoneElse(b!)
    const again = await call('/api/v1/numbers/purchase', { token: u.accessToken, body, headers: { 'Idempotency-Key': key } })
    expect(again.status, again.text).toBe(201)
    expect(again.body.data.summary, again.text).toMatchObject({ successful: 1, failed: 1 })
    expect(again.body.data.order.totalAmount, again.text).toBe(2)

    const pays = await paymentsOf(u.id)
    expect(
      pays.map((x) => [x.status, x.amount]),
      JSON.stringify(pays),
    ).toEqual([['succeeded', 5_000_000]])
    expect(
      (await ledger(u)).map((e) => [e.type, e.amount]),
      'one credit, one capture',
    ).toEqual([
      ['credit', 5],
      ['capture', -2],
    ])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 3_000_000, reserved: 0 })

    // The 201 is now the key's answer.
    const replay = await call('/api/v1/numbers/purchase', { token: u.accessToken, body, headers: { 'Idempotency-Key': key } })
    expect(replay.status, replay.text).toBe(201)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(await chargedToCards(u.id)).toBe(5_000_000)
  })

  it('the total grew (a number was free again): only the difference is charged, under a key derived from the first', async () => {
    const u = await registerUser()
    const pm = await addMethod(u)
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 1, monthly: 2 },
    ])
    // Someone else holds b while the first request runs: it pays for a alone.
    const lockB = env.NUMBER_LOCK.get(env.NUMBER_LOCK.idFromName(b!))
    expect((await lockB.reserve('usr_someoneelse', 60_000)).ok).toBe(true)
    const key = `grew-${crypto.randomUUID()}`
    const body = { numbers: [{ phoneNumber: a }, { phoneNumber: b }], billing: { paymentMethodId: pm } }
    const first = await callApp('/api/v1/numbers/purchase', { token: u.accessToken, body, headers: { 'Idempotency-Key': key }, env: { WALLET: holdUnreachable } })
    expectErrorEnvelope(first, 500, 'INTERNAL_ERROR')
    expect(await chargedToCards(u.id)).toBe(2_000_000)

    expect((await lockB.release('usr_someoneelse')).ok).toBe(true)
    const again = await call('/api/v1/numbers/purchase', { token: u.accessToken, body, headers: { 'Idempotency-Key': key } })
    expect(again.status, again.text).toBe(201)
    expect(again.body.data.summary, again.text).toMatchObject({ successful: 2, failed: 0 })

    const pays = await paymentsOf(u.id)
    expect(
      pays.map((x) => [x.status, x.amount]),
      JSON.stringify(pays),
    ).toEqual([
      ['succeeded', 2_000_000],
      ['succeeded', 3_000_000],
    ])
    expect(pays[1]!.attempt_key.startsWith(`${pays[0]!.attempt_key}_`), JSON.stringify(pays)).toBe(true)
    expect((await ledger(u)).map((e) => [e.type, e.amount])).toEqual([
      ['credit', 2],
      ['credit', 3],
      ['capture', -5],
    ])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, reserved: 0 })
  })

  it('retry-payment: a retry whose total shrank charges nothing more', async () => {
    const u = await registerUser()
    const declined = await addMethod(u, 'tok_chargeDeclined')
    const visa = await addMethod(u)
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 1, monthly: 2 },
    ])
    const refused = await call('/api/v1/orders', {
      token: u.accessToken,
      body: {
        items: [
          { type: 'number_purchase', itemId: a },
          { type: 'number_purchase', itemId: b },
        ],
        billing: { paymentMethodId: declined },
      },
    })
    expectErrorEnvelope(refused, 402, 'PAYMENT_FAILED')
    const orderId = refused.body.error.details.orderId as string

    const key = `retry-shrank-${crypto.randomUUID()}`
    const path = `/api/v1/orders/${orderId}/retry-payment`
    const first = await callApp(path, { method: 'POST', token: u.accessToken, body: { paymentMethodId: visa }, headers: { 'Idempotency-Key': key }, env: { WALLET: holdUnreachable } })
    expectErrorEnvelope(first, 500, 'INTERNAL_ERROR')
    expect(await orderRow(orderId)).toMatchObject({ status: 'payment_failed' })
    expect(await chargedToCards(u.id)).toBe(5_000_000)

    await boughtBySomeoneElse(b!)
    const again = await call(path, { method: 'POST', token: u.accessToken, body: { paymentMethodId: visa }, headers: { 'Idempotency-Key': key } })
    expect(again.status, again.text).toBe(200)
    expect(again.body.data.summary, again.text).toMatchObject({ successful: 1, failed: 1 })

    const pays = await paymentsOf(u.id)
    expect(
      pays.map((x) => [x.payment_method_id, x.status, x.amount]),
      JSON.stringify(pays),
    ).toEqual([
      [declined, 'failed', 5_000_000],
      [visa, 'succeeded', 5_000_000],
    ])
    expect((await ledger(u)).map((e) => [e.type, e.amount])).toEqual([
      ['credit', 5],
      ['capture', -2],
    ])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 3_000_000, reserved: 0 })
  })
})

describe('POST /api/v1/orders and retry-payment with a payment method', () => {
  it('an order with billing.paymentMethodId charges the card; a declined one is retried with another card', async () => {
    const u = await registerUser()
    const declined = await addMethod(u, 'tok_chargeDeclined')
    const visa = await addMethod(u, 'tok_mastercard')
    const [a, b] = await seedDids(p, [
      { setup: 1, monthly: 1 },
      { setup: 1, monthly: 2 },
    ])

    const paid = await call('/api/v1/orders', { token: u.accessToken, body: { items: [{ type: 'number_purchase', itemId: a }], billing: { paymentMethodId: visa } } })
    expect(paid.status, paid.text).toBe(201)
    expect(paid.body.data, paid.text).toMatchObject({ status: 'completed', paymentMethod: visa, paymentProcessor: 'sandbox' })

    const refused = await call('/api/v1/orders', { token: u.accessToken, body: { items: [{ type: 'number_purchase', itemId: b }], billing: { paymentMethodId: declined } } })
    expectErrorEnvelope(refused, 402, 'PAYMENT_FAILED')
    const orderId = refused.body.error.details.orderId as string
    expect(await orderRow(orderId)).toMatchObject({ status: 'payment_failed' })

    // Retrying without a method charges the order's card again (declined again); with another card it goes through.
    const retryAgain = await call(`/api/v1/orders/${orderId}/retry-payment`, { method: 'POST', token: u.accessToken, body: {} })
    expectErrorEnvelope(retryAgain, 402, 'PAYMENT_FAILED')
    expect(await orderRow(orderId)).toMatchObject({ status: 'payment_failed', payment_status: 'failed' })
    expect(await lockState(b!)).toBeNull()
    const retried = await call(`/api/v1/orders/${orderId}/retry-payment`, { method: 'POST', token: u.accessToken, body: { paymentMethodId: visa } })
    expect(retried.status, retried.text).toBe(200)
    expect(retried.body.data.summary.successful, retried.text).toBe(1)
    const details = await call(`/api/v1/orders/${orderId}`, { token: u.accessToken })
    expect(details.body.data, details.text).toMatchObject({ status: 'completed', paymentMethod: visa })

    const pays = await paymentsOf(u.id)
    expect(pays.map((x) => [x.payment_method_id, x.status, x.amount])).toEqual([
      [visa, 'succeeded', 2_000_000],
      [declined, 'failed', 3_000_000],
      [declined, 'failed', 3_000_000],
      [visa, 'succeeded', 3_000_000],
    ])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, reserved: 0 })
  })

  it('paymentMethodId "wallet" (or none) pays from the wallet, as before', async () => {
    const u = await fundedUser(10)
    const [n] = await seedDids(p, [{ setup: 1, monthly: 1 }])
    const res = await purchase(u, [n!], { billing: { paymentMethodId: 'wallet' } })
    expect(res.status, res.text).toBe(201)
    expect(await paymentsOf(u.id)).toEqual([])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 8_000_000 })
  })
})

describe('billing.promoCode', () => {
  it('is a 400 VALIDATION_ERROR on billing.promoCode until promotions exist; nothing is ordered', async () => {
    const u = await fundedUser(10)
    const [n] = await seedDids(p, [{}])
    const bought = await purchase(u, [n!], { billing: { promoCode: 'WELCOME10' } })
    expectErrorEnvelope(bought, 400, 'VALIDATION_ERROR')
    expect(bought.body.error.field, bought.text).toBe('billing.promoCode')
    expect(bought.body.error.message + JSON.stringify(bought.body.error.details), bought.text).toMatch(/promotion/i)
    const ordered = await call('/api/v1/orders', { token: u.accessToken, body: { items: [{ type: 'number_purchase', itemId: n }], billing: { promoCode: 'WELCOME10' } } })
    expectErrorEnvelope(ordered, 400, 'VALIDATION_ERROR')
    expect(ordered.body.error.field, ordered.text).toBe('billing.promoCode')
    expect(await ordersOf(u.id)).toEqual([])
  })
})

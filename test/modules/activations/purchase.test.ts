import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { createServices } from '../../../src/services'
import { fromMicros } from '../../../src/lib/money'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { activationRow, activationsOfUser, holdOutcome, outboxRows, purchase, sellingProvider, uniqueService } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'

const usd = (micros: number) => fromMicros(micros)

describe('POST /api/numbers/purchase', () => {
  it("buys a number: 201 with the activation API's fields, charged once, row + hold outcome + event written", async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService(), costUsd: 0.5, marginBps: 2000 })
    expect(offer.price).toBe(600_000)
    const u = await registerUser()
    await fund(u.id, 5)
    const t0 = Date.now()
    const res = await purchase(u, { countryCode: 'US', serviceCode: offer.serviceCode.toUpperCase() })
    expect(res.status, res.text).toBe(201)
    const d = res.body.data
    expect(d.id, res.text).toMatch(/^num_[0-9a-z]{26}$/)
    expect(d.phone, res.text).toMatch(/^\+1555\d{7}$/)
    expect(d.status).toBe('active')
    expect(d.price).toBe(0.6)
    expect(d.provider).toBe(offer.provider.code)
    expect(d.serviceCode).toBe(offer.serviceCode)
    expect(d.countryCode).toBe('us')
    expect(d.billing).toBe('captured')
    const expiresIn = Date.parse(d.expiresAt) - t0
    expect(expiresIn, d.expiresAt).toBeGreaterThan(19 * 60_000)
    expect(expiresIn, d.expiresAt).toBeLessThan(21 * 60_000)

    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(5_000_000 - offer.price)
    expect(audit.ledgerSum).toBe(audit.balance)
    expect(audit.activeHolds).toBe(0)
    expect(audit.reserved).toBe(0)
    expect(audit.entries).toBe(2)

    const row = (await activationRow(d.id))!
    expect(row).toMatchObject({ user_id: u.id, provider_id: offer.provider.id, status: 'active', billing: 'captured', price: offer.price })
    expect(await holdOutcome(row.hold_id)).toMatchObject({ outcome: 'capture', amount: offer.price, user_id: u.id })
    const events = await outboxRows('activation.created', d.id)
    expect(events).toHaveLength(1)
    expect(events[0]!.payload).toMatchObject({ numberId: d.id, phone: d.phone })
  })

  it('picks the cheapest healthy provider when none is named, and respects a named one', async () => {
    const serviceCode = uniqueService()
    const dear = await sellingProvider({ serviceCode, costUsd: 0.9, priority: 1 })
    const cheap = await sellingProvider({ serviceCode, costUsd: 0.4, priority: 500 })
    await sellingProvider({ serviceCode, costUsd: 0.1, healthy: false })
    await sellingProvider({ serviceCode, costUsd: 0.2, stock: 0 })
    const u = await registerUser()
    await fund(u.id, 5)

    const auto = await purchase(u, { countryCode: 'us', serviceCode })
    expect(auto.status, auto.text).toBe(201)
    expect(auto.body.data.provider, auto.text).toBe(cheap.provider.code)
    expect(auto.body.data.price).toBe(usd(cheap.price))

    const named = await purchase(u, { countryCode: 'us', serviceCode, provider: dear.provider.code })
    expect(named.status, named.text).toBe(201)
    expect(named.body.data.provider, named.text).toBe(dear.provider.code)
    expect(named.body.data.price).toBe(usd(dear.price))

    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(5_000_000 - cheap.price - dear.price)
    expect(audit.ledgerSum).toBe(audit.balance)
    expect(audit.activeHolds).toBe(0)
  })

  it('falls back to the next provider when the cheapest has no numbers; only the one bought is charged', async () => {
    const serviceCode = uniqueService()
    await sellingProvider({ serviceCode, costUsd: 0.2, priority: 1, activation: { failure: 'no_numbers' } })
    await sellingProvider({ serviceCode, costUsd: 0.3, priority: 2, activation: { failure: 'upstream_error' } })
    const next = await sellingProvider({ serviceCode, costUsd: 0.7, priority: 3 })
    const u = await registerUser()
    await fund(u.id, 2)
    const res = await purchase(u, { countryCode: 'us', serviceCode })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.provider, res.text).toBe(next.provider.code)
    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(2_000_000 - next.price)
    expect(audit.ledgerSum).toBe(audit.balance)
    expect(audit.activeHolds).toBe(0)
    expect(audit.entries, 'funding + one capture').toBe(2)
    expect(await activationsOfUser(u.id)).toHaveLength(1)
  })

  it('a named provider with no numbers is not replaced by another: 503', async () => {
    const serviceCode = uniqueService()
    const empty = await sellingProvider({ serviceCode, costUsd: 0.2, activation: { failure: 'no_numbers' } })
    await sellingProvider({ serviceCode, costUsd: 0.3 })
    const u = await registerUser()
    await fund(u.id, 2)
    const res = await purchase(u, { countryCode: 'us', serviceCode, provider: empty.provider.code })
    expectErrorEnvelope(res, 503, 'NO_NUMBERS_AVAILABLE')
    expect(await activationsOfUser(u.id)).toHaveLength(0)
  })

  describe('a failed purchase leaves no hold and no row', () => {
    const cases = [
      { name: 'NO_NUMBERS everywhere → 503', failures: ['no_numbers', 'no_numbers'], status: 503, code: 'NO_NUMBERS_AVAILABLE' },
      { name: '5xx everywhere → 502', failures: ['upstream_error', 'upstream_error'], status: 502, code: 'UPSTREAM_ERROR' },
      { name: 'one NO_NUMBERS, one 5xx → 503 (the most specific)', failures: ['upstream_error', 'no_numbers'], status: 503, code: 'NO_NUMBERS_AVAILABLE' },
    ]
    for (const c of cases) {
      it(c.name, async () => {
        const serviceCode = uniqueService()
        for (const [i, failure] of c.failures.entries()) await sellingProvider({ serviceCode, costUsd: 0.2 + i / 10, activation: { failure } })
        const u = await registerUser()
        await fund(u.id, 2)
        const res = await purchase(u, { countryCode: 'us', serviceCode })
        expectErrorEnvelope(res, c.status, c.code)
        expect(res.body.error.details?.attempts, res.text).toHaveLength(c.failures.length)
        const audit = await walletAudit(u.id)
        expect(audit).toMatchObject({ balance: 2_000_000, reserved: 0, activeHolds: 0, ledgerSum: 2_000_000, entries: 1 })
        expect(await activationsOfUser(u.id)).toHaveLength(0)
      })
    }
  })

  it('400 INSUFFICIENT_BALANCE when the wallet cannot pay: nothing held, nothing bought', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService(), costUsd: 1 })
    const u = await registerUser()
    await fund(u.id, 0.5)
    const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
    expectErrorEnvelope(res, 400, 'INSUFFICIENT_BALANCE')
    expect(res.body.error.details, res.text).toMatchObject({ required: offer.price / 1_000_000, available: 0.5 })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 500_000, reserved: 0, activeHolds: 0 })
    expect(await activationsOfUser(u.id)).toHaveLength(0)
  })

  it('404 for a service/country nobody sells, 503 when every offer is out of stock', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    expectErrorEnvelope(await purchase(u, { countryCode: 'us', serviceCode: uniqueService() }), 404, 'NOT_FOUND')
    const soldOut = await sellingProvider({ serviceCode: uniqueService(), stock: 0 })
    expectErrorEnvelope(await purchase(u, { countryCode: 'us', serviceCode: soldOut.serviceCode }), 503, 'NO_NUMBERS_AVAILABLE')
    const offer = await sellingProvider({ serviceCode: uniqueService() })
    expectErrorEnvelope(await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode, provider: 'no-such-provider' }), 404, 'NOT_FOUND')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, activeHolds: 0 })
  })

  it('validates the body and requires auth', async () => {
    const u = await registerUser()
    const missing = await purchase(u, { countryCode: 'us' })
    expectErrorEnvelope(missing, 400, 'VALIDATION_ERROR')
    expect(JSON.stringify(missing.body.error.details), missing.text).toContain('serviceCode')
    expectErrorEnvelope(await call('/api/numbers/purchase', { body: { countryCode: 'us', serviceCode: 'telegram' } }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await call('/api/numbers/purchase', { token: 'not-a-jwt', body: { countryCode: 'us', serviceCode: 'telegram' } }), 401, 'INVALID_TOKEN')
  })
})

describe('Idempotency-Key on a purchase', () => {
  it('a retry with the same key answers the first number again and charges once', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('idem'), costUsd: 0.5 })
    const u = await registerUser()
    await fund(u.id, 2)
    const headers = { 'idempotency-key': `buy-${crypto.randomUUID()}` }
    const first = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode }, { headers })
    expect(first.status, first.text).toBe(201)
    const again = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode }, { headers })
    expect(again.status, again.text).toBe(201)
    expect(again.body.data.id).toBe(first.body.data.id)
    expect(await activationsOfUser(u.id)).toHaveLength(1)
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
  })

  it('even when the handler runs again (a crashed first request), the key finds the number already bought', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('idem'), costUsd: 0.5 })
    const u = await registerUser()
    await fund(u.id, 2)
    const services = createServices(env as unknown as Env, createExecutionContext())
    const svc = services.activations
    const idempotency = { scope: `user:${u.id}`, key: 'k-1' }
    const a = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode }, { idempotency })
    const b = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode }, { idempotency })
    expect(b.id).toBe(a.id)
    expect(b.phone).toBe(a.phone)
    expect(await activationsOfUser(u.id)).toHaveLength(1)
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
    const other = await svc.purchase(ctxFor(u.id), { countryCode: 'us', serviceCode: offer.serviceCode }, { idempotency: { ...idempotency, key: 'k-2' } })
    expect(other.id).not.toBe(a.id)
  })
})

describe('POST /api/v1/numbers (API key, same as purchase)', () => {
  it("buys with a key that has 'numbers:write'; 403 without it", async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService(), costUsd: 0.25 })
    const u = await registerUser()
    await fund(u.id, 1)
    const writer = await createApiKey(u, ['numbers:write'])
    const reader = await createApiKey(u, ['numbers:read'])
    const res = await call('/api/v1/numbers', { apiKey: writer.key, body: { countryCode: 'us', serviceCode: offer.serviceCode } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data).toMatchObject({ status: 'active', provider: offer.provider.code, price: usd(offer.price) })
    expect(res.body.data.id).toMatch(/^num_/)
    const denied = await call('/api/v1/numbers', { apiKey: reader.key, body: { countryCode: 'us', serviceCode: offer.serviceCode } })
    expectErrorEnvelope(denied, 403, 'FORBIDDEN')
    expect(await activationsOfUser(u.id)).toHaveLength(1)
    expect((await walletAudit(u.id)).balance).toBe(1_000_000 - offer.price)
  })

  it('is in the OpenAPI document with the purchase route', async () => {
    const doc = await call('/openapi.json')
    expect(doc.status).toBe(200)
    for (const path of [
      '/api/numbers/purchase',
      '/api/v1/numbers',
      '/api/numbers/cancel',
      '/api/numbers/my',
      '/api/numbers/{id}',
      '/api/numbers/{id}/complete',
      '/api/v1/sms/{activationId}',
      '/api/search/offers',
      '/api/v1/webhooks/sms',
      '/api/v1/sandbox/activations/{id}/sms',
    ]) {
      expect(doc.body.paths[path], path).toBeDefined()
    }
  })
})

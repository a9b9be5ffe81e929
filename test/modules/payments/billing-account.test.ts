/**
 * The billing account (/api/v1/billing/account): created lazily with the defaults, every documented
 * field, the wallet balance and the default method, and only the whitelisted fields writable.
 */
import { describe, expect, it } from 'vitest'
import { createExecutionContext, env } from 'cloudflare:test'
import type { Env } from '../../../src/env'
import { billingAccountView } from '../../../src/modules/payments/views'
import { createServices } from '../../../src/services'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { fund } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'

const PATH = '/api/v1/billing/account'

const FIELDS = [
  'id',
  'company',
  'taxId',
  'billingAddress',
  'accountBalance',
  'creditLimit',
  'currency',
  'autoPayEnabled',
  'autoTopUp',
  'defaultPaymentMethod',
  'billingCycle',
  'nextBillingDate',
  'isActive',
  'isSuspended',
  'suspensionReason',
  'stripeCustomerId',
  'paypalCustomerId',
  'createdAt',
  'updatedAt',
]

describe('GET /api/v1/billing/account', () => {
  it('creates the account on first read with the defaults and every documented field', async () => {
    const u = await registerUser()
    const res = await call(PATH, { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    const a = res.body.data
    expect(Object.keys(a).sort()).toEqual([...FIELDS].sort())
    const now = new Date()
    expect(a, res.text).toMatchObject({
      id: expect.stringMatching(/^ba_/),
      company: null,
      taxId: null,
      billingAddress: {},
      accountBalance: 0,
      creditLimit: null,
      currency: 'USD',
      autoPayEnabled: false,
      autoTopUp: { enabled: false, threshold: null, amount: null, paymentMethodId: null, lastTopUp: null },
      defaultPaymentMethod: null,
      billingCycle: 'MONTHLY',
      nextBillingDate: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
      isActive: true,
      isSuspended: false,
      suspensionReason: null,
      stripeCustomerId: null,
      paypalCustomerId: null,
    })
    // A second read is the same account (one row).
    const again = await call(PATH, { token: u.accessToken })
    expect(again.body.data.id).toBe(a.id)
    const { results } = await env.DB.prepare(`SELECT count(*) AS n FROM billing_accounts WHERE user_id = ?`).bind(u.id).all<{ n: number }>()
    expect(results[0]!.n).toBe(1)
  })

  it('concurrent first reads create one account', async () => {
    const u = await registerUser()
    const all = await Promise.all([1, 2, 3].map(() => call(PATH, { token: u.accessToken })))
    for (const r of all) expect(r.status, r.text).toBe(200)
    expect(new Set(all.map((r) => r.body.data.id)).size).toBe(1)
  })

  it('shows the wallet balance in decimals and the default payment method', async () => {
    const u = await registerUser()
    await fund(u.id, 12.34)
    const m = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: 'card', token: 'tok_visa' } })
    expect(m.status, m.text).toBe(201)
    const res = await call(PATH, { token: u.accessToken })
    expect(res.body.data, res.text).toMatchObject({ accountBalance: 12.34, defaultPaymentMethod: m.body.data.id })
  })

  it("follows the user's status: suspended (with its reason) and banned accounts are not active", async () => {
    const u = await registerUser()
    const service = createServices(env as unknown as Env, createExecutionContext()).billingAccounts
    await env.DB.prepare(`UPDATE users SET status = 'suspended', status_reason = 'Chargeback under review' WHERE id = ?`).bind(u.id).run()
    expect(billingAccountView(await service.summary(ctxFor(u.id)))).toMatchObject({ isActive: false, isSuspended: true, suspensionReason: 'Chargeback under review' })
    // A suspension whose end has passed is over.
    await env.DB.prepare(`UPDATE users SET suspended_until = ? WHERE id = ?`)
      .bind(Date.now() - 1000, u.id)
      .run()
    expect(billingAccountView(await service.summary(ctxFor(u.id)))).toMatchObject({ isActive: true, isSuspended: false, suspensionReason: null })
    await env.DB.prepare(`UPDATE users SET status = 'banned', status_reason = 'Fraud', suspended_until = NULL WHERE id = ?`).bind(u.id).run()
    expect(billingAccountView(await service.summary(ctxFor(u.id)))).toMatchObject({ isActive: false, isSuspended: true, suspensionReason: 'Fraud' })
  })

  it('needs billing:read (and billing:write to change)', async () => {
    const u = await registerUser()
    const reader = await createApiKey(u, ['billing:read'])
    expect((await call(PATH, { apiKey: reader.key })).status).toBe(200)
    expectErrorEnvelope(await call(PATH, { method: 'PUT', apiKey: reader.key, body: { company: 'X' } }), 403, 'FORBIDDEN')
    const other = await createApiKey(u, ['wallet:read'])
    expectErrorEnvelope(await call(PATH, { apiKey: other.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call(PATH), 401, 'UNAUTHORIZED')
  })
})

describe('PUT /api/v1/billing/account', () => {
  it('changes only the writable fields sent, and answers the whole account', async () => {
    const u = await registerUser()
    const address = { line1: '1 Main St', city: 'Springfield', state: 'IL', postalCode: '62701', country: 'US' }
    const res = await call(PATH, { method: 'PUT', token: u.accessToken, body: { company: 'Acme Inc', taxId: 'US123', billingAddress: address, autoPayEnabled: true, billingCycle: 'monthly' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ company: 'Acme Inc', taxId: 'US123', billingAddress: address, autoPayEnabled: true, billingCycle: 'MONTHLY', currency: 'USD' })
    const partial = await call(PATH, { method: 'PUT', token: u.accessToken, body: { taxId: null } })
    expect(partial.body.data).toMatchObject({ company: 'Acme Inc', taxId: null, autoPayEnabled: true, billingAddress: address })
    const got = await call(PATH, { token: u.accessToken })
    expect(got.body.data).toMatchObject({ company: 'Acme Inc', taxId: null, autoPayEnabled: true })
  })

  it('refuses read-only and unknown fields, and cycles other than MONTHLY, changing nothing', async () => {
    const u = await registerUser()
    for (const body of [{ accountBalance: 1000 }, { stripeCustomerId: 'cus_x' }, { creditLimit: 50 }, { company: 'X', isSuspended: false }, { billingCycle: 'YEARLY' }, { autoPayEnabled: 'yes' }]) {
      const res = await call(PATH, { method: 'PUT', token: u.accessToken, body })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    }
    const got = await call(PATH, { token: u.accessToken })
    expect(got.body.data).toMatchObject({ company: null, accountBalance: 0, stripeCustomerId: null, creditLimit: null, billingCycle: 'MONTHLY' })
  })

  it('each account sees and changes only its own', async () => {
    const a = await registerUser()
    const b = await registerUser()
    await call(PATH, { method: 'PUT', token: a.accessToken, body: { company: 'A Corp' } })
    const got = await call(PATH, { token: b.accessToken })
    expect(got.body.data.company).toBeNull()
  })
})

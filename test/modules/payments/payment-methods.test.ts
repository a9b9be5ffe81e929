/**
 * Payment methods (/api/v1/billing/payment-methods) through the API: add (sandbox test tokens, processors, type
 * checks), list, default handling (first is default, makeDefault, PUT default, the default
 * moving on delete, one default under concurrency), soft delete, and other accounts' ids.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'

const PATH = '/api/v1/billing/payment-methods'

const add = (u: TestUser, body: Record<string, unknown>) => call(PATH, { token: u.accessToken, body: { type: 'credit_card', token: 'tok_visa', ...body } })
const list = (u: TestUser, query = '') => call(`${PATH}${query}`, { token: u.accessToken })
const makeDefault = (u: TestUser, id: string) => call(`${PATH}/${id}/default`, { method: 'PUT', token: u.accessToken })
const remove = (u: TestUser, id: string) => call(`${PATH}/${id}`, { method: 'DELETE', token: u.accessToken })

async function defaults(userId: string) {
  const { results } = await env.DB.prepare(`SELECT id FROM payment_methods WHERE user_id = ? AND is_default = 1 AND deleted_at IS NULL`).bind(userId).all<{ id: string }>()
  return results.map((r) => r.id)
}

describe('POST /api/v1/billing/payment-methods', () => {
  it('adds a sandbox card (201, PaymentMethod shape); the first method becomes the default', async () => {
    const u = await registerUser()
    const res = await add(u, { processor: 'sandbox' })
    expect(res.status, res.text).toBe(201)
    const m = res.body.data
    expect(m, res.text).toEqual({
      id: expect.stringMatching(/^pm_/),
      type: 'credit_card',
      processor: 'sandbox',
      last4: '4242',
      brand: 'visa',
      expiryMonth: 12,
      expiryYear: 2034,
      isDefault: true,
      isVerified: true,
      isActive: true,
      createdAt: expect.any(String),
    })
    expect(Number.isNaN(Date.parse(m.createdAt))).toBe(false)
    // The processor's reference is never shown.
    expect(res.text).not.toContain('pm_sandbox_')
  })

  it('accepts processor and type in any case, defaults the processor to sandbox, and adds bank accounts', async () => {
    const u = await registerUser()
    const card = await add(u, { processor: 'SANDBOX', type: 'CARD', token: 'tok_mastercard' })
    expect(card.status, card.text).toBe(201)
    expect(card.body.data).toMatchObject({ processor: 'sandbox', type: 'credit_card', brand: 'mastercard', last4: '4444' })
    const bank = await call(PATH, { token: u.accessToken, body: { type: 'bank_account', token: 'btok_us_verified' } })
    expect(bank.status, bank.text).toBe(201)
    expect(bank.body.data).toMatchObject({ processor: 'sandbox', type: 'bank_account', bankName: 'STRIPE TEST BANK', accountType: 'checking', last4: '6789', isDefault: false })
    expect(bank.body.data.brand).toBeUndefined()
    expect(bank.body.data.expiryMonth).toBeUndefined()
  })

  it('adds a card whose charges will be declined (tok_chargeDeclined) like any other', async () => {
    const u = await registerUser()
    const res = await add(u, { token: 'tok_chargeDeclined' })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data).toMatchObject({ last4: '0002', isActive: true })
  })

  it('400 for an unknown token, a type that does not match the token, an unknown type or processor, and stripe when it is not configured', async () => {
    const u = await registerUser()
    const bad = await add(u, { token: 'tok_doesNotExist' })
    expectErrorEnvelope(bad, 400, 'VALIDATION_ERROR')
    expect(bad.body.error.field).toBe('token')
    const mismatch = await add(u, { type: 'bank_account', token: 'tok_visa' })
    expectErrorEnvelope(mismatch, 400, 'VALIDATION_ERROR')
    expect(mismatch.body.error.field).toBe('type')
    expectErrorEnvelope(await add(u, { type: 'credit_card', token: 'btok_us_verified' }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await add(u, { type: 'paypal' }), 400, 'VALIDATION_ERROR')
    const unknown = await add(u, { processor: 'paypal' })
    expectErrorEnvelope(unknown, 400, 'VALIDATION_ERROR')
    expect(unknown.body.error.field).toBe('processor')
    const stripe = await add(u, { processor: 'Stripe' })
    expectErrorEnvelope(stripe, 400, 'VALIDATION_ERROR')
    expect(stripe.body.error.field).toBe('processor')
    expectErrorEnvelope(await call(PATH, { token: u.accessToken, body: { type: 'credit_card' } }), 400, 'VALIDATION_ERROR')
    expect((await list(u)).body.data).toEqual([])
  })

  it('needs billing:write; listing needs billing:read; no credentials is 401', async () => {
    const u = await registerUser()
    const reader = await createApiKey(u, ['billing:read'])
    expectErrorEnvelope(await call(PATH, { apiKey: reader.key, body: { type: 'card', token: 'tok_visa' } }), 403, 'FORBIDDEN')
    expect((await call(PATH, { apiKey: reader.key })).status).toBe(200)
    const writer = await createApiKey(u, ['billing:write'])
    expect((await call(PATH, { apiKey: writer.key, body: { type: 'card', token: 'tok_visa' } })).status).toBe(201)
    expectErrorEnvelope(await call(PATH, { apiKey: writer.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call(PATH), 401, 'UNAUTHORIZED')
  })
})

describe('listing, default and delete', () => {
  it("lists the account's active methods, default first, with page/limit pagination", async () => {
    const u = await registerUser()
    const other = await registerUser()
    await add(other, { token: 'tok_amex' })
    const first = (await add(u, {})).body.data
    const second = (await add(u, { token: 'tok_mastercard' })).body.data
    const third = (await add(u, { token: 'tok_amex' })).body.data
    const res = await list(u)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.map((m: { id: string }) => m.id)).toEqual([first.id, third.id, second.id])
    expect(res.body.pagination).toEqual({ page: 1, limit: 20, total: 3, totalPages: 1, hasNext: false, hasPrevious: false })
    const page2 = await list(u, '?page=2&limit=2')
    expect(page2.body.data.map((m: { id: string }) => m.id)).toEqual([second.id])
    expect(page2.body.pagination).toMatchObject({ page: 2, limit: 2, total: 3, totalPages: 2, hasNext: false, hasPrevious: true })
  })

  it('makeDefault on add and PUT …/default move the default; there is always exactly one', async () => {
    const u = await registerUser()
    const a = (await add(u, {})).body.data
    const b = (await add(u, { token: 'tok_mastercard', makeDefault: true })).body.data
    expect(b.isDefault).toBe(true)
    expect(await defaults(u.id)).toEqual([b.id])
    const res = await makeDefault(u, a.id)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ id: a.id, isDefault: true })
    expect(await defaults(u.id)).toEqual([a.id])
    // Again: nothing changes.
    expect((await makeDefault(u, a.id)).status).toBe(200)
    expect(await defaults(u.id)).toEqual([a.id])
    const account = await call('/api/v1/billing/account', { token: u.accessToken })
    expect(account.body.data.defaultPaymentMethod, account.text).toBe(a.id)
  })

  it('deletes softly; deleting the default makes the newest remaining method the default', async () => {
    const u = await registerUser()
    const a = (await add(u, {})).body.data
    const b = (await add(u, { token: 'tok_mastercard' })).body.data
    const c = (await add(u, { token: 'tok_amex' })).body.data
    const res = await remove(u, a.id)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toEqual({ id: a.id, deleted: true, defaultPaymentMethod: c.id })
    expect(await defaults(u.id)).toEqual([c.id])
    const after = await list(u)
    expect(after.body.data.map((m: { id: string; isDefault: boolean }) => [m.id, m.isDefault])).toEqual([
      [c.id, true],
      [b.id, false],
    ])
    const row = await env.DB.prepare(`SELECT deleted_at, is_active, is_default FROM payment_methods WHERE id = ?`)
      .bind(a.id)
      .first<{ deleted_at: number | null; is_active: number; is_default: number }>()
    expect(row?.deleted_at).toEqual(expect.any(Number))
    expect(row).toMatchObject({ is_active: 0, is_default: 0 })

    // Deleting a non-default keeps the default; deleted ids are 404 afterwards.
    expect((await remove(u, b.id)).body.data).toEqual({ id: b.id, deleted: true, defaultPaymentMethod: c.id })
    expectErrorEnvelope(await remove(u, a.id), 404, 'NOT_FOUND')
    expectErrorEnvelope(await makeDefault(u, a.id), 404, 'NOT_FOUND')
    expect((await remove(u, c.id)).body.data).toEqual({ id: c.id, deleted: true, defaultPaymentMethod: null })
    expect((await list(u)).body.data).toEqual([])
    // A new method after all were deleted is the default again.
    expect((await add(u, {})).body.data.isDefault).toBe(true)
  })

  it("another account's method is 404 for delete and default, and stays untouched", async () => {
    const owner = await registerUser()
    const other = await registerUser()
    const m = (await add(owner, {})).body.data
    expectErrorEnvelope(await remove(other, m.id), 404, 'NOT_FOUND')
    expectErrorEnvelope(await makeDefault(other, m.id), 404, 'NOT_FOUND')
    expect((await list(other)).body.data).toEqual([])
    expect((await list(owner)).body.data).toMatchObject([{ id: m.id, isDefault: true, isActive: true }])
    expectErrorEnvelope(await remove(owner, 'pm_unknown'), 404, 'NOT_FOUND')
  })

  it('concurrent first adds and concurrent default changes leave exactly one default', async () => {
    const u = await registerUser()
    const added = await Promise.all([add(u, {}), add(u, { token: 'tok_mastercard' }), add(u, { token: 'tok_amex' }), add(u, {})])
    for (const r of added) expect(r.status, r.text).toBe(201)
    expect(added.filter((r) => r.body.data.isDefault)).toHaveLength(1)
    expect(await defaults(u.id)).toHaveLength(1)
    const ids = added.map((r) => r.body.data.id as string)
    const switched = await Promise.all([...ids.slice(1).map((id) => makeDefault(u, id)), add(u, { makeDefault: true }), remove(u, ids[0]!)])
    for (const r of switched) expect(r.status, r.text).toBeLessThan(300)
    // Making a method default while it is being deleted: either order is fine, and never two defaults.
    const racing = await Promise.all([makeDefault(u, ids[1]!), remove(u, ids[1]!)])
    expect(racing[1].status, racing[1].text).toBe(200)
    expect([200, 404]).toContain(racing[0].status)
    expect(await defaults(u.id)).toHaveLength(1)
  })
})

/**
 * The sandbox payment processor: Stripe's test tokens, deterministic and stateless charges
 * (idempotent by key), declines as results, and the processor registry.
 */
import { describe, expect, it } from 'vitest'
import { ValidationError } from '../../../src/lib/errors'
import { paymentProcessor, processorName } from '../../../src/providers/payments/registry'
import { SandboxPayments } from '../../../src/providers/payments/sandbox'
import { StripePayments } from '../../../src/providers/payments/stripe'
import { toCents } from '../../../src/providers/payments/types'
import { failure } from '../../helpers/upstream'

const sandbox = new SandboxPayments()
const charge = (processorRef: string, idempotencyKey: string, amount = 25_000_000) => sandbox.charge({ processorRef, amount, currency: 'USD', idempotencyKey, description: 'test' })

describe('sandbox payment methods', () => {
  it.each([
    ['tok_visa', 'visa', '4242'],
    ['tok_mastercard', 'mastercard', '4444'],
    ['tok_amex', 'amex', '0005'],
    ['tok_chargeDeclined', 'visa', '0002'],
    ['tok_chargeDeclinedInsufficientFunds', 'visa', '9995'],
  ])('%s is a verified %s card ending %s', async (token, brand, last4) => {
    const m = await sandbox.createMethod(token)
    expect(m).toMatchObject({ type: 'card', brand, last4, expiryMonth: 12, expiryYear: 2034, bankName: null, verified: true })
    expect(m.processorRef).toMatch(/^pm_sandbox_[a-z]+_[A-Za-z0-9]+$/)
  })

  it('btok_us_verified is a verified bank account', async () => {
    const m = await sandbox.createMethod('btok_us_verified')
    expect(m).toMatchObject({ type: 'bank_account', last4: '6789', bankName: 'STRIPE TEST BANK', accountType: 'checking', brand: null, verified: true })
  })

  it('refuses any other token with a 400 on token', async () => {
    for (const token of ['tok_unknown', 'pm_card_visa', '', 'TOK_VISA', 'constructor', '__proto__']) {
      const e = await failure(sandbox.createMethod(token))
      expect(e, token).toBeInstanceOf(ValidationError)
      expect((e as ValidationError).field).toBe('token')
    }
  })
})

describe('sandbox charges', () => {
  it('good cards succeed; the same idempotency key gives the same ref, another key another ref', async () => {
    for (const token of ['tok_visa', 'tok_mastercard', 'tok_amex', 'btok_us_verified']) {
      const m = await sandbox.createMethod(token)
      const a = await charge(m.processorRef, 'key-1')
      const again = await charge(m.processorRef, 'key-1')
      const b = await charge(m.processorRef, 'key-2')
      expect(a, token).toMatchObject({ ok: true, status: 'succeeded' })
      expect(a).toEqual(again)
      if (!a.ok || !b.ok) throw new Error('expected successes')
      expect(a.ref).toMatch(/^ch_sandbox_[0-9a-f]{32}$/)
      expect(b.ref).not.toBe(a.ref)
    }
    // No state: a new processor instance answers the same.
    const m = await sandbox.createMethod('tok_visa')
    expect(await new SandboxPayments().charge({ processorRef: m.processorRef, amount: 10_000, currency: 'USD', idempotencyKey: 'key-1', description: '' })).toEqual(
      await charge(m.processorRef, 'key-1'),
    )
  })

  it('tok_chargeDeclined adds fine and every charge is declined card_declined', async () => {
    const m = await sandbox.createMethod('tok_chargeDeclined')
    for (const key of ['a', 'b', 'a']) {
      expect(await charge(m.processorRef, key)).toEqual({ ok: false, reason: 'Your card was declined.', code: 'card_declined', declineCode: 'generic_decline' })
    }
  })

  it('tok_chargeDeclinedInsufficientFunds is declined for insufficient funds', async () => {
    const m = await sandbox.createMethod('tok_chargeDeclinedInsufficientFunds')
    expect(await charge(m.processorRef, 'k')).toEqual({ ok: false, reason: 'Your card has insufficient funds.', code: 'card_declined', declineCode: 'insufficient_funds' })
  })

  it('an unknown method ref is a failed charge, not a success', async () => {
    expect(await charge('pm_1NotOurs', 'k')).toMatchObject({ ok: false, code: 'resource_missing' })
  })

  it('throws for amounts that are not a positive whole number of cents', async () => {
    const m = await sandbox.createMethod('tok_visa')
    for (const amount of [1, 10_001, 0, -10_000, 0.5]) {
      await expect(charge(m.processorRef, 'k', amount), String(amount)).rejects.toBeInstanceOf(ValidationError)
    }
    expect(toCents(25_990_000)).toBe(2599)
  })

  it('customers are deterministic per account', async () => {
    const a = await sandbox.createCustomer({ userId: 'usr_a', email: 'a@example.com' })
    expect(a).toMatch(/^cus_sandbox_/)
    expect(await sandbox.createCustomer({ userId: 'usr_a', email: 'a@example.com' })).toBe(a)
    expect(await sandbox.createCustomer({ userId: 'usr_b', email: 'b@example.com' })).not.toBe(a)
  })
})

describe('processor registry', () => {
  const deps = (key?: string) => ({ config: { STRIPE_SECRET_KEY: key, STRIPE_API_BASE: 'https://stripe.test' }, fetch })

  it('accepts names in any case; sandbox is the default', () => {
    expect(processorName(undefined)).toBe('sandbox')
    expect(processorName('SANDBOX')).toBe('sandbox')
    expect(processorName(' Stripe ')).toBe('stripe')
    expect(() => processorName('paypal')).toThrow(ValidationError)
    expect(paymentProcessor('Sandbox', deps()).name).toBe('sandbox')
  })

  it('stripe only when STRIPE_SECRET_KEY is configured (else 400 on processor)', () => {
    try {
      paymentProcessor('stripe', deps())
      throw new Error('expected a refusal')
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError)
      expect((e as ValidationError).field).toBe('processor')
    }
    expect(paymentProcessor('STRIPE', deps('sk_test_123456'))).toBeInstanceOf(StripePayments)
  })
})

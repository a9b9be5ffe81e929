/**
 * The Stripe adapter against Stripe's documented answers (Customer, PaymentMethod, PaymentIntent
 * objects and the error JSON): the exact requests (form-encoded, Bearer key, Idempotency-Key on
 * charges), the mapping of declines to results, and that the secret key never shows up in an
 * error's message or details.
 */
import { describe, expect, it } from 'vitest'
import { UpstreamError, ValidationError } from '../../../src/lib/errors'
import { StripePayments } from '../../../src/providers/payments/stripe'
import { expectNoSecret, failure, fakeUpstream, json, type Handler } from '../../helpers/upstream'

const KEY = 'sk_test_51Hx0switchboardSecretKey0123456789abcdef'
const BASE = 'https://stripe.test'

function adapter(handler: Handler) {
  const upstream = fakeUpstream(handler)
  return { stripe: new StripePayments({ secretKey: KEY, baseUrl: BASE, fetch: upstream.fetch }), upstream }
}

const form = (body: string) => Object.fromEntries(new URLSearchParams(body))

/** Stripe's documented Customer object (trimmed to the fields that matter, as in the API reference). */
const CUSTOMER = {
  id: 'cus_NffrFeUfNV2Hib',
  object: 'customer',
  address: null,
  balance: 0,
  created: 1680893993,
  currency: null,
  default_source: null,
  delinquent: false,
  description: null,
  email: 'jennyrosen@example.com',
  invoice_prefix: '0759376C',
  invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
  livemode: false,
  metadata: {},
  name: null,
  phone: null,
  preferred_locales: [],
  shipping: null,
  tax_exempt: 'none',
  test_clock: null,
}

/** Stripe's documented PaymentMethod object for a visa test card. */
const PAYMENT_METHOD = (customer: string | null) => ({
  id: 'pm_1Q0PsIJvEtkwdCNYMSaVuRz6',
  object: 'payment_method',
  allow_redisplay: 'unspecified',
  billing_details: { address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }, email: null, name: null, phone: null },
  card: {
    brand: 'visa',
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
    country: 'US',
    display_brand: 'visa',
    exp_month: 8,
    exp_year: 2026,
    fingerprint: 'mToisGZ01V71BCos',
    funding: 'credit',
    generated_from: null,
    last4: '4242',
    networks: { available: ['visa'], preferred: null },
    three_d_secure_usage: { supported: true },
    wallet: null,
  },
  created: 1726673582,
  customer,
  livemode: false,
  metadata: {},
  type: 'card',
})

/** Stripe's documented PaymentIntent object after a successful confirm. */
const PAYMENT_INTENT = {
  id: 'pi_3MtwBwLkdIwHu7ix28a3tqPa',
  object: 'payment_intent',
  amount: 2599,
  amount_capturable: 0,
  amount_received: 2599,
  capture_method: 'automatic',
  client_secret: 'pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH',
  confirmation_method: 'automatic',
  created: 1680800504,
  currency: 'usd',
  customer: 'cus_NffrFeUfNV2Hib',
  description: 'Wallet top-up',
  last_payment_error: null,
  latest_charge: 'ch_3MtwBwLkdIwHu7ix2mQ6W2Wl',
  livemode: false,
  metadata: {},
  next_action: null,
  payment_method: 'pm_1Q0PsIJvEtkwdCNYMSaVuRz6',
  payment_method_types: ['card'],
  status: 'succeeded',
}

/** Stripe's documented card error (HTTP 402). */
const cardError = (decline_code: string, message: string) =>
  json(
    {
      error: {
        charge: 'ch_3MtwBwLkdIwHu7ix2mQ6W2Wl',
        code: 'card_declined',
        decline_code,
        doc_url: 'https://stripe.com/docs/error-codes/card-declined',
        message,
        payment_intent: { ...PAYMENT_INTENT, status: 'requires_payment_method', amount_received: 0, latest_charge: 'ch_3MtwBwLkdIwHu7ix2mQ6W2Wl' },
        request_log_url: 'https://dashboard.stripe.com/test/logs/req_xyz?t=1680800504',
        type: 'card_error',
      },
    },
    402,
  )

const chargeReq = { processorRef: 'pm_1Q0PsIJvEtkwdCNYMSaVuRz6', customerRef: 'cus_NffrFeUfNV2Hib', amount: 25_990_000, currency: 'USD', idempotencyKey: 'topup_abc123', description: 'Wallet top-up' }

describe('Stripe customers and payment methods', () => {
  it('creates a customer: form-encoded POST /v1/customers with the Bearer key and an Idempotency-Key per account', async () => {
    const { stripe, upstream } = adapter(() => json(CUSTOMER))
    expect(await stripe.createCustomer({ userId: 'usr_1', email: 'jennyrosen@example.com' })).toBe('cus_NffrFeUfNV2Hib')
    const r = upstream.last
    expect(r.method).toBe('POST')
    expect(r.url.toString()).toBe(`${BASE}/v1/customers`)
    expect(r.headers.get('authorization')).toBe(`Bearer ${KEY}`)
    expect(r.headers.get('content-type')).toBe('application/x-www-form-urlencoded')
    expect(r.headers.get('idempotency-key')).toBe('customer_usr_1')
    expect(form(r.body)).toEqual({ email: 'jennyrosen@example.com', 'metadata[userId]': 'usr_1' })
  })

  it('creates a PaymentMethod from a card token and attaches it to the customer', async () => {
    const { stripe, upstream } = adapter((req) => (req.url.pathname.endsWith('/attach') ? json(PAYMENT_METHOD('cus_NffrFeUfNV2Hib')) : json(PAYMENT_METHOD(null))))
    const m = await stripe.createMethod('tok_visa', 'cus_NffrFeUfNV2Hib')
    expect(m).toEqual({
      type: 'card',
      last4: '4242',
      brand: 'visa',
      expiryMonth: 8,
      expiryYear: 2026,
      bankName: null,
      accountType: 'credit',
      processorRef: 'pm_1Q0PsIJvEtkwdCNYMSaVuRz6',
      verified: true,
    })
    expect(upstream.calls).toHaveLength(2)
    const [create, attach] = upstream.calls
    expect(create!.url.pathname).toBe('/v1/payment_methods')
    expect(form(create!.body)).toEqual({ type: 'card', 'card[token]': 'tok_visa' })
    expect(attach!.url.pathname).toBe('/v1/payment_methods/pm_1Q0PsIJvEtkwdCNYMSaVuRz6/attach')
    expect(form(attach!.body)).toEqual({ customer: 'cus_NffrFeUfNV2Hib' })
    for (const c of upstream.calls) expect(c.headers.get('authorization')).toBe(`Bearer ${KEY}`)
  })

  it("an unknown token is a 400 on token quoting Stripe's message", async () => {
    const { stripe } = adapter(() =>
      json(
        {
          error: {
            code: 'resource_missing',
            doc_url: 'https://stripe.com/docs/error-codes/resource-missing',
            message: "No such token: 'tok_nope'",
            param: 'card[token]',
            request_log_url: 'https://dashboard.stripe.com/test/logs/req_1?t=1',
            type: 'invalid_request_error',
          },
        },
        400,
      ),
    )
    const e = await failure(stripe.createMethod('tok_nope', 'cus_1'))
    expect(e).toBeInstanceOf(ValidationError)
    expect((e as ValidationError).field).toBe('token')
    expect(e.message).toContain("No such token: 'tok_nope'")
    expectNoSecret(e, KEY)
  })

  it('refuses bank tokens without calling Stripe', async () => {
    const { stripe, upstream } = adapter(() => json({}))
    expect(await failure(stripe.createMethod('btok_us_verified', 'cus_1'))).toBeInstanceOf(ValidationError)
    expect(upstream.calls).toHaveLength(0)
  })

  it('detaches; a method Stripe no longer has attached counts as detached', async () => {
    const ok = adapter(() => json(PAYMENT_METHOD(null)))
    await ok.stripe.detach('pm_1Q0PsIJvEtkwdCNYMSaVuRz6')
    expect(ok.upstream.last.url.pathname).toBe('/v1/payment_methods/pm_1Q0PsIJvEtkwdCNYMSaVuRz6/detach')
    expect(ok.upstream.last.method).toBe('POST')
    const gone = adapter(() => json({ error: { message: 'The payment method you provided is not attached to a customer so detachment is impossible.', type: 'invalid_request_error' } }, 400))
    await gone.stripe.detach('pm_1')
    const down = adapter(() => json({ error: { type: 'api_error', message: 'An unknown error occurred' } }, 500))
    const e = await failure(down.stripe.detach('pm_1'))
    expect(e).toBeInstanceOf(UpstreamError)
  })
})

describe('Stripe charges (PaymentIntents)', () => {
  it('confirms a PaymentIntent off-session in cents with the Idempotency-Key and maps success', async () => {
    const { stripe, upstream } = adapter(() => json(PAYMENT_INTENT))
    expect(await stripe.charge(chargeReq)).toEqual({ ok: true, ref: 'pi_3MtwBwLkdIwHu7ix28a3tqPa', status: 'succeeded' })
    const r = upstream.last
    expect(r.method).toBe('POST')
    expect(r.url.toString()).toBe(`${BASE}/v1/payment_intents`)
    expect(r.headers.get('idempotency-key')).toBe('topup_abc123')
    expect(r.headers.get('authorization')).toBe(`Bearer ${KEY}`)
    expect(form(r.body)).toEqual({
      amount: '2599',
      currency: 'usd',
      customer: 'cus_NffrFeUfNV2Hib',
      payment_method: 'pm_1Q0PsIJvEtkwdCNYMSaVuRz6',
      confirm: 'true',
      off_session: 'true',
      description: 'Wallet top-up',
    })
  })

  it('maps a 402 card_declined to a declined result', async () => {
    const { stripe } = adapter(() => cardError('generic_decline', 'Your card was declined.'))
    expect(await stripe.charge(chargeReq)).toEqual({ ok: false, reason: 'Your card was declined.', code: 'card_declined', declineCode: 'generic_decline' })
  })

  it('maps insufficient funds with its decline code', async () => {
    const { stripe } = adapter(() => cardError('insufficient_funds', 'Your card has insufficient funds.'))
    expect(await stripe.charge(chargeReq)).toEqual({ ok: false, reason: 'Your card has insufficient funds.', code: 'card_declined', declineCode: 'insufficient_funds' })
  })

  it('a 3-D Secure card off-session (authentication_required, 402) is declined', async () => {
    const { stripe } = adapter(() =>
      json(
        { error: { code: 'authentication_required', decline_code: 'authentication_required', message: 'Your card was declined. This transaction requires authentication.', type: 'card_error' } },
        402,
      ),
    )
    expect(await stripe.charge(chargeReq)).toMatchObject({ ok: false, code: 'authentication_required' })
  })

  it('a PaymentIntent that did not succeed is not a success', async () => {
    const { stripe } = adapter(() => json({ ...PAYMENT_INTENT, status: 'requires_action', next_action: { type: 'use_stripe_sdk' } }))
    expect(await stripe.charge(chargeReq)).toMatchObject({ ok: false, code: 'authentication_required' })
  })

  it('409 idempotency_error (the same key still running at Stripe) is an UpstreamError, not a decline', async () => {
    const { stripe } = adapter(() => json({ error: { type: 'idempotency_error', message: 'There is currently another in-progress request using this Stripe-Idempotency-Key.' } }, 409))
    const e = await failure(stripe.charge(chargeReq))
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.status).toBe(502)
  })

  it('500 is an UpstreamError (502) that does not leak the key', async () => {
    const { stripe } = adapter(() => json({ error: { type: 'api_error', message: `Internal error for key ${KEY}` } }, 500))
    const e = await failure(stripe.charge(chargeReq))
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.status).toBe(502)
    expect(e.code).toBe('UPSTREAM_ERROR')
    expectNoSecret(e, KEY)
  })

  it('401 (Stripe quotes part of the key) is an UpstreamError that quotes nothing of it', async () => {
    const { stripe } = adapter(() => json({ error: { message: `Invalid API Key provided: sk_test_****************cdef`, type: 'invalid_request_error' } }, 401))
    const e = await failure(stripe.charge(chargeReq))
    expect(e).toBeInstanceOf(UpstreamError)
    expectNoSecret(e, KEY, 'cdef', 'sk_test')
  })

  it('a network failure or a non-JSON answer is an UpstreamError without the key', async () => {
    const broken = adapter(() => {
      throw new TypeError(`fetch failed: ${BASE}/v1/payment_intents Authorization: Bearer ${KEY}`)
    })
    const e = await failure(broken.stripe.charge(chargeReq))
    expect(e).toBeInstanceOf(UpstreamError)
    expectNoSecret(e, KEY)
    const html = adapter(() => new Response('<html>bad gateway</html>', { status: 200 }))
    expect(await failure(html.stripe.charge(chargeReq))).toBeInstanceOf(UpstreamError)
  })

  it('refuses an amount that is not whole cents before calling Stripe', async () => {
    const { stripe, upstream } = adapter(() => json(PAYMENT_INTENT))
    expect(await failure(stripe.charge({ ...chargeReq, amount: 25_995_000 }))).toBeInstanceOf(ValidationError)
    expect(upstream.calls).toHaveLength(0)
  })
})

describe('StripePayments.ping (system health)', () => {
  /** Stripe's documented Balance object (trimmed). */
  const BALANCE = { object: 'balance', available: [{ amount: 0, currency: 'usd', source_types: { card: 0 } }], livemode: false, pending: [] }

  it('reads GET /v1/balance with the key; a 2xx answer is up', async () => {
    const { stripe, upstream } = adapter(() => json(BALANCE))
    await stripe.ping(2000)
    expect(upstream.calls).toHaveLength(1)
    expect(upstream.last.method).toBe('GET')
    expect(upstream.last.url.toString()).toBe(`${BASE}/v1/balance`)
    expect(upstream.last.headers.get('authorization')).toBe(`Bearer ${KEY}`)
  })

  it('a refused key, a 5xx, a network failure or a timeout is an UpstreamError without the key', async () => {
    const refused = adapter(() => json({ error: { message: 'Invalid API Key provided: sk_test_****cdef', type: 'invalid_request_error' } }, 401))
    const e401 = await failure(refused.stripe.ping(2000))
    expect(e401).toBeInstanceOf(UpstreamError)
    expect(e401.message).toContain('authentication')
    expectNoSecret(e401, KEY, 'cdef', 'sk_test')
    expect(await failure(adapter(() => json({ error: { type: 'api_error', message: KEY } }, 503)).stripe.ping(2000))).toBeInstanceOf(UpstreamError)
    const down = await failure(
      adapter(() => {
        throw new TypeError(`connect failed ${KEY}`)
      }).stripe.ping(2000),
    )
    expect(down).toBeInstanceOf(UpstreamError)
    expectNoSecret(down, KEY)
    const slow = adapter(() => new Promise<Response>((resolve) => setTimeout(() => resolve(json(BALANCE)), 500)))
    expect((await failure(slow.stripe.ping(50))).message).toContain('no answer within 50 ms')
  })
})

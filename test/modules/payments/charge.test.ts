/**
 * The charge API the invoice engineer calls (PaymentMethodsService.charge), and the Stripe
 * processor end to end through the services with Stripe's documented answers fed to an
 * injected fetch: customer created once and kept on the billing account, the method attached,
 * charges with the attempt key as Idempotency-Key, a Stripe outage leaving a top-up pending
 * until a retry finishes it.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { NotFound, UpstreamError, ValidationError } from '../../../src/lib/errors'
import { billingAccountView } from '../../../src/modules/payments/views'
import { TopUpService } from '../../../src/modules/payments/top-up.service'
import { createServices } from '../../../src/services'
import { registerUser } from '../../helpers/api'
import { walletAudit } from '../../helpers/catalog'
import { expectNoSecret, failure, fakeUpstream, json, type Handler } from '../../helpers/upstream'
import { ctxFor } from '../../helpers/context'

const STRIPE_KEY = 'sk_test_51Hx0chargeTestSecretKey9876543210fedcba'

function sandboxServices() {
  return createServices(env as unknown as Env, createExecutionContext())
}

function stripeServices(handler: Handler) {
  const upstream = fakeUpstream(handler)
  const services = createServices({ ...(env as unknown as Env), STRIPE_SECRET_KEY: STRIPE_KEY, STRIPE_API_BASE: 'https://stripe.test' }, createExecutionContext(), { fetch: upstream.fetch })
  return { services, upstream, methods: services.paymentMethods }
}

const charge = (attemptKey: string, paymentMethodId?: string, amount = 12_340_000) => ({ paymentMethodId, amount, currency: 'USD', attemptKey, description: 'Invoice INV-2026-11-000001' })

describe('PaymentMethodsService.charge (sandbox)', () => {
  it('charges the default when no id is given; the same attemptKey gives the same ref', async () => {
    const u = await registerUser()
    const methods = sandboxServices().paymentMethods
    const visa = await methods.add(ctxFor(u.id), { type: 'card', token: 'tok_visa' })
    const amex = await methods.add(ctxFor(u.id), { type: 'card', token: 'tok_amex' })
    const r = await methods.charge(u.id, charge('invpay_inv1_1'))
    expect(r).toEqual({ ok: true, processor: 'sandbox', processorRef: expect.stringMatching(/^ch_sandbox_/), paymentMethodId: visa.id })
    expect(await methods.charge(u.id, charge('invpay_inv1_1'))).toEqual(r)
    const other = await methods.charge(u.id, charge('invpay_inv1_2', amex.id))
    expect(other).toMatchObject({ ok: true, paymentMethodId: amex.id })
    if (other.ok && r.ok) expect(other.processorRef).not.toBe(r.processorRef)
  })

  it('a declined method answers ok: false with the reason', async () => {
    const u = await registerUser()
    const methods = sandboxServices().paymentMethods
    const m = await methods.add(ctxFor(u.id), { type: 'card', token: 'tok_chargeDeclined' })
    expect(await methods.charge(u.id, charge('k1'))).toEqual({ ok: false, processor: 'sandbox', paymentMethodId: m.id, failureReason: 'Your card was declined.' })
  })

  it('NotFound for an unknown, foreign or deleted id; ValidationError without any method; ValidationError for sub-cent amounts', async () => {
    const owner = await registerUser()
    const other = await registerUser()
    const methods = sandboxServices().paymentMethods
    expect(await failure(methods.charge(other.id, charge('k')))).toBeInstanceOf(ValidationError)
    const m = await methods.add(ctxFor(owner.id), { type: 'card', token: 'tok_visa' })
    const foreign = await failure(methods.charge(other.id, charge('k', m.id)))
    expect(foreign).toBeInstanceOf(NotFound)
    expect(foreign.message).toBe('Payment method not found')
    expect(await failure(methods.charge(owner.id, charge('k', 'pm_nope')))).toBeInstanceOf(NotFound)
    expect(await failure(methods.charge(owner.id, charge('k', m.id, 12_345)))).toBeInstanceOf(ValidationError)
    await methods.remove(ctxFor(owner.id), m.id)
    expect(await failure(methods.charge(owner.id, charge('k', m.id)))).toBeInstanceOf(NotFound)
    expect(await failure(methods.charge(owner.id, charge('k')))).toBeInstanceOf(ValidationError)
  })
})

/** A Stripe stand-in answering with the documented objects. */
function stripeHandler(opts: { chargeStatus?: number; declined?: boolean } = {}): Handler {
  return (req) => {
    const p = req.url.pathname
    if (p === '/v1/customers') return json({ id: 'cus_NffrFeUfNV2Hib', object: 'customer', email: new URLSearchParams(req.body).get('email'), livemode: false, metadata: {} })
    const pm = {
      id: 'pm_1Q0PsIJvEtkwdCNYMSaVuRz6',
      object: 'payment_method',
      type: 'card',
      customer: null as string | null,
      card: { brand: 'visa', last4: '4242', exp_month: 8, exp_year: 2027, funding: 'credit', country: 'US' },
      livemode: false,
    }
    if (p === '/v1/payment_methods') return json(pm)
    if (p.endsWith('/attach')) return json({ ...pm, customer: new URLSearchParams(req.body).get('customer') })
    if (p.endsWith('/detach')) return json(pm)
    if (p === '/v1/payment_intents') {
      if (opts.chargeStatus && opts.chargeStatus >= 500) return json({ error: { type: 'api_error', message: "Something went wrong on Stripe's end." } }, opts.chargeStatus)
      if (opts.declined) return json({ error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' } }, 402)
      const f = new URLSearchParams(req.body)
      return json({
        id: 'pi_3MtwBwLkdIwHu7ix28a3tqPa',
        object: 'payment_intent',
        amount: Number(f.get('amount')),
        currency: f.get('currency'),
        customer: f.get('customer'),
        payment_method: f.get('payment_method'),
        status: 'succeeded',
        latest_charge: 'ch_3MtwBwLkdIwHu7ix2mQ6W2Wl',
      })
    }
    return json({ error: { type: 'invalid_request_error', message: `Unrecognized request URL (POST: ${p})` } }, 404)
  }
}

describe('the stripe processor through the services', () => {
  it('creates the Stripe customer once (kept on the billing account), attaches methods, charges with the attempt key', async () => {
    const u = await registerUser()
    const { methods, upstream, services } = stripeServices(stripeHandler())
    const m = await methods.add(ctxFor(u.id), { type: 'credit_card', processor: 'STRIPE', token: 'tok_visa' })
    expect(m).toMatchObject({ processor: 'stripe', processorRef: 'pm_1Q0PsIJvEtkwdCNYMSaVuRz6', brand: 'visa', last4: '4242', expiryMonth: 8, expiryYear: 2027, isDefault: true, isVerified: true })
    expect(upstream.calls.map((c) => c.url.pathname)).toEqual(['/v1/customers', '/v1/payment_methods', '/v1/payment_methods/pm_1Q0PsIJvEtkwdCNYMSaVuRz6/attach'])
    expect(new URLSearchParams(upstream.calls[0]!.body).get('email')).toBe(u.email)
    const account = await env.DB.prepare(`SELECT stripe_customer_id FROM billing_accounts WHERE user_id = ?`).bind(u.id).first<{ stripe_customer_id: string }>()
    expect(account?.stripe_customer_id).toBe('cus_NffrFeUfNV2Hib')

    await methods.add(ctxFor(u.id), { type: 'card', processor: 'stripe', token: 'tok_mastercard' })
    expect(upstream.calls.filter((c) => c.url.pathname === '/v1/customers')).toHaveLength(1)

    const r = await methods.charge(u.id, charge('invpay_inv9_1', m.id, 59_740_000))
    expect(r).toEqual({ ok: true, processor: 'stripe', processorRef: 'pi_3MtwBwLkdIwHu7ix28a3tqPa', paymentMethodId: m.id })
    const pi = upstream.last
    expect(pi.url.pathname).toBe('/v1/payment_intents')
    expect(pi.headers.get('idempotency-key')).toBe('invpay_inv9_1')
    expect(Object.fromEntries(new URLSearchParams(pi.body))).toMatchObject({
      amount: '5974',
      currency: 'usd',
      customer: 'cus_NffrFeUfNV2Hib',
      payment_method: m.processorRef,
      confirm: 'true',
      off_session: 'true',
    })

    // The account shows its Stripe customer.
    expect(billingAccountView(await services.billingAccounts.summary(ctxFor(u.id))).stripeCustomerId).toBe('cus_NffrFeUfNV2Hib')

    await methods.remove(ctxFor(u.id), m.id)
    expect(upstream.last.url.pathname).toBe(`/v1/payment_methods/${m.processorRef}/detach`)
  })

  it('a Stripe decline is ok: false; a Stripe outage is an UpstreamError without the key', async () => {
    const u = await registerUser()
    const declined = stripeServices(stripeHandler({ declined: true }))
    const m = await declined.methods.add(ctxFor(u.id), { type: 'card', processor: 'stripe', token: 'tok_chargeDeclined' })
    expect(await declined.methods.charge(u.id, charge('k1'))).toEqual({ ok: false, processor: 'stripe', paymentMethodId: m.id, failureReason: 'Your card was declined.' })
    const down = stripeServices(stripeHandler({ chargeStatus: 503 }))
    const e = await failure(down.methods.charge(u.id, charge('k2')))
    expect(e).toBeInstanceOf(UpstreamError)
    expectNoSecret(e, STRIPE_KEY)
  })

  it("a stripe method with Stripe no longer configured is a 502, not the client's fault", async () => {
    const u = await registerUser()
    const { methods } = stripeServices(stripeHandler())
    await methods.add(ctxFor(u.id), { type: 'card', processor: 'stripe', token: 'tok_visa' })
    const e = await failure(sandboxServices().paymentMethods.charge(u.id, charge('k')))
    expect(e).toBeInstanceOf(UpstreamError)
  })

  it('a top-up during a Stripe outage stays pending (502); the retry with the same key finishes it and credits once', async () => {
    const u = await registerUser()
    const down = stripeServices(stripeHandler({ chargeStatus: 500 }))
    await down.methods.add(ctxFor(u.id), { type: 'card', processor: 'stripe', token: 'tok_visa' })
    const e = await failure(down.services.topUps.topUp(ctxFor(u.id), { amount: 20_000_000, idempotencyKey: 'outage-key' }))
    expect(e).toBeInstanceOf(UpstreamError)
    const pending = await env.DB.prepare(`SELECT id, status FROM payments WHERE user_id = ?`).bind(u.id).all<{ id: string; status: string }>()
    expect(pending.results).toEqual([{ id: expect.any(String), status: 'pending' }])
    expect(await walletAudit(u.id)).toMatchObject({ balance: 0, entries: 0 })

    const up = stripeServices(stripeHandler())
    const done = await up.services.topUps.topUp(ctxFor(u.id), { amount: 20_000_000, idempotencyKey: 'outage-key' })
    expect(done.payment).toMatchObject({ id: pending.results[0]!.id, status: 'succeeded', processor: 'stripe', processorRef: 'pi_3MtwBwLkdIwHu7ix28a3tqPa' })
    const attemptKey = await TopUpService.attemptKey(u.id, 'outage-key')
    expect(up.upstream.last.headers.get('idempotency-key')).toBe(attemptKey)
    expect(down.upstream.last.headers.get('idempotency-key')).toBe(attemptKey)
    expect(await walletAudit(u.id)).toMatchObject({ balance: 20_000_000, entries: 1 })
  })
})

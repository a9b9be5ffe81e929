/**
 * Stripe as a PaymentProcessor, over its REST API (form-encoded bodies, `Authorization: Bearer
 * sk_…`, JSON answers):
 *
 *   customer  POST {base}/v1/customers                         email, metadata[userId]   (Idempotency-Key customer_<userId>)
 *   method    POST {base}/v1/payment_methods                   type=card, card[token]=tok_…   → {id: "pm_…", card: {brand, last4, exp_month, exp_year, funding}}
 *   attach    POST {base}/v1/payment_methods/{pm}/attach       customer=cus_…
 *   charge    POST {base}/v1/payment_intents                   amount (cents), currency, customer, payment_method,
 *                                                              confirm=true, off_session=true, description   (Idempotency-Key)
 *                                                              → {id: "pi_…", status: "succeeded", latest_charge: "ch_…"}
 *   detach    POST {base}/v1/payment_methods/{pm}/detach
 *   health    GET  {base}/v1/balance                          (system health: is the key accepted?)
 *   errors    {"error": {"type": "card_error", "code": "card_declined", "decline_code": "…", "message": "…"}}
 *
 * Mapping: a `card_error` (HTTP 402) or another request error (400/404) on a charge is a declined
 * charge, `{ok: false}` with Stripe's code, decline code and message; the same on creating or
 * attaching a method is a 400 on `token`. 401/403 (the key), 429, 5xx, a network failure or a
 * timeout are `UpstreamError` (502). The secret key is only ever in the Authorization header:
 * messages never quote it (Stripe's own 401 message does quote part of it, so it is not quoted).
 * Only card tokens are supported here (`btok_…` bank tokens need Stripe's ACH flow).
 */
import { ValidationError, UpstreamError } from '../../lib/errors'
import { isRecord } from '../../lib/json'
import { DEFAULT_TIMEOUT_MS, parseJson, quote, upstreamRequest } from '../numbers/http'
import { toCents, type ChargeOutcome, type ChargeRequest, type CustomerInput, type MethodDetails, type PaymentProcessor } from './types'

export interface StripeOptions {
  secretKey: string
  baseUrl?: string
  fetch: typeof fetch
  timeoutMs?: number
}

interface StripeErrorBody {
  type: string
  code: string | null
  declineCode: string | null
  message: string
}

type Answer = { ok: true; body: Record<string, unknown> } | { ok: false; status: number; error: StripeErrorBody }

const PROVIDER = 'stripe'

export class StripePayments implements PaymentProcessor {
  readonly name = 'stripe'
  private readonly base: string

  constructor(private readonly opts: StripeOptions) {
    this.base = (opts.baseUrl ?? 'https://api.stripe.com').replace(/\/+$/, '')
  }

  async createCustomer(input: CustomerInput): Promise<string> {
    const r = await this.post('create customer', '/v1/customers', { email: input.email, 'metadata[userId]': input.userId }, `customer_${input.userId}`)
    if (!r.ok) throw new UpstreamError(PROVIDER, `create customer: ${r.error.message}`, { operation: 'create customer', code: r.error.code })
    return this.id('create customer', r.body, 'cus_')
  }

  async createMethod(token: string, customerRef?: string | null): Promise<MethodDetails> {
    if (!/^tok_[A-Za-z0-9_]+$/.test(token)) {
      throw ValidationError.field('token', 'Stripe needs a card token (`tok_…`); bank account tokens are not supported with Stripe')
    }
    const created = await this.post('create payment method', '/v1/payment_methods', { type: 'card', 'card[token]': token })
    if (!created.ok) throw tokenRefused(created.error)
    const pm = this.id('create payment method', created.body, 'pm_')
    let body = created.body
    if (customerRef) {
      const attached = await this.post('attach payment method', `/v1/payment_methods/${encodeURIComponent(pm)}/attach`, { customer: customerRef })
      if (!attached.ok) throw tokenRefused(attached.error)
      body = attached.body
    }
    const c = isRecord(body.card) ? body.card : {}
    return {
      type: 'card',
      last4: str(c.last4),
      brand: str(c.brand),
      expiryMonth: typeof c.exp_month === 'number' ? c.exp_month : null,
      expiryYear: typeof c.exp_year === 'number' ? c.exp_year : null,
      bankName: null,
      accountType: str(c.funding),
      processorRef: pm,
      // Stripe checked the card when it was attached to the customer.
      verified: Boolean(customerRef),
    }
  }

  async charge(req: ChargeRequest): Promise<ChargeOutcome> {
    const params: Record<string, string> = {
      amount: String(toCents(req.amount)),
      currency: req.currency.toLowerCase(),
      payment_method: req.processorRef,
      confirm: 'true',
      off_session: 'true',
      description: req.description,
    }
    if (req.customerRef) params.customer = req.customerRef
    const r = await this.post('charge', '/v1/payment_intents', params, req.idempotencyKey)
    if (!r.ok) {
      const e = r.error
      return { ok: false, reason: e.message, code: e.code ?? e.type, ...(e.declineCode ? { declineCode: e.declineCode } : {}) }
    }
    const id = this.id('charge', r.body, 'pi_')
    const status = r.body.status
    if (status === 'succeeded') return { ok: true, ref: id, status: 'succeeded' }
    if (status === 'requires_action') {
      return { ok: false, reason: 'The card needs the customer to authenticate the payment (3-D Secure)', code: 'authentication_required' }
    }
    return { ok: false, reason: `The payment did not complete (status ${typeof status === 'string' ? quote(status, [this.opts.secretKey], 40) : 'unknown'})`, code: 'payment_intent_incomplete' }
  }

  async detach(processorRef: string): Promise<void> {
    const r = await this.post('detach payment method', `/v1/payment_methods/${encodeURIComponent(processorRef)}/detach`, {})
    // Already detached or unknown at Stripe: nothing is attached any more, which is what was asked.
    if (!r.ok && r.status !== 400 && r.status !== 404) {
      throw new UpstreamError(PROVIDER, `detach payment method: ${r.error.message}`, { operation: 'detach payment method', code: r.error.code })
    }
  }

  /**
   * Whether Stripe answers an authenticated read with this key (GET /v1/balance, which moves
   * nothing): resolves when it does, throws UpstreamError otherwise (refused key, 5xx, 429,
   * network, timeout) — never quoting the key. For the system health.
   */
  async ping(timeoutMs = this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS): Promise<void> {
    const operation = 'health check'
    const res = await upstreamRequest(this.opts.fetch, PROVIDER, operation, `${this.base}/v1/balance`, { method: 'GET', headers: { Authorization: `Bearer ${this.opts.secretKey}` } }, timeoutMs)
    if (res.status >= 200 && res.status < 300) return
    if (res.status === 401 || res.status === 403) {
      throw new UpstreamError(PROVIDER, `${operation}: authentication with Stripe failed (check STRIPE_SECRET_KEY)`, { operation, status: res.status })
    }
    throw new UpstreamError(PROVIDER, `${operation}: HTTP ${res.status}`, { operation, status: res.status })
  }

  // ---- the wire -------------------------------------------------------------------------------

  private async post(operation: string, path: string, params: Record<string, string>, idempotencyKey?: string): Promise<Answer> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.opts.secretKey}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    }
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey
    const res = await upstreamRequest(
      this.opts.fetch,
      PROVIDER,
      operation,
      `${this.base}${path}`,
      { method: 'POST', headers, body: new URLSearchParams(params).toString() },
      this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    )
    const body = parseJson(res.text)
    if (res.status >= 200 && res.status < 300) {
      if (!isRecord(body)) throw new UpstreamError(PROVIDER, `${operation}: unexpected answer`, { operation })
      return { ok: true, body }
    }
    if (res.status === 401 || res.status === 403) {
      // Stripe's message names (part of) the key: never quoted.
      throw new UpstreamError(PROVIDER, `${operation}: authentication with Stripe failed (check STRIPE_SECRET_KEY)`, { operation, status: res.status })
    }
    if (res.status === 429) throw new UpstreamError(PROVIDER, `${operation}: rate limited by Stripe`, { operation, status: 429 })
    // 409: a request with this Idempotency-Key is still running at Stripe (idempotency_error). Not
    // a decline — the first request may well charge — so the caller's attempt stays open.
    if (res.status === 409 || (isRecord(body) && isRecord(body.error) && body.error.type === 'idempotency_error')) {
      throw new UpstreamError(PROVIDER, `${operation}: a request with the same idempotency key is in progress at Stripe`, { operation, status: res.status })
    }
    if (res.status >= 500 || !isRecord(body) || !isRecord(body.error)) {
      throw new UpstreamError(PROVIDER, `${operation}: HTTP ${res.status}`, { operation, status: res.status })
    }
    const e = body.error
    return {
      ok: false,
      status: res.status,
      error: {
        type: str(e.type) ?? 'api_error',
        code: str(e.code),
        declineCode: str(e.decline_code),
        message: quote(str(e.message) ?? `HTTP ${res.status}`, [this.opts.secretKey], 200),
      },
    }
  }

  private id(operation: string, body: Record<string, unknown>, prefix: string): string {
    const id = body.id
    if (typeof id !== 'string' || !id.startsWith(prefix)) throw new UpstreamError(PROVIDER, `${operation}: unexpected answer`, { operation })
    return id
  }
}

function tokenRefused(e: StripeErrorBody): ValidationError {
  const code = e.declineCode ?? e.code
  return ValidationError.field('token', `Stripe refused the payment method: ${e.message}${code ? ` (${code})` : ''}`)
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v ? v : null
}

/**
 * The sandbox payment processor: no account, no network, deterministic. It accepts Stripe's
 * documented test tokens and behaves like them:
 *
 *   tok_visa, tok_mastercard, tok_amex            cards that charge fine (last4 4242, 4444, 0005)
 *   tok_chargeDeclined                            adds fine; every charge is declined (`card_declined`)
 *   tok_chargeDeclinedInsufficientFunds           adds fine; every charge is declined (`card_declined`,
 *                                                 decline code `insufficient_funds`)
 *   btok_us_verified                              a verified US bank account (STRIPE TEST BANK, …6789)
 *
 * Any other token is a 400 on `token`. The method's behaviour is written into its ref
 * (`pm_sandbox_<behaviour>_<random>`), and a charge's ref is derived from its idempotency key
 * (`ch_sandbox_<sha256(key)>`), so the same key always gives the same result and ref without
 * keeping any state.
 */
import { sha256Hex } from '../../lib/crypto'
import { ValidationError } from '../../lib/errors'
import { randomSecret } from '../../lib/ids'
import { toCents, type ChargeOutcome, type ChargeRequest, type CustomerInput, type MethodDetails, type PaymentProcessor } from './types'

type Behaviour = 'visa' | 'mastercard' | 'amex' | 'declined' | 'insufficient' | 'bank'

/** Expiry of every sandbox card (Stripe's test cards take any future date). */
export const SANDBOX_CARD_EXPIRY = { month: 12, year: 2034 }

const card = (brand: string, last4: string) => ({
  type: 'card' as const,
  last4,
  brand,
  expiryMonth: SANDBOX_CARD_EXPIRY.month,
  expiryYear: SANDBOX_CARD_EXPIRY.year,
  bankName: null,
  accountType: null,
  verified: true,
})

export const SANDBOX_TOKENS: Record<string, { behaviour: Behaviour; details: Omit<MethodDetails, 'processorRef'> }> = {
  tok_visa: { behaviour: 'visa', details: card('visa', '4242') },
  tok_mastercard: { behaviour: 'mastercard', details: card('mastercard', '4444') },
  tok_amex: { behaviour: 'amex', details: card('amex', '0005') },
  tok_chargeDeclined: { behaviour: 'declined', details: card('visa', '0002') },
  tok_chargeDeclinedInsufficientFunds: { behaviour: 'insufficient', details: card('visa', '9995') },
  btok_us_verified: {
    behaviour: 'bank',
    details: { type: 'bank_account', last4: '6789', brand: null, expiryMonth: null, expiryYear: null, bankName: 'STRIPE TEST BANK', accountType: 'checking', verified: true },
  },
}

const DECLINES: Partial<Record<Behaviour, Extract<ChargeOutcome, { ok: false }>>> = {
  declined: { ok: false, reason: 'Your card was declined.', code: 'card_declined', declineCode: 'generic_decline' },
  insufficient: { ok: false, reason: 'Your card has insufficient funds.', code: 'card_declined', declineCode: 'insufficient_funds' },
}

const REF = /^pm_sandbox_(visa|mastercard|amex|declined|insufficient|bank)_[A-Za-z0-9]+$/

export class SandboxPayments implements PaymentProcessor {
  readonly name = 'sandbox'

  async createCustomer(input: CustomerInput): Promise<string> {
    return `cus_sandbox_${(await sha256Hex(input.userId)).slice(0, 24)}`
  }

  async createMethod(token: string): Promise<MethodDetails> {
    const known = Object.hasOwn(SANDBOX_TOKENS, token) ? SANDBOX_TOKENS[token] : undefined
    if (!known) {
      throw ValidationError.field('token', `Unknown sandbox token; use one of ${Object.keys(SANDBOX_TOKENS).join(', ')}`)
    }
    return { ...known.details, processorRef: `pm_sandbox_${known.behaviour}_${randomSecret(12)}` }
  }

  async charge(req: ChargeRequest): Promise<ChargeOutcome> {
    toCents(req.amount)
    const m = REF.exec(req.processorRef)
    if (!m) return { ok: false, reason: 'No such payment method', code: 'resource_missing' }
    const decline = DECLINES[m[1] as Behaviour]
    if (decline) return { ...decline }
    return { ok: true, ref: `ch_sandbox_${(await sha256Hex(req.idempotencyKey)).slice(0, 32)}`, status: 'succeeded' }
  }

  async detach(): Promise<void> {}
}

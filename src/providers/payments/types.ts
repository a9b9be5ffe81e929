/**
 * A payment processor: turns a client-side token into a stored payment method, charges it, and
 * detaches it. Implementations: the sandbox (deterministic, no network, Stripe's test tokens) and
 * Stripe (REST API). Amounts are micro-units and must be whole cents; processors throw otherwise.
 *
 * `charge` is idempotent by `idempotencyKey`: the same key gives the same outcome and ref, so a
 * caller that crashed after charging can ask again without charging twice. A decline is a result
 * (`ok: false`), not an exception; an unreachable or failing processor throws `UpstreamError`.
 */
import { ValidationError } from '../../lib/errors'

export type MethodKind = 'card' | 'bank_account'

export interface MethodDetails {
  type: MethodKind
  last4: string | null
  brand: string | null
  expiryMonth: number | null
  expiryYear: number | null
  bankName: string | null
  accountType: string | null
  /** The processor's id for the method (`pm_…`, `pm_sandbox_…`). */
  processorRef: string
  verified: boolean
}

export interface ChargeRequest {
  processorRef: string
  /** The processor's customer (`cus_…`); Stripe needs it for an attached method. */
  customerRef?: string | null
  /** Micro-units, > 0, whole cents. */
  amount: number
  /** ISO 4217, e.g. `USD`. */
  currency: string
  idempotencyKey: string
  description: string
}

export type ChargeOutcome =
  | { ok: true; ref: string; status: 'succeeded' }
  | {
      ok: false
      /** Human-readable, safe to show (no credentials). */
      reason: string
      /** Machine code, Stripe's `error.code` (`card_declined`, `expired_card`, …). */
      code: string
      /** Stripe's `decline_code`, when there is one (`insufficient_funds`, `generic_decline`, …). */
      declineCode?: string
    }

export interface CustomerInput {
  userId: string
  email: string
}

export interface PaymentProcessor {
  readonly name: string
  /** The processor's customer for an account (created once; idempotent by the account id). */
  createCustomer(input: CustomerInput): Promise<string>
  /** Turns a token into a method (attached to `customerRef` when given). Bad token: `ValidationError` on `token`. */
  createMethod(token: string, customerRef?: string | null): Promise<MethodDetails>
  charge(req: ChargeRequest): Promise<ChargeOutcome>
  /** Detaches the method at the processor; one already gone counts as detached. */
  detach(processorRef: string): Promise<void>
}

/** Micro-units per cent. */
/**
 * How long a pending attempt may still be sent to a processor under its idempotency key:
 * processors keep keys about 24 hours (Stripe: 24 h), after which the same key would charge anew.
 */
export const STALE_CLAIM_MS = 23 * 3_600_000

export const MICROS_PER_CENT = 10_000

/** The amount in cents; throws when it is not a positive whole number of cents. */
export function toCents(amount: number): number {
  if (!Number.isSafeInteger(amount) || amount <= 0 || amount % MICROS_PER_CENT !== 0) {
    throw ValidationError.field('amount', 'A charge must be a positive whole number of cents')
  }
  return amount / MICROS_PER_CENT
}

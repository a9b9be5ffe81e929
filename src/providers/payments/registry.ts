/**
 * Which processor a payment method uses: `sandbox` (the default, always there) or `stripe`
 * (only when STRIPE_SECRET_KEY is configured). Names are accepted in any case.
 */
import { ValidationError } from '../../lib/errors'
import { SandboxPayments } from './sandbox'
import { StripePayments } from './stripe'
import type { PaymentProcessor } from './types'

export const PROCESSORS = ['sandbox', 'stripe'] as const
export type ProcessorName = (typeof PROCESSORS)[number]

export interface ProcessorDeps {
  config: { STRIPE_SECRET_KEY?: string; STRIPE_API_BASE?: string }
  fetch: typeof fetch
}

/** The canonical (lower-case) name, or a 400 on `processor`. */
export function processorName(value: string | undefined): ProcessorName {
  const name = (value ?? 'sandbox').trim().toLowerCase()
  if ((PROCESSORS as readonly string[]).includes(name)) return name as ProcessorName
  throw ValidationError.field('processor', `Unknown payment processor '${value}'; use one of ${PROCESSORS.join(', ')}`)
}

export function paymentProcessor(name: string, deps: ProcessorDeps): PaymentProcessor {
  const canonical = processorName(name)
  if (canonical === 'sandbox') return new SandboxPayments()
  const secretKey = deps.config.STRIPE_SECRET_KEY
  if (!secretKey) throw ValidationError.field('processor', 'The stripe processor is not configured on this server (STRIPE_SECRET_KEY); use sandbox')
  return new StripePayments({ secretKey, baseUrl: deps.config.STRIPE_API_BASE, fetch: deps.fetch })
}

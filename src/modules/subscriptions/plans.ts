/**
 * Plans and usage rates of usage billing, in micro-units.
 *
 * Rates: call minute $0.05, SMS $0.01, API call $0.001. Monthly fees: basic $9.99, pro $29.99,
 * enterprise $99.99.
 *
 * What each plan includes follows from the pro plan's reference invoice (the demo's month, and
 * the figure the tests pin): 425 call minutes, 1,150 SMS and 5,900 API calls cost a usage fee of
 * $29.75, while the bare rates give $38.65. Pro therefore includes API calls without limit and
 * 300 SMS a month: 425 × 0.05 + (1,150 − 300) × 0.01 = 21.25 + 8.50 = 29.75, and with the fee 59.74.
 * Enterprise includes more; basic includes nothing.
 */
import { toMicros } from '../../lib/money'

/**
 * Prices of SIM quota top-ups (the SIM API), paid from the wallet when the top-up is made: data per
 * started MiB (1,048,576 bytes), SMS per message. The same for every plan.
 */
export const SIM_TOPUP_RATES = {
  dataPerMiB: toMicros(0.02),
  sms: toMicros(0.01),
} as const

/**
 * Prices of one outbound message (the messaging API) by connector type, held at send and taken
 * when the connector accepts: an SMS through Twilio at the SMS rate above ($0.01), a WhatsApp
 * message $0.005, a Telegram message $0.001, the sandbox $0.001 (so the demo shows the money move).
 * The same for every plan.
 */
export const MESSAGE_RATES = {
  twilio: toMicros(0.01),
  whatsapp: toMicros(0.005),
  telegram: toMicros(0.001),
  sandbox: toMicros(0.001),
} as const

export type PlanCode = 'basic' | 'pro' | 'enterprise'
export type Metric = 'callMinutes' | 'smsCount' | 'apiCalls'

export const RATES: Record<Metric, number> = {
  callMinutes: toMicros(0.05),
  smsCount: toMicros(0.01),
  apiCalls: toMicros(0.001),
}

/** Units included each month; `Infinity` means the metric is not charged on that plan. */
export interface Plan {
  code: PlanCode
  name: string
  monthlyFee: number
  included: Record<Metric, number>
}

export const PLANS: Record<PlanCode, Plan> = {
  basic: { code: 'basic', name: 'Basic', monthlyFee: toMicros(9.99), included: { callMinutes: 0, smsCount: 0, apiCalls: 0 } },
  pro: { code: 'pro', name: 'Pro', monthlyFee: toMicros(29.99), included: { callMinutes: 0, smsCount: 300, apiCalls: Infinity } },
  enterprise: {
    code: 'enterprise',
    name: 'Enterprise',
    monthlyFee: toMicros(99.99),
    included: { callMinutes: 500, smsCount: 2000, apiCalls: Infinity },
  },
}

export type Usage = Record<Metric, number>

export interface UsageCharge {
  metric: Metric
  quantity: number
  included: number
  billable: number
  unitPrice: number
  total: number
}

/** The usage part of a month's bill on `plan` (no plan: every unit at the bare rate). */
export function usageCharges(usage: Usage, plan: Plan | null): { lines: UsageCharge[]; total: number } {
  const lines = (Object.keys(RATES) as Metric[]).map((metric) => {
    const quantity = usage[metric]
    const included = plan?.included[metric] ?? 0
    const billable = Math.max(0, quantity - Math.min(quantity, included))
    return { metric, quantity, included: Math.min(quantity, included), billable, unitPrice: RATES[metric], total: billable * RATES[metric] }
  })
  return { lines, total: lines.reduce((s, l) => s + l.total, 0) }
}

/** Subscription fee + usage, the two figures of usage billing's invoice (`subscriptionFee`, `usageFee`, `amount`). */
export function monthlyBill(usage: Usage, plan: Plan | null) {
  const usageFee = usageCharges(usage, plan).total
  const subscriptionFee = plan?.monthlyFee ?? 0
  return { subscriptionFee, usageFee, amount: subscriptionFee + usageFee }
}

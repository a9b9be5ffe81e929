/**
 * What a month's invoice says, computed from the account's subscription history and usage rows
 * (pure: no I/O). Amounts are micro-units; every line total is rounded half-up (away from zero)
 * to whole cents, because invoices are in cents.
 *
 * Which plan applies:
 * - The subscription fee is the full monthly fee of the plan in force at the start of the month
 *   (00:00 UTC on the 1st). A subscription that starts (or restarts) during the month pays the
 *   full fee of the plan it started with — there is no pro-rating down; plan upgrades are billed
 *   by their own `subscription_proration` rows, one line each. No fee when no subscription was
 *   in force at any time of the month (none, or cancelled before the month began).
 * - Usage is priced with the plan in force at the end of the month; a subscription cancelled
 *   during the month keeps the plan it had last (its fee was billed in full), and with no plan
 *   at all every unit is at the bare rates.
 *
 * Which instants a plan is "in force": the last `subscription_changes` row at or before the
 * instant (a `cancelled` status means none). Without change rows, the `subscriptions` row alone:
 * its plan from `startDate` until `cancelledAt`.
 */
import type { UsageType } from '../../db/schema'
import { PLANS, usageCharges, type Metric, type PlanCode } from '../subscriptions/plans'
import { DAY_MS } from '../../lib/time'

export const CENT = 10_000

/** Half-up (away from zero) to whole cents. */
export function roundCents(micros: number): number {
  const sign = micros < 0 ? -1 : 1
  return sign * Math.floor((Math.abs(micros) + CENT / 2) / CENT) * CENT
}

export interface MonthPeriod {
  month: string
  /** 1st, 00:00 UTC. */
  start: number
  /** The next month's 1st, 00:00 UTC (exclusive). */
  end: number
  /** The last day, 00:00 UTC — the invoice's `periodEnd`. */
  lastDay: number
  /** 7 days after `lastDay` (November 2024 → 2024-12-07). */
  due: number
}

export function monthPeriod(month: string): MonthPeriod {
  const [y, m] = month.split('-').map(Number) as [number, number]
  const start = Date.UTC(y, m - 1, 1)
  const end = Date.UTC(y, m, 1)
  const lastDay = end - DAY_MS
  return { month, start, end, lastDay, due: lastDay + 7 * DAY_MS }
}

const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
export function monthName(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return `${MONTH_NAMES[m - 1]} ${y}`
}

// ---- subscription history -------------------------------------------------------------------

export interface SubscriptionRow {
  plan: PlanCode
  status: 'active' | 'cancelled' | 'past_due'
  startDate: Date
  cancelledAt: Date | null
}

export interface ChangeRow {
  toPlan: PlanCode
  toStatus: string
  at: Date
}

export function planAt(t: number, sub: SubscriptionRow | null, changes: ChangeRow[]): PlanCode | null {
  if (!sub) return null
  if (changes.length) {
    let last: ChangeRow | undefined
    for (const c of changes) if (c.at.getTime() <= t) last = c
    if (!last) return null
    return last.toStatus === 'cancelled' ? null : last.toPlan
  }
  if (sub.startDate.getTime() > t) return null
  if (sub.cancelledAt && sub.cancelledAt.getTime() <= t) return null
  if (sub.status === 'cancelled' && !sub.cancelledAt) return null
  return sub.plan
}

/** The plans in force across the month: at its start, whenever it changed inside it, and at its last instant. */
export function plansOfMonth(p: MonthPeriod, sub: SubscriptionRow | null, changes: ChangeRow[]) {
  if (!sub) return { feePlan: null, usagePlan: null, inForce: false }
  const inside = [...changes.map((c) => c.at.getTime()), sub.startDate.getTime(), sub.cancelledAt?.getTime() ?? 0].filter((t) => t > p.start && t < p.end)
  const instants = [...new Set([p.start, ...inside, p.end - 1])].sort((a, b) => a - b)
  const states = instants.map((t) => planAt(t, sub, changes))
  const feePlan = states.find((s) => s !== null) ?? null
  const usagePlan = [...states].reverse().find((s) => s !== null) ?? null
  return { feePlan, usagePlan, inForce: feePlan !== null }
}

// ---- usage ----------------------------------------------------------------------------------

/** Usage rows of the month, summed per type and key (the number for DID fees, the row for prorations). */
export interface UsageGroup {
  resourceType: UsageType
  /** did_monthly: the phone number id; subscription_proration: the row id; otherwise null. */
  key: string | null
  quantity: number
  totalCost: number
  prepaidCost: number
  unitPrice: number
  description: string | null
  occurredAt: number
}

export interface ComposedLine {
  type: 'usage' | 'subscription' | 'one_time' | 'tax' | 'discount'
  description: string
  quantity: number
  unitPrice: number
  totalPrice: number
  details: Record<string, unknown>
}

export interface ComposedInvoice {
  lines: ComposedLine[]
  subtotal: number
  tax: number
  total: number
  subscriptionFee: number
  usageFee: number
  /** What the lines of prepaid rows already took from the wallet. */
  prepaid: number
  breakdown: { callMinutes: number; smsCount: number; apiCalls: number }
  /** Neither usage rows nor a subscription in force: nothing to invoice. */
  empty: boolean
}

const METRIC_OF: Partial<Record<UsageType, Metric>> = { call_minutes: 'callMinutes', sms: 'smsCount', api_calls: 'apiCalls' }
const METRIC_LABEL: Record<Metric, { text: string; type: UsageType }> = {
  callMinutes: { text: 'Call minutes', type: 'call_minutes' },
  smsCount: { text: 'SMS messages', type: 'sms' },
  apiCalls: { text: 'API calls', type: 'api_calls' },
}

export interface ComposeInput {
  period: MonthPeriod
  subscription: SubscriptionRow | null
  changes: ChangeRow[]
  usage: UsageGroup[]
  /** Phone number id → E.164, for DID fee descriptions. */
  numbers: Map<string, string>
  taxRatePercent: number
}

export function composeInvoice(input: ComposeInput): ComposedInvoice {
  const { period, usage } = input
  const { feePlan, usagePlan, inForce } = plansOfMonth(period, input.subscription, input.changes)
  const lines: ComposedLine[] = []
  let prepaid = 0
  const label = monthName(period.month)

  // Subscription: the plan's fee, then one line per upgrade charge.
  let subscriptionFee = 0
  if (feePlan) {
    const plan = PLANS[feePlan]
    lines.push({
      type: 'subscription',
      description: `${plan.name} plan - monthly fee (${label})`,
      quantity: 1,
      unitPrice: plan.monthlyFee,
      totalPrice: plan.monthlyFee,
      details: { resourceType: 'subscription', plan: plan.code },
    })
    subscriptionFee += plan.monthlyFee
  }
  const byType = (t: UsageType) => usage.filter((g) => g.resourceType === t).sort((a, b) => a.occurredAt - b.occurredAt || String(a.key).localeCompare(String(b.key)))
  for (const g of byType('subscription_proration')) {
    const total = roundCents(g.totalCost)
    lines.push({
      type: 'subscription',
      description: g.description ?? 'Plan change - prorated charge',
      quantity: 1,
      unitPrice: total,
      totalPrice: total,
      details: { resourceType: 'subscription_proration', resourceId: g.key ?? undefined },
    })
    subscriptionFee += total
    prepaid += roundCents(g.prepaidCost)
  }

  // DID monthly fees, one line per number.
  for (const g of byType('did_monthly').sort((a, b) => (input.numbers.get(a.key ?? '') ?? '').localeCompare(input.numbers.get(b.key ?? '') ?? ''))) {
    const e164 = g.key ? input.numbers.get(g.key) : undefined
    lines.push({
      type: 'subscription',
      description: `Phone number ${e164 ?? g.key ?? 'unknown'} - monthly fee`,
      quantity: g.quantity,
      unitPrice: g.unitPrice,
      totalPrice: roundCents(g.totalCost),
      details: { resourceType: 'did_number', resourceId: g.key ?? undefined },
    })
    prepaid += roundCents(g.prepaidCost)
  }

  // Usage: the three usage-billing metrics, priced with the plan's included units.
  const raw = { callMinutes: 0, smsCount: 0, apiCalls: 0 }
  const seen = new Set<Metric>()
  for (const g of usage) {
    const metric = METRIC_OF[g.resourceType]
    if (!metric) continue
    raw[metric] += g.quantity
    seen.add(metric)
  }
  const charges = usageCharges({ callMinutes: Math.max(0, raw.callMinutes), smsCount: Math.max(0, raw.smsCount), apiCalls: Math.max(0, raw.apiCalls) }, usagePlan ? PLANS[usagePlan] : null)
  let usageFee = 0
  for (const c of charges.lines) {
    if (!seen.has(c.metric)) continue
    const total = roundCents(c.total)
    lines.push({
      type: 'usage',
      description: METRIC_LABEL[c.metric].text,
      quantity: c.billable,
      unitPrice: c.unitPrice,
      totalPrice: total,
      details: { resourceType: METRIC_LABEL[c.metric].type, usageDetails: { quantity: c.quantity, included: c.included, billable: c.billable } },
    })
    usageFee += total
  }

  // One-time purchases (net of refunds), already paid from the wallet.
  const oneTime: [UsageType, string][] = [
    ['activation', 'SMS activations'],
    ['did_purchase', 'Phone number purchases (setup and first month)'],
    ['sim_data_topup', 'SIM data top-ups (MiB)'],
    ['sim_sms_topup', 'SIM SMS top-ups'],
    ['message', 'Messages sent (WhatsApp, Telegram, SMS)'],
  ]
  for (const [type, description] of oneTime) {
    const groups = byType(type)
    if (!groups.length) continue
    const quantity = groups.reduce((s, g) => s + g.quantity, 0)
    const total = roundCents(groups.reduce((s, g) => s + g.totalCost, 0))
    lines.push({
      type: 'one_time',
      description,
      quantity,
      // An average when the purchases had different prices.
      unitPrice: quantity !== 0 ? Math.round(total / quantity) : 0,
      totalPrice: total,
      details: { resourceType: type },
    })
    prepaid += roundCents(groups.reduce((s, g) => s + g.prepaidCost, 0))
  }

  const subtotal = lines.reduce((s, l) => s + l.totalPrice, 0)
  const tax = input.taxRatePercent > 0 && subtotal > 0 ? roundCents((subtotal * input.taxRatePercent) / 100) : 0
  if (tax !== 0) {
    lines.push({ type: 'tax', description: `Tax (${input.taxRatePercent}%)`, quantity: 1, unitPrice: tax, totalPrice: tax, details: { rate: input.taxRatePercent } })
  }
  return {
    lines,
    subtotal,
    tax,
    total: subtotal + tax,
    subscriptionFee,
    usageFee,
    prepaid,
    breakdown: raw,
    empty: usage.length === 0 && !inForce,
  }
}

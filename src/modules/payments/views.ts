/** The billing account's answer, shaped from the record BillingAccountService.summary returns. */
import type { z } from '@hono/zod-openapi'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import type { BillingAccountSummary } from './billing-account.service'
import type { AutoTopUpView, BILLING_CYCLES, BillingAccountView } from './schemas'

function autoTopUpView(s: BillingAccountSummary): z.infer<typeof AutoTopUpView> {
  const a = s.account
  const last = s.lastAutoTopUp
  return {
    enabled: a.autoTopUpEnabled,
    threshold: a.autoTopUpThreshold === null ? null : fromMicros(a.autoTopUpThreshold),
    amount: a.autoTopUpAmount === null ? null : fromMicros(a.autoTopUpAmount),
    paymentMethodId: a.autoTopUpPaymentMethodId,
    lastTopUp: last ? { date: last.day, status: last.payment.status, amount: fromMicros(last.payment.amount), paymentId: last.payment.id, failureReason: last.payment.failureReason } : null,
  }
}

/** GET and PUT /api/v1/billing/account. `isSuspended` covers banned accounts too; the status reason is shown only then. */
export function billingAccountView(s: BillingAccountSummary): z.infer<typeof BillingAccountView> {
  const { account } = s
  const suspended = s.status === 'suspended' || s.status === 'banned'
  return {
    id: account.id,
    company: account.company,
    taxId: account.taxId,
    billingAddress: account.billingAddress as Record<string, string>,
    accountBalance: fromMicros(s.balance),
    creditLimit: account.creditLimit === null ? null : fromMicros(account.creditLimit),
    currency: account.currency,
    autoPayEnabled: account.autoPayEnabled,
    autoTopUp: autoTopUpView(s),
    defaultPaymentMethod: s.defaultPaymentMethodId,
    billingCycle: account.billingCycle as (typeof BILLING_CYCLES)[number],
    nextBillingDate: iso(s.nextBillingDate),
    isActive: s.status === 'active',
    isSuspended: suspended,
    suspensionReason: suspended ? s.statusReason : null,
    stripeCustomerId: account.stripeCustomerId,
    paypalCustomerId: account.paypalCustomerId,
    createdAt: iso(account.createdAt)!,
    updatedAt: iso(account.updatedAt)!,
  }
}

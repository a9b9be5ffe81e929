import { z } from '@hono/zod-openapi'
import type { paymentMethods, payments } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { displayText } from '../../lib/text'
import { iso } from '../../lib/time'
import { Instant, Money, money } from '../../lib/http'

type PaymentMethodRow = typeof paymentMethods.$inferSelect

export const BillingAddress = z
  .object({
    line1: displayText({ max: 200 }).optional(),
    line2: displayText({ max: 200 }).optional(),
    street: displayText({ max: 200 }).optional(),
    city: displayText({ max: 100 }).optional(),
    state: displayText({ max: 100 }).optional(),
    postalCode: displayText({ max: 20 }).optional(),
    country: displayText({ max: 60 }).optional(),
  })
  .catchall(displayText({ max: 200 }))
  .openapi('BillingAddress')

export const PAYMENT_METHOD_TYPES = ['credit_card', 'debit_card', 'bank_account'] as const
export type PaymentMethodType = (typeof PAYMENT_METHOD_TYPES)[number]

export const BILLING_CYCLES = ['MONTHLY'] as const

// ---- billing account ------------------------------------------------------------------------

/** The largest single top-up by payment method, in USD. */
export const MAX_TOP_UP = 10_000
/** The highest automatic top-up threshold, in USD. */
export const MAX_AUTO_TOP_UP_THRESHOLD = 100_000

const wholeCents = (x: number) => Math.round(x * 100) / 100 === x

export const AutoTopUpView = z
  .object({
    enabled: z.boolean(),
    threshold: z
      .number()
      .nullable()
      .openapi(money({ example: 10, description: 'A top-up is made when the available balance is below it' })),
    amount: z
      .number()
      .nullable()
      .openapi(money({ example: 25, description: 'Charged and credited by each automatic top-up' })),
    paymentMethodId: z.string().nullable().openapi({ description: 'The method charged; null: the default payment method at the time' }),
    lastTopUp: z
      .object({
        date: z.string().openapi({ example: '2026-12-01', description: 'The UTC day of the attempt' }),
        status: z.enum(['pending', 'succeeded', 'failed', 'refunded']),
        amount: Money,
        paymentId: z.string(),
        failureReason: z.string().nullable(),
      })
      .nullable()
      .openapi({ description: 'The latest automatic top-up (its payment is in the payment history too)' }),
  })
  .openapi('AutoTopUp')

export const AutoTopUpUpdate = z
  .object({
    enabled: z.boolean().optional(),
    threshold: z
      .number()
      .positive()
      .max(MAX_AUTO_TOP_UP_THRESHOLD)
      .refine(wholeCents, { message: 'threshold has at most 2 decimal places (whole cents)' })
      .optional()
      .openapi(money({ example: 10, description: `> 0, at most ${MAX_AUTO_TOP_UP_THRESHOLD}, whole cents` })),
    amount: z
      .number()
      .positive()
      .max(MAX_TOP_UP)
      .refine(wholeCents, { message: 'amount has at most 2 decimal places (whole cents)' })
      .optional()
      .openapi(money({ example: 25, description: `> 0, at most ${MAX_TOP_UP}, whole cents` })),
    paymentMethodId: z.string().min(1).max(64).nullable().optional().openapi({ description: 'A payment method of the account; null: its default method' }),
  })
  .strict()
  .openapi('AutoTopUpUpdate')
export type AutoTopUpUpdate = z.infer<typeof AutoTopUpUpdate>

export const BillingAccountView = z
  .object({
    id: z.string().openapi({ example: 'ba_01jd6q0000a1b2c3d4e5f6g7h8' }),
    company: z.string().nullable(),
    taxId: z.string().nullable(),
    billingAddress: BillingAddress,
    accountBalance: z.number().openapi(money({ example: 25.5, description: 'The wallet balance, in `currency`' })),
    creditLimit: z.number().nullable().openapi(money()),
    currency: z.string().openapi({ example: 'USD' }),
    autoPayEnabled: z.boolean(),
    autoTopUp: AutoTopUpView,
    defaultPaymentMethod: z.string().nullable().openapi({ description: 'Id of the default payment method' }),
    billingCycle: z.enum(BILLING_CYCLES),
    nextBillingDate: Instant.nullable().openapi({ example: '2026-12-01T00:00:00.000Z', description: 'The 1st of next month, 00:00 UTC (invoices are monthly)' }),
    isActive: z.boolean(),
    isSuspended: z.boolean(),
    suspensionReason: z.string().nullable(),
    stripeCustomerId: z.string().nullable(),
    paypalCustomerId: z.string().nullable(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('BillingAccountResponse')

export const UpdateBillingAccountBody = z
  .object({
    company: displayText({ max: 200 }).nullable().optional(),
    taxId: displayText({ max: 64 }).nullable().optional(),
    billingAddress: BillingAddress.optional().openapi({ description: 'Replaces the whole address' }),
    autoPayEnabled: z.boolean().optional(),
    autoTopUp: AutoTopUpUpdate.optional().openapi({ description: 'Only the fields sent change' }),
    billingCycle: z.string().optional().openapi({ description: '`MONTHLY` (any case); invoices are monthly, so no other cycle is offered' }),
  })
  .strict()
  .openapi('UpdateBillingAccountRequest')
export type UpdateBillingAccountBody = z.infer<typeof UpdateBillingAccountBody>

// ---- payment methods ------------------------------------------------------------------------

export const PaymentMethodView = z
  .object({
    id: z.string().openapi({ example: 'pm_01jd6q0000a1b2c3d4e5f6g7h8' }),
    type: z.enum(PAYMENT_METHOD_TYPES),
    processor: z.string().openapi({ example: 'sandbox', description: '`sandbox` or `stripe`' }),
    last4: z.string().optional().openapi({ example: '4242' }),
    brand: z.string().optional().openapi({ example: 'visa' }),
    expiryMonth: z.number().int().optional().openapi({ example: 12 }),
    expiryYear: z.number().int().optional().openapi({ example: 2034 }),
    bankName: z.string().optional(),
    accountType: z.string().optional(),
    isDefault: z.boolean(),
    isVerified: z.boolean(),
    isActive: z.boolean(),
    createdAt: Instant,
  })
  .openapi('PaymentMethod')

export function paymentMethodView(m: PaymentMethodRow): z.infer<typeof PaymentMethodView> {
  const v: z.infer<typeof PaymentMethodView> = {
    id: m.id,
    type: m.type as PaymentMethodType,
    processor: m.processor,
    isDefault: m.isDefault,
    isVerified: m.isVerified,
    isActive: m.isActive && m.deletedAt === null,
    createdAt: iso(m.createdAt)!,
  }
  if (m.last4 !== null) v.last4 = m.last4
  if (m.brand !== null) v.brand = m.brand
  if (m.expiryMonth !== null) v.expiryMonth = m.expiryMonth
  if (m.expiryYear !== null) v.expiryYear = m.expiryYear
  if (m.bankName !== null) v.bankName = m.bankName
  if (m.accountType !== null) v.accountType = m.accountType
  return v
}

export const AddPaymentMethodBody = z
  .object({
    type: z.string().min(1).max(32).openapi({
      example: 'credit_card',
      description: '`credit_card`, `debit_card` (or `card`) for a card token, `bank_account` for a bank token; any case',
    }),
    processor: z.string().min(1).max(32).optional().openapi({ example: 'sandbox', description: '`sandbox` (default) or `stripe`; any case' }),
    token: z.string().min(1).max(255).openapi({ example: 'tok_visa', description: "The processor's token for the card or bank account" }),
    makeDefault: z.boolean().optional(),
    billingAddress: BillingAddress.optional(),
  })
  .openapi('AddPaymentMethodRequest')
export type AddPaymentMethodBody = z.infer<typeof AddPaymentMethodBody>

export const PaymentMethodIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'pm_01jd6q0000a1b2c3d4e5f6g7h8', description: 'The payment method id' }),
})

// ---- payments ---------------------------------------------------------------------------------

export const PaymentView = z
  .object({
    id: z.string().openapi({ example: 'pay_01jd6q0000a1b2c3d4e5f6g7h8' }),
    purpose: z.enum(['invoice', 'wallet_topup']),
    invoiceId: z.string().nullable(),
    amount: z.number().openapi(money({ example: 25 })),
    currency: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed', 'refunded']),
    processor: z.string(),
    paymentMethodId: z.string().nullable(),
    processorRef: z.string().nullable(),
    failureReason: z.string().nullable(),
    processedAt: Instant.nullable(),
    createdAt: Instant,
  })
  .openapi('Payment')

export function paymentView(p: typeof payments.$inferSelect): z.infer<typeof PaymentView> {
  return {
    id: p.id,
    purpose: p.purpose,
    invoiceId: p.invoiceId,
    amount: fromMicros(p.amount),
    currency: p.currency,
    status: p.status,
    processor: p.processor,
    paymentMethodId: p.paymentMethodId,
    processorRef: p.processorRef,
    failureReason: p.failureReason,
    processedAt: iso(p.processedAt),
    createdAt: iso(p.createdAt)!,
  }
}

export const TopUpBody = z
  .object({
    amount: z
      .number()
      .positive()
      .max(MAX_TOP_UP)
      .refine(wholeCents, { message: 'amount has at most 2 decimal places (whole cents)' })
      .openapi(money({ example: 25, description: `> 0, at most ${MAX_TOP_UP}, whole cents (at most 2 decimal places)` })),
    paymentMethodId: z.string().min(1).max(64).optional().openapi({ description: "Default: the account's default payment method" }),
  })
  .openapi('WalletTopUpByPaymentMethodRequest')

import { z } from '@hono/zod-openapi'
import type { Activation } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import { billingView } from './settlement'
import { Instant, money } from '../../lib/http'

export const ACTIVATION_STATUSES = ['active', 'sms_received', 'completed', 'cancelled', 'expired'] as const

export const PurchaseBody = z
  .object({
    countryCode: z.string().trim().min(2).max(8).openapi({ example: 'us', description: 'ISO 3166-1 alpha-2 (case-insensitive)' }),
    serviceCode: z.string().trim().min(1).max(64).openapi({ example: 'telegram' }),
    provider: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .openapi({ example: 'herosms', description: 'Provider code. Without it the cheapest healthy provider is used, falling back to the next one when it has no numbers.' }),
  })
  .openapi('PurchaseNumberRequest')

export const ActivationBilling = z.enum(['captured', 'refund_pending', 'refunded', 'unbilled']).openapi({
  description:
    '`captured` (paid); `refund_pending` (cancelled or expired without SMS: the refund is on its way to the wallet) then ' +
    '`refunded`; `unbilled` (the price is not collected: SMS that arrive are withheld — no code, no text, no `sms.received` — ' +
    'until the wallet can pay, and shown the moment it does)',
})

export const ActivationView = z
  .object({
    id: z.string().openapi({ example: 'num_01jd6q0000a1b2c3d4e5f6g7h8' }),
    phone: z.string().openapi({ example: '+12025551234' }),
    status: z.enum(ACTIVATION_STATUSES).openapi({ description: 'active → sms_received → completed; or cancelled / expired (refunded)' }),
    billing: ActivationBilling,
    price: z.number().openapi(money({ example: 0.5 })),
    currency: z.literal('USD'),
    serviceCode: z.string().openapi({ example: 'telegram' }),
    countryCode: z.string().openapi({ example: 'us' }),
    provider: z.string().openapi({ example: 'sandbox', description: 'Provider code' }),
    code: z.string().nullable().openapi({ example: '123456', description: 'Code of the latest SMS, null until one arrives' }),
    withheldSms: z.number().int().openapi({
      example: 0,
      description: 'SMS that arrived but are withheld until the number is paid for (`billing: unbilled`); they appear once the wallet can pay',
    }),
    expiresAt: Instant.openapi({ example: '2025-01-24T15:30:00.000Z' }),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('ActivationNumber')

export const SmsView = z
  .object({
    id: z.string(),
    code: z.string().nullable().openapi({ example: '123456' }),
    text: z.string().openapi({ example: 'Your code is 123456' }),
    sender: z.string().nullable().openapi({ example: 'Telegram' }),
    receivedAt: Instant,
  })
  .openapi('ActivationSms')

export const ActivationDetail = ActivationView.extend({ sms: z.array(SmsView) }).openapi('ActivationNumberDetail')

export const NumberIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'num_01jd6q0000a1b2c3d4e5f6g7h8', description: 'The activation number id' }),
})

export type ActivationRecord = Activation & { providerCode: string }

export interface SmsRecord {
  id: string
  code: string | null
  text: string
  sender: string | null
  receivedAt: Date
}

/** `code`: of the latest SMS shown; `withheldSms`: how many SMS wait for the price to be paid. */
export function activationView(a: ActivationRecord, code: string | null = null, withheldSms = 0): z.infer<typeof ActivationView> {
  return {
    id: a.id,
    phone: a.phone,
    status: a.status,
    billing: billingView(a.billing),
    price: fromMicros(a.price),
    currency: 'USD',
    serviceCode: a.serviceCode,
    countryCode: a.countryCode,
    provider: a.providerCode,
    code,
    withheldSms,
    expiresAt: iso(a.expiresAt)!,
    createdAt: iso(a.createdAt)!,
    updatedAt: iso(a.updatedAt)!,
  }
}

export function smsView(s: SmsRecord): z.infer<typeof SmsView> {
  return { id: s.id, code: s.code, text: s.text, sender: s.sender, receivedAt: iso(s.receivedAt)! }
}

/** The newest code among `sms` (ordered oldest first), or null. */
export function latestCode(sms: SmsRecord[]): string | null {
  for (let i = sms.length - 1; i >= 0; i--) if (sms[i]!.code) return sms[i]!.code
  return null
}

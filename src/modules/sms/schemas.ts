import { z } from '@hono/zod-openapi'
import { ACTIVATION_STATUSES, ActivationBilling } from '../activations/schemas'
import { billingView } from '../activations/settlement'
import type { Delivered } from './inbound-sms.service'

export const DeliveredView = z
  .object({
    received: z.literal(true),
    duplicate: z.boolean().openapi({ description: 'True when this message was already stored (a redelivery): nothing was written' }),
    smsId: z.string(),
    activationId: z.string().openapi({ example: 'num_abc123' }),
    code: z.string().nullable().openapi({ example: '123456', description: 'Null while the SMS is withheld' }),
    withheld: z.boolean().openapi({ description: "Stored, but withheld until the number's price is collected (`billing: unbilled`)" }),
    status: z.enum(ACTIVATION_STATUSES),
    billing: ActivationBilling,
  })
  .openapi('InboundSmsResult')

export function deliveredView(d: Delivered) {
  return { received: true as const, duplicate: d.duplicate, smsId: d.smsId, activationId: d.activationId, code: d.code, withheld: d.withheld, status: d.status, billing: billingView(d.billing) }
}

export const DidDeliveredView = z
  .object({
    received: z.literal(true),
    duplicate: z.boolean().openapi({ description: 'True when this message was already stored (a redelivery): nothing was written' }),
    smsId: z.string(),
    phoneNumberId: z.string().openapi({ description: 'The owned number (DID) the SMS was sent to' }),
    phoneNumber: z.string().openapi({ example: '+14155550123' }),
    code: z.string().nullable().openapi({ example: '123456' }),
  })
  .openapi('InboundDidSmsResult')

export function didDeliveredView(d: { duplicate: boolean; smsId: string; phoneNumberId: string; phoneNumber: string; code: string | null }) {
  return { received: true as const, duplicate: d.duplicate, smsId: d.smsId, phoneNumberId: d.phoneNumberId, phoneNumber: d.phoneNumber, code: d.code }
}

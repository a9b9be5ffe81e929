import { z } from '@hono/zod-openapi'

export const DeliveredView = z
  .object({
    received: z.literal(true),
    duplicate: z.boolean().openapi({ description: 'True when this message was already stored (a redelivery): nothing was written' }),
    smsId: z.string(),
    activationId: z.string().openapi({ example: 'num_abc123' }),
    code: z.string().nullable().openapi({ example: '123456' }),
    status: z.enum(['active', 'sms_received', 'completed', 'cancelled', 'expired']),
    billing: z.enum(['captured', 'refunded', 'unbilled']),
  })
  .openapi('InboundSmsResult')

export function deliveredView(d: { duplicate: boolean; smsId: string; activationId: string; code: string | null; status: z.infer<typeof DeliveredView>['status']; billing: z.infer<typeof DeliveredView>['billing'] }) {
  return { received: true as const, ...d }
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

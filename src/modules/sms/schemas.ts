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

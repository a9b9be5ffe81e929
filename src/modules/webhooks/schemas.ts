import { z } from '@hono/zod-openapi'
import type { WebhookDelivery, WebhookEndpoint } from '../../db/schema'
import { iso } from '../../lib/time'
import { displayText } from '../../lib/text'
import { EVENT_TYPES } from './catalogue'
import { MAX_ATTEMPTS, RETRY_SCHEDULE_SECONDS } from './retry-schedule'
import { Instant } from '../../lib/http'

export const EventName = z.enum(['*', ...EVENT_TYPES]).openapi({ description: 'An event of the catalogue, or `*` for all' })

export const RetryPolicy = z
  .object({
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS),
    scheduleSeconds: z.array(z.number()).openapi({ description: 'Waits after each failed attempt (fixed)' }),
  })
  .openapi('WebhookRetryPolicy')

export const WebhookEndpointView = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()),
    isActive: z.boolean(),
    disabledReason: z.string().nullable(),
    lastDeliveryAt: Instant.nullable(),
    lastStatus: z.string().nullable().openapi({ description: 'The last delivery: `success`, `failed`, or `failed (HTTP <status>)`; null before the first' }),
    deliveryCount: z.number().int(),
    failureCount: z.number().int(),
    timeout: z.number().int().openapi({ description: 'Seconds' }),
    retryPolicy: RetryPolicy,
    previousSecretExpiresAt: Instant.nullable().openapi({ description: 'While set, the pre-rotation secret signs too' }),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('WebhookEndpoint')

export function endpointView(e: WebhookEndpoint): z.infer<typeof WebhookEndpointView> {
  const grace = e.previousSecretExpiresAt && e.previousSecretExpiresAt.getTime() > Date.now() ? iso(e.previousSecretExpiresAt) : null
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    events: e.events,
    isActive: e.isActive,
    disabledReason: e.disabledReason,
    lastDeliveryAt: iso(e.lastDeliveryAt),
    lastStatus: e.lastStatus,
    deliveryCount: e.deliveryCount,
    failureCount: e.failureCount,
    timeout: Math.round(e.timeoutMs / 1000),
    retryPolicy: { maxAttempts: e.retryPolicy.maxAttempts, scheduleSeconds: [...RETRY_SCHEDULE_SECONDS] },
    previousSecretExpiresAt: grace,
    createdAt: iso(e.createdAt)!,
    updatedAt: iso(e.updatedAt)!,
  }
}

export const WithSecret = WebhookEndpointView.extend({
  secret: z.string().openapi({ description: 'The `whsec_…` signing secret. Shown only in this answer.' }),
}).openapi('WebhookEndpointWithSecret')

export const Attempt = z.object({
  attempt: z.number().int(),
  status: z.enum(['success', 'failure']),
  httpStatus: z.number().int().nullable(),
  responseTime: z.number().int().nullable(),
  error: z.string().nullable(),
  createdAt: Instant,
})

export const DeliveryView = z
  .object({
    id: z.string(),
    eventId: z.string().openapi({ description: 'The `webhook-id` header: the same on every attempt' }),
    event: z.string(),
    status: z.enum(['pending', 'retrying', 'succeeded', 'failed']),
    httpStatus: z.number().int().nullable(),
    attemptCount: z.number().int(),
    deliveredAt: Instant.nullable(),
    nextRetryAt: Instant.nullable(),
    errorMessage: z.string().nullable(),
    payloadSize: z.number().int(),
    responseTime: z.number().int().nullable(),
    attempts: z.array(Attempt),
    createdAt: Instant,
  })
  .openapi('WebhookDelivery')

export function deliveryView(d: WebhookDelivery, attempts: z.infer<typeof Attempt>[] = []): z.infer<typeof DeliveryView> {
  return {
    id: d.id,
    eventId: d.eventId,
    event: d.eventType,
    status: d.status,
    httpStatus: d.httpStatus,
    attemptCount: d.attemptCount,
    deliveredAt: iso(d.deliveredAt),
    nextRetryAt: iso(d.nextRetryAt),
    errorMessage: d.errorMessage,
    payloadSize: d.payloadSize,
    responseTime: d.responseTimeMs,
    attempts,
    createdAt: iso(d.createdAt)!,
  }
}

export const EndpointIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, description: 'The webhook endpoint id' }),
})

export const EndpointFields = {
  url: z.string().max(2048).openapi({
    description:
      'https (http only in local dev); no private, loopback or link-local address in any spelling — except loopback (localhost, 127.0.0.0/8, ::1) in development or test with WEBHOOK_ALLOW_LOOPBACK=true',
  }),
  events: z
    .array(EventName)
    .min(1)
    .max(EVENT_TYPES.length + 1),
  description: displayText({ max: 500, multiline: true }).optional(),
  timeout: z.number().int().min(1).max(30).optional().openapi({ description: 'Seconds to wait for the answer (default 10)' }),
  retryPolicy: z.object({ maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS).optional() }).optional(),
}

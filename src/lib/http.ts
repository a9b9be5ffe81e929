/**
 * The envelopes (README "The API in brief") and the OpenAPI pieces every route uses.
 *   success: { success: true, data, meta: { timestamp, requestId } } (+ `pagination` on lists)
 *   error:   { success: false, error: { code, message, details?, field? }, meta }
 * `meta.request_id` repeats the id in snake_case, for clients that read it so.
 */
import { z } from '@hono/zod-openapi'
import { ERROR_CODES } from './errors'

/**
 * An instant in a response: an ISO 8601 string in UTC, as `Date.prototype.toISOString` writes it. Only documents the
 * format (`date-time`); as a validator it is a plain string, so using it never changes what a request accepts.
 */
export const Instant = z.string().openapi({ format: 'date-time', example: '2026-11-22T10:30:00.000Z' })

/** What every money amount of the document says about itself (MICROS_PER_UNIT: amounts are exact to a millionth of a dollar). */
export const MONEY_NOTE = 'USD, decimal, at most 6 decimal places'

/**
 * The OpenAPI documentation of a money amount, for `.openapi(…)`: `format: decimal` (the format registry's fixed-point
 * decimal) and the note above, after the field's own description. Documentation only: the validator it is put on stays
 * what it is, so a request accepts what it accepted before. No `multipleOf: 0.000001`: validators that divide in floating
 * point (`0.000005 / 0.000001` is `5.000000000000001`) would refuse about 3 in 10 exact amounts.
 */
export function money(doc: { description?: string; example?: number } = {}) {
  const description = doc.description ? `${doc.description} (${MONEY_NOTE})` : MONEY_NOTE
  return { ...doc, format: 'decimal', description }
}

/** A money amount in a response: a number, documented by `money()`. */
export const Money = z.number().openapi(money())

export const Meta = z
  .object({
    timestamp: Instant,
    requestId: z.string().openapi({ example: 'req_01hx0000000000000000000000' }),
    request_id: z.string(),
    version: z.literal('v1'),
  })
  .openapi('Meta')

/** Anything that carries the request id: a route's Context. */
export interface RequestScoped {
  var: { requestId?: string }
}

export function meta(c: RequestScoped) {
  const requestId = c.var.requestId ?? 'unknown'
  return { timestamp: new Date().toISOString(), requestId, request_id: requestId, version: 'v1' as const }
}

export function envelope<T>(c: RequestScoped, data: T) {
  return { success: true as const, data, meta: meta(c) }
}

export function listEnvelope<T, P>(c: RequestScoped, data: T[], pagination: P) {
  return { success: true as const, data, pagination, meta: meta(c) }
}

// ---- Error details: the structured `details` some codes carry, one named schema each ---------------

export const ValidationErrorDetails = z
  .array(
    z.object({
      field: z.string().openapi({ example: 'amount', description: 'The field, dotted for nested ones (`items.0.phoneNumber`); `(body)` for the body as a whole' }),
      message: z.string(),
      value: z.unknown().optional(),
    }),
  )
  .openapi('ValidationErrorDetails', { description: '`VALIDATION_ERROR`: one entry per failing field' })

export const RateLimitDetails = z
  .object({
    retry_after: z.number().int().openapi({ example: 30, description: 'Seconds to wait (also the `Retry-After` header)' }),
    limit: z.number().int().openapi({ description: 'Requests allowed in the window' }),
    remaining: z.number().int().openapi({ example: 0 }),
    resetTime: Instant.openapi({ description: 'When the window ends' }),
  })
  .openapi('RateLimitDetails', { description: "`RATE_LIMIT_EXCEEDED` and `QUOTA_EXCEEDED` (a plan's hourly message quota)" })

export const InsufficientBalanceDetails = z
  .object({
    required: z.number().openapi(money({ example: 2.5, description: 'What the operation needs' })),
    available: z
      .number()
      .optional()
      .openapi(money({ example: 1.25, description: 'What the wallet can spend now; absent when a wallet payment of an invoice was refused' })),
    currency: z.literal('USD').optional(),
    orderId: z.string().optional().openapi({ description: 'The order waiting for the money (DID purchases)' }),
    orderNumber: z.string().optional(),
    paymentId: z.string().optional().openapi({ description: 'The refused wallet payment (invoice payments)' }),
    reason: z.string().optional(),
  })
  .openapi('InsufficientBalanceDetails', { description: '`INSUFFICIENT_BALANCE`: amounts are decimals in USD, like every amount of the API' })

export const PaymentFailedDetails = z
  .object({
    paymentId: z.string(),
    paymentMethodId: z.string().nullable().optional(),
    failureReason: z.string().nullable().optional(),
    processor: z.string().optional(),
    code: z.string().optional().openapi({ description: "The payment processor's error code" }),
    declineCode: z.string().optional(),
    payment: z.record(z.string(), z.unknown()).optional().openapi({ description: 'The payment record (card top-ups)' }),
    orderId: z.string().optional(),
    orderNumber: z.string().optional(),
  })
  .openapi('PaymentFailedDetails', { description: '`PAYMENT_FAILED`: the declined payment' })

export const InvalidIccidDetails = z
  .object({ field: z.string().openapi({ example: 'iccid' }), reason: z.string().openapi({ example: 'Must be 19-20 digits (digits only)' }) })
  .openapi('InvalidIccidDetails', { description: '`INVALID_ICCID`: which field and why' })

export const PayloadTooLargeDetails = z.object({ maxBytes: z.number().int().openapi({ example: 1048576 }) }).openapi('PayloadTooLargeDetails', { description: '`PAYLOAD_TOO_LARGE`' })

export const IdempotencyKeyReusedDetails = z
  .object({
    key: z.string().optional(),
    firstRequest: z.object({ method: z.string(), path: z.string() }).optional().openapi({ description: 'The request the key was first used for' }),
    paymentId: z.string().optional().openapi({ description: 'The top-up the key was first used for (card top-ups)' }),
  })
  .openapi('IdempotencyKeyReusedDetails', { description: '`IDEMPOTENCY_KEY_REUSED`' })

/** Codes whose details are not one of the schemas above (`{ status }` of a conflict, an upstream's operation, …). */
export const OtherErrorDetails = z.record(z.string(), z.unknown()).openapi('OtherErrorDetails', { description: 'Any other code: an object whose fields the message explains' })

/** Every code the API answers with (`ERROR_CODES`), as one named enum a client can switch on. */
export const ErrorCode = z.enum(ERROR_CODES).openapi('ErrorCode', { example: 'VALIDATION_ERROR', description: 'What went wrong, for programs (the message is for people)' })

export const ErrorBody = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: ErrorCode,
      message: z.string(),
      details: z
        .union([
          ValidationErrorDetails,
          RateLimitDetails,
          InsufficientBalanceDetails,
          PaymentFailedDetails,
          InvalidIccidDetails,
          PayloadTooLargeDetails,
          IdempotencyKeyReusedDetails,
          OtherErrorDetails,
        ])
        .optional()
        .openapi({
          description:
            'By `code`: `VALIDATION_ERROR` → ValidationErrorDetails; `RATE_LIMIT_EXCEEDED`, `QUOTA_EXCEEDED` → RateLimitDetails; ' +
            '`INSUFFICIENT_BALANCE` → InsufficientBalanceDetails; `PAYMENT_FAILED` → PaymentFailedDetails; `INVALID_ICCID` → InvalidIccidDetails; ' +
            '`PAYLOAD_TOO_LARGE` → PayloadTooLargeDetails; `IDEMPOTENCY_KEY_REUSED` → IdempotencyKeyReusedDetails; any other code → an object, or absent',
        }),
      field: z.string().optional(),
    }),
    meta: Meta,
  })
  .openapi('Error')

/**
 * One error response for the OpenAPI document; `retryAfter` when this answer sends `Retry-After` (the header component is
 * added to the document with the others the middleware set: src/http/openapi-document.ts, which also adds it to every 429).
 */
export const err = (description: string, opts: { retryAfter?: boolean } = {}) => ({
  content: { 'application/json': { schema: ErrorBody } },
  description,
  ...(opts.retryAfter ? { headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } } } : {}),
})

/** The error responses every authenticated route may give. */
export const errorResponses = {
  400: err('Invalid input (`VALIDATION_ERROR`, `details` names the fields)'),
  401: err('Missing or invalid credentials (`UNAUTHORIZED`, `INVALID_TOKEN`, `TOKEN_EXPIRED`, `INVALID_API_KEY`, `API_KEY_EXPIRED`)'),
  403: err('Not allowed (`FORBIDDEN`): wrong role, missing API-key permission, or account suspended/banned'),
  404: err("Not found (`NOT_FOUND`), also for another account's resources"),
  429: err('Rate limit exceeded (`RATE_LIMIT_EXCEEDED`, `details.retry_after`)'),
} as const

/** The error responses of public (unauthenticated) routes. */
export const publicErrorResponses = { 400: errorResponses[400], 429: errorResponses[429] } as const

export function ok<T extends z.ZodType>(schema: T, description: string) {
  return {
    content: {
      'application/json': { schema: z.object({ success: z.literal(true), data: schema, meta: Meta }) },
    },
    description,
  }
}

export function okList<T extends z.ZodType, P extends z.ZodType>(item: T, pagination: P, description: string) {
  return {
    content: {
      'application/json': {
        schema: z.object({ success: z.literal(true), data: z.array(item), pagination, meta: Meta }),
      },
    },
    description,
  }
}

export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { content: { 'application/json': { schema } }, required: true, description }
}

// ---- Pagination ------------------------------------------------------------------------------

/** `?page&limit` → `{ page, limit, total, totalPages, hasNext, hasPrevious }`. */
export const PageQuery = {
  page: z.coerce.number().int().min(1).default(1).openapi({ example: 1, description: 'Page number, from 1' }),
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ example: 20, description: 'Items per page (max 100)' }),
}

export const PagePagination = z
  .object({
    page: z.number().int(),
    limit: z.number().int(),
    total: z.number().int(),
    totalPages: z.number().int(),
    hasNext: z.boolean(),
    hasPrevious: z.boolean(),
  })
  .openapi('PagePagination')

export function pagePagination(page: number, limit: number, total: number): z.infer<typeof PagePagination> {
  const totalPages = Math.max(1, Math.ceil(total / limit))
  return { page, limit, total, totalPages, hasNext: page < totalPages, hasPrevious: page > 1 }
}

// ---- OpenAPI security requirements (typed: inline `[]` literals break the route input types) --

export type Security = Record<string, string[]>[]
/** No credentials: the route is public (an explicit empty list, so a generator does not assume a global scheme). */
export const publicSecurity: Security = []
/** A user session (JWT) only. */
export const sessionSecurity: Security = [{ bearerAuth: [] }]
/** A refresh token in the body (no scheme) or the user session to end: logout works with either. */
export const optionalSessionSecurity: Security = [{}, { bearerAuth: [] }]
/** A user session or an API key (header, bearer or query). */
export const keySecurity: Security = [{ bearerAuth: [] }, { apiKeyHeader: [] }, { apiKeyQuery: [] }]
/** Provider webhooks: a shared secret in `X-Webhook-Secret`, or (Twilio providers) `X-Twilio-Signature`. */
export const providerWebhookSecurity: Security = [{ webhookSecret: [] }, { twilioSignature: [] }]
/** Connector status callbacks: `X-Twilio-Signature` (Twilio) or `X-Hub-Signature-256` (WhatsApp). */
export const connectorCallbackSecurity: Security = [{ twilioSignature: [] }, { whatsappSignature: [] }]
/** The `/metrics` scrape: the `METRICS_TOKEN` as a bearer token. */
export const metricsSecurity: Security = [{ metricsToken: [] }]

// ---- OpenAPI operation ids -------------------------------------------------------------------

/**
 * The operation id of a route registered under two paths (an alias) names the client's method, so
 * both need their own: the un-versioned `/api/…` path gets `Legacy` appended, the other path
 * (`/api/v1/…`, or a root path such as `/health`) keeps the plain id.
 */
export const aliasOperationId = (id: string, path: string) => (/^\/api\/(?!v1\/)/.test(path) ? `${id}Legacy` : id)

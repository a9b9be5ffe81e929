/**
 * One error family. Services throw these; the app's single `onError` turns any of them into the
 * error envelope `{ success: false, error: { code, message, details?, field? }, meta }`.
 * Codes and statuses are the ones README "The API in brief" lists; the most specific code wins.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { fromMicros } from './money'

/**
 * Every `error.code` the API answers, and so the enum of `error.code` in the OpenAPI document (a generated client may switch
 * on it). `AppError` takes only these: a new code is added here, or `tsc` refuses it.
 */
export const ERROR_CODES = [
  // 400
  'VALIDATION_ERROR',
  'MISSING_REQUIRED_FIELD',
  'INVALID_ICCID',
  'INVALID_TO',
  'INVALID_CONNECTOR_TYPE',
  'CONNECTOR_NOT_ACTIVE',
  'TRANSFER_NOT_SUPPORTED',
  'INSUFFICIENT_BALANCE',
  // 401
  'UNAUTHORIZED',
  'INVALID_TOKEN',
  'TOKEN_EXPIRED',
  'INVALID_API_KEY',
  'API_KEY_EXPIRED',
  'INVALID_CREDENTIALS',
  'INVALID_SIGNATURE',
  // 402
  'PAYMENT_FAILED',
  // 403
  'FORBIDDEN',
  'ACCESS_DENIED',
  // 404
  'NOT_FOUND',
  'PROJECT_NOT_FOUND',
  'CONNECTOR_NOT_FOUND',
  'TEMPLATE_NOT_FOUND',
  // 409
  'CONFLICT',
  'EMAIL_ALREADY_EXISTS',
  'USER_BANNED',
  'API_KEY_LIMIT_REACHED',
  'WEBHOOK_LIMIT_REACHED',
  'DELIVERY_SUCCEEDED',
  'ENDPOINT_DISABLED',
  'IDEMPOTENCY_KEY_IN_USE',
  'ACTIVATION_NOT_ACTIVE',
  'ACTIVATION_NO_SMS',
  'ACTIVATION_HAS_SMS',
  'NUMBER_NOT_AVAILABLE',
  'NUMBER_RELEASED',
  'NOT_SANDBOX_NUMBER',
  'RESERVATION_LIMIT_REACHED',
  'RESERVATION_NOT_ACTIVE',
  'RESERVATION_EXTENSION_LIMIT',
  'ORDER_NOT_CANCELLABLE',
  'ORDER_NOT_RETRYABLE',
  'INVOICE_NOT_PAYABLE',
  'PAYMENT_UNDER_REVIEW',
  'PAYMENT_CONFLICT',
  'MONTH_INVOICED',
  'SMS_NOT_CANCELLABLE',
  'SMS_ALREADY_DELIVERED',
  // 413, 415, 422, 429
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'IDEMPOTENCY_KEY_REUSED',
  'RATE_LIMIT_EXCEEDED',
  'QUOTA_EXCEEDED',
  // another status Hono answered
  'HTTP_ERROR',
  // 5xx
  'INTERNAL_ERROR',
  'UPSTREAM_ERROR',
  'CONNECTOR_ERROR',
  'NO_NUMBERS_AVAILABLE',
  'SERVICE_UNAVAILABLE',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly field?: string,
    /** Extra response headers (Retry-After, …). */
    readonly headers?: Record<string, string>,
  ) {
    super(message)
    this.name = code
  }
}

export interface FieldIssue {
  field: string
  message: string
  value?: unknown
}

export class ValidationError extends AppError {
  constructor(message: string, issues: FieldIssue[] = []) {
    super(400, 'VALIDATION_ERROR', message, issues, issues[0]?.field)
  }
  static field(field: string, message: string): ValidationError {
    return new ValidationError(message, [{ field, message }])
  }
}

export class Unauthorized extends AppError {
  constructor(code: 'UNAUTHORIZED' | 'INVALID_TOKEN' | 'TOKEN_EXPIRED' | 'INVALID_API_KEY' | 'API_KEY_EXPIRED' | 'INVALID_CREDENTIALS' = 'UNAUTHORIZED', message = 'Authentication required') {
    super(401, code, message)
  }
}

export class Forbidden extends AppError {
  constructor(message = 'Not allowed to access this resource', details?: unknown) {
    super(403, 'FORBIDDEN', message, details)
  }
}

export class NotFound extends AppError {
  constructor(what = 'Resource') {
    super(404, 'NOT_FOUND', `${what} not found`)
  }
}

export class Conflict extends AppError {
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(409, code, message, details)
  }
}

export class RateLimited extends AppError {
  constructor(limit: number, retryAfter: number, resetAt: number) {
    super(
      429,
      'RATE_LIMIT_EXCEEDED',
      `Rate limit exceeded. Try again in ${retryAfter} seconds.`,
      { retry_after: retryAfter, limit, remaining: 0, resetTime: new Date(resetAt).toISOString() },
      undefined,
      { 'Retry-After': String(retryAfter) },
    )
  }
}

export class PayloadTooLarge extends AppError {
  constructor(maxBytes: number) {
    super(413, 'PAYLOAD_TOO_LARGE', `Request body exceeds ${maxBytes} bytes`, { maxBytes })
  }
}

/** `required` and `available` are micro-units; the answer shows them as decimals, like every amount. */
export class InsufficientBalance extends AppError {
  constructor(required: number, available: number, extra: Record<string, unknown> = {}) {
    super(400, 'INSUFFICIENT_BALANCE', 'Not enough funds to complete purchase', {
      required: fromMicros(required),
      available: fromMicros(available),
      currency: 'USD',
      ...extra,
    })
  }
}

export class NoNumbersAvailable extends AppError {
  constructor(message = 'Provider has no numbers', details?: unknown) {
    super(503, 'NO_NUMBERS_AVAILABLE', message, details)
  }
}

/** An upstream failed. The message names the provider and what failed — never its credentials. */
export class UpstreamError extends AppError {
  constructor(provider: string, message: string, details?: unknown) {
    super(502, 'UPSTREAM_ERROR', `${provider}: ${message}`, details)
  }
}

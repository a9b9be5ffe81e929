/**
 * One error family. Services throw these; the app's single `onError` turns any of them into the
 * error envelope `{ success: false, error: { code, message, details?, field? }, meta }`.
 * Codes and statuses are the ones README "The API in brief" lists; the most specific code wins.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { fromMicros } from './money'

export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
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
  constructor(code: string, message: string, details?: unknown) {
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

/** How long an Idempotency-Key answers with its first request's result (http/idempotency.ts, and the purchases that look back as far). */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000

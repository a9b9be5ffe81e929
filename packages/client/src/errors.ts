/**
 * The one error the client throws for an answer it does not resolve: the API's error envelope
 * (`{ success: false, error: { code, message, details?, field? }, meta: { requestId } }`) as an Error,
 * or a transport failure (`NETWORK_ERROR`, `TIMEOUT`) with `status` 0. An `AbortSignal` the caller aborts
 * rejects with the signal's reason instead, as `fetch` does.
 */
export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError'
  /** The HTTP status, or 0 when no answer arrived. */
  readonly status: number
  /** The API's error code (`VALIDATION_ERROR`, `INSUFFICIENT_BALANCE`, …), `HTTP_<status>` for an answer without the envelope, or `NETWORK_ERROR` / `TIMEOUT`. */
  readonly code: string
  /** The envelope's `details` (e.g. `[{ field, message }]` for `VALIDATION_ERROR`, `{ retry_after }` for a 429). */
  readonly details: unknown
  /** The envelope's `field`, when the error concerns one input field. */
  readonly field: string | undefined
  /** The request id (`meta.requestId`, else the `X-Request-Id` header): quote it when asking for support. */
  readonly requestId: string | undefined
  /** The answer's headers (`Retry-After`, `X-RateLimit-*`), when there was an answer. */
  readonly headers: Headers | undefined

  constructor(init: { status: number; code: string; message: string; details?: unknown; field?: string; requestId?: string; headers?: Headers; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause })
    this.status = init.status
    this.code = init.code
    this.details = init.details
    this.field = init.field
    this.requestId = init.requestId
    this.headers = init.headers
  }
}

interface ErrorEnvelope {
  error?: { code?: unknown; message?: unknown; details?: unknown; field?: unknown }
  meta?: { requestId?: unknown }
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined)

/** The error of a non-2xx answer whose body is already read (`body`: parsed JSON, or the text when it was not JSON). */
export function errorFromResponse(response: Response, body: unknown): SwitchboardError {
  const envelope = (body && typeof body === 'object' ? body : {}) as ErrorEnvelope
  const error = envelope.error ?? {}
  const text = typeof body === 'string' ? body.trim().slice(0, 200) : ''
  return new SwitchboardError({
    status: response.status,
    code: str(error.code) ?? `HTTP_${response.status}`,
    message: str(error.message) ?? (text || `HTTP ${response.status} ${response.statusText}`.trim()),
    details: error.details,
    field: str(error.field),
    requestId: str(envelope.meta?.requestId) ?? response.headers.get('x-request-id') ?? undefined,
    headers: response.headers,
  })
}

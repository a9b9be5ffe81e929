/**
 * How long work deferred past an answer may wait so that it goes together with other requests'
 * work of the same isolate (ARCHITECTURE.md, "The purchase's request path"):
 *
 * - `FLUSH_WINDOW_MS`: the coalesced flushes (the events send, the API-call meter) start at most
 *   this often. After a quiet spell a flush starts at once; under load one flush (one timer) takes
 *   the work of every request of its window, so N requests cost N / (rate × window) writes, not N.
 * - `CAPTURE_WINDOW_MS`: a purchase's capture waits this long for the account's next hold in this
 *   isolate, which carries it (no call of its own); if none comes, the captures waiting for the account go
 *   in one call when the first one's window ends (one timer per account and window). The hold
 *   already keeps the money from being spent twice meanwhile: the available balance is right at
 *   once, only the ledger's capture entry is up to this much later.
 *
 * Under ENVIRONMENT=test both are 0 (work goes at once, as without a window), so tests that read
 * D1 or the ledger right after an answer need not wait; tests of the windows pass them directly
 * (`flush(arg, windowMs)`, `captureSoon(…, windowMs)`, ActivationDeps.captureWindowMs).
 */
export const FLUSH_WINDOW_MS = 200
export const CAPTURE_WINDOW_MS = 1_000

/** The windows for an environment (services.ts reads them per request). */
export const deferral = {
  flushWindow(environment: string): number {
    return environment === 'test' ? 0 : FLUSH_WINDOW_MS
  },
  captureWindow(environment: string): number {
    return environment === 'test' ? 0 : CAPTURE_WINDOW_MS
  },
}

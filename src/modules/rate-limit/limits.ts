/**
 * Route classes and their limits (README "Rate limits"). Each request counts against exactly one
 * class, per subject: the API key, else the user, else the client IP. Two exceptions:
 * - the auth class always counts per IP: it guards the doors before anyone is logged in;
 * - the money class (`purchase`: every route that spends or charges the account's money) counts
 *   per account, across all of its API keys and sessions, so creating more keys does not
 *   multiply the limit.
 * `RATE_LIMITS` (env, JSON) overrides any entry, e.g. for load tests.
 */
export type RouteClass = 'general' | 'purchase' | 'admin' | 'public' | 'auth' | 'search'

export interface Limit {
  limit: number
  windowSeconds: number
}

export const DEFAULT_LIMITS: Record<RouteClass, Limit> = {
  general: { limit: 100, windowSeconds: 60 },
  purchase: { limit: 10, windowSeconds: 60 },
  admin: { limit: 60, windowSeconds: 60 },
  public: { limit: 30, windowSeconds: 60 },
  auth: { limit: 5, windowSeconds: 15 * 60 },
  search: { limit: 100, windowSeconds: 60 },
}

const EXEMPT = /^\/(api\/)?(health(\/.*)?|metrics)$|^\/openapi\.json$|^\/(docs|redoc)(\/.*)?$|^\/api\/v1\/webhooks\/sms$/
const AUTH = /^\/api\/v1\/auth\/(login|register|forgot-password|reset-password|verify-email)$/
const ADMIN = /^\/api\/(v1\/)?admin(\/|$)/
/**
 * Routes that spend or charge the caller's money: buying activation numbers and DIDs, orders and
 * their payment retries, card top-ups, invoice payments, and subscription starts and changes
 * (an upgrade is charged on the invoice). Refunds (cancellations), reads, reservations (no money
 * held), usage reports (a metering stream) and admin credits are not in it.
 */
const PURCHASE =
  /^\/api\/(numbers\/purchase|v1\/numbers\/purchase|v1\/numbers|v1\/orders|v1\/orders\/[^/]+\/retry-payment|v1\/billing\/top-up|v1\/billing\/invoices\/[^/]+\/pay|subscription)$/
// PATCH: the subscription change; every other money route is a POST.
const MONEY_METHODS = new Set(['POST', 'PATCH'])
const SEARCH = /^\/api\/search(\/|$)|^\/api\/v1\/numbers\/search$/
const PUBLIC = /^\/api\/v1\/(balance|sms\/[^/]+)$/

/** The class of a request, or null for routes that are never limited (health, metrics, docs). */
export function classify(method: string, path: string): RouteClass | null {
  if (EXEMPT.test(path)) return null
  if (AUTH.test(path)) return 'auth'
  if (ADMIN.test(path)) return 'admin'
  if (MONEY_METHODS.has(method) && PURCHASE.test(path)) return 'purchase'
  if (SEARCH.test(path)) return 'search'
  if (PUBLIC.test(path)) return 'public'
  return 'general'
}

export function resolveLimits(overrides: Partial<Record<string, Partial<Limit>>>): Record<RouteClass, Limit> {
  const out = { ...DEFAULT_LIMITS }
  for (const key of Object.keys(out) as RouteClass[]) out[key] = { ...out[key], ...overrides[key] }
  return out
}

/** Classes counted per account rather than per API key: the ones that move money. */
export const PER_ACCOUNT: ReadonlySet<RouteClass> = new Set<RouteClass>(['purchase'])

/**
 * Whose count a request goes to: the client IP for the auth class and for anonymous callers,
 * the account for money classes, else the API key (or the user of a session).
 */
export function subjectOf(cls: RouteClass, p: { userId: string; apiKeyId?: string } | undefined, ip: string | null): string {
  if (cls === 'auth' || !p) return `ip:${ip ?? 'unknown'}`
  if (p.apiKeyId && !PER_ACCOUNT.has(cls)) return `key:${p.apiKeyId}`
  return `user:${p.userId}`
}

/**
 * Route classes and their limits (README "Rate limits"). Each route declares its class next to its
 * path (`rateClass(…)`, src/http/policy.ts); each request counts against that one class, per
 * subject: the API key, else the user, else the client IP. Two exceptions:
 * - the auth class always counts per IP: it guards the doors before anyone is logged in;
 * - the money class (`purchase`: every route that spends or charges the account's money — buying
 *   activation numbers and DIDs, orders and their payment retries, card top-ups, invoice payments,
 *   subscription starts and changes, since an upgrade is charged on the invoice) counts per
 *   account, across all of its API keys and sessions, so creating more keys does not multiply the
 *   limit. Refunds (cancellations), reads, reservations (no money held), usage reports (a metering
 *   stream) and admin credits are not in it.
 * `RATE_LIMITS` (env, JSON) overrides any entry, e.g. for load tests.
 */
export type RouteClass = 'general' | 'purchase' | 'admin' | 'public' | 'auth' | 'search' | 'messages'

/**
 * Limits a route may add on top of its class (`alsoLimit(…)`, src/http/policy.ts), counted per
 * subject like the class: the SIM API's second limit, 1,000 requests an hour per API key on every
 * SIM route, beside the class's per-minute one.
 */
export type ExtraLimit = 'sims_hourly'
export type LimitName = RouteClass | ExtraLimit

export interface Limit {
  limit: number
  windowSeconds: number
}

export const DEFAULT_LIMITS: Record<LimitName, Limit> = {
  general: { limit: 100, windowSeconds: 60 },
  purchase: { limit: 10, windowSeconds: 60 },
  admin: { limit: 60, windowSeconds: 60 },
  public: { limit: 30, windowSeconds: 60 },
  auth: { limit: 5, windowSeconds: 15 * 60 },
  search: { limit: 100, windowSeconds: 60 },
  // Sending messages: a per-minute guard per key; the messaging API's own hourly tiers (per key
  // `rateLimit`, per plan) are counted by the send itself (modules/messaging/messages.service.ts).
  messages: { limit: 1000, windowSeconds: 60 },
  sims_hourly: { limit: 1000, windowSeconds: 3600 },
}

export function resolveLimits(overrides: Partial<Record<string, Partial<Limit>>>): Record<LimitName, Limit> {
  const out = { ...DEFAULT_LIMITS }
  for (const key of Object.keys(out) as LimitName[]) out[key] = { ...out[key], ...overrides[key] }
  return out
}

/** Classes counted per account rather than per API key: the ones that move money. */
export const PER_ACCOUNT: ReadonlySet<LimitName> = new Set<LimitName>(['purchase'])

/**
 * Whose count a request goes to: the client IP for the auth class and for anonymous callers,
 * the account for money classes, else the API key (or the user of a session).
 */
export function subjectOf(cls: LimitName, p: { userId: string; apiKeyId?: string } | undefined, ip: string | null): string {
  if (cls === 'auth' || !p) return `ip:${ip ?? 'unknown'}`
  if (p.apiKeyId && !PER_ACCOUNT.has(cls)) return `key:${p.apiKeyId}`
  return `user:${p.userId}`
}

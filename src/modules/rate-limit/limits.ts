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
import type { ErrorCode } from '../../lib/errors'

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
  // Sending messages: the messaging API's hourly tier of the account's plan (MESSAGE_HOURLY_BY_PLAN;
  // this entry's limit is not used, its window is); a key's own `rateLimit` is counted by the send.
  messages: { limit: 1000, windowSeconds: 3600 },
  sims_hourly: { limit: 1000, windowSeconds: 3600 },
}

export function resolveLimits(overrides: Partial<Record<string, Partial<Limit>>>): Record<LimitName, Limit> {
  const out = { ...DEFAULT_LIMITS }
  for (const key of Object.keys(out) as LimitName[]) out[key] = { ...out[key], ...overrides[key] }
  return out
}

/** Classes counted per account rather than per API key: the ones that move money, and the messaging tiers. */
export const PER_ACCOUNT: ReadonlySet<LimitName> = new Set<LimitName>(['purchase', 'messages'])

/**
 * Messages an account may send per hour, by plan (the messaging API's tiers: free 1,000, pro
 * 10,000, enterprise custom). No plan and basic are the free tier; enterprise is 100,000.
 * `RATE_LIMITS` may override one as `messages_<plan>: {limit}` (load tests).
 */
export const MESSAGE_HOURLY_BY_PLAN = { free: 1_000, basic: 1_000, pro: 10_000, enterprise: 100_000 } as const
export type MessageTier = keyof typeof MESSAGE_HOURLY_BY_PLAN

export function messageHourly(overrides: Partial<Record<string, { limit?: number }>>): Record<MessageTier, number> {
  const out: Record<MessageTier, number> = { ...MESSAGE_HOURLY_BY_PLAN }
  for (const plan of Object.keys(out) as MessageTier[]) {
    const limit = overrides[`messages_${plan}`]?.limit
    if (typeof limit === 'number' && limit > 0) out[plan] = limit
  }
  return out
}

/**
 * What a refusal by a limit is called: `RATE_LIMIT_EXCEEDED`, except the messaging tier, which is the
 * plan's quota (`QUOTA_EXCEEDED`, as the messaging API names it).
 */
export const REFUSAL: Partial<Record<LimitName, { code: ErrorCode; message: (limit: number) => string }>> = {
  messages: { code: 'QUOTA_EXCEEDED', message: (limit) => `Hourly message quota of your plan (${limit} messages) exceeded` },
}

/** The limit a request counts against: the class's, except `messages`, whose limit is the plan's tier. */
export function limitFor(name: LimitName, limits: Record<LimitName, Limit>, tiers: Record<MessageTier, number>, plan: string | null | undefined): Limit {
  if (name !== 'messages') return limits[name]
  return { limit: tiers[(plan ?? 'free') as MessageTier] ?? tiers.free, windowSeconds: limits.messages.windowSeconds }
}

/**
 * Whose count a request goes to: the client IP for the auth class and for anonymous callers,
 * the account for money classes, else the API key (or the user of a session).
 */
export function subjectOf(cls: LimitName, p: { userId: string; apiKeyId?: string } | undefined, ip: string | null): string {
  if (cls === 'auth' || !p) return `ip:${ip ?? 'unknown'}`
  if (p.apiKeyId && !PER_ACCOUNT.has(cls)) return `key:${p.apiKeyId}`
  return `user:${p.userId}`
}

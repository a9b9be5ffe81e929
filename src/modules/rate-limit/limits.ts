/**
 * Route classes and their limits (DESIGN.md "Security"). Each request counts against exactly one
 * class, per subject: the API key, else the user, else the client IP. The auth class always counts
 * per IP — it guards the doors before anyone is logged in.
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
const PURCHASE = /^\/api\/(numbers\/purchase|v1\/numbers\/purchase|v1\/numbers|v1\/orders)$/
const SEARCH = /^\/api\/search(\/|$)|^\/api\/v1\/numbers\/search$/
const PUBLIC = /^\/api\/v1\/(balance|sms\/[^/]+)$/

/** The class of a request, or null for routes that are never limited (health, metrics, docs). */
export function classify(method: string, path: string): RouteClass | null {
  if (EXEMPT.test(path)) return null
  if (AUTH.test(path)) return 'auth'
  if (ADMIN.test(path)) return 'admin'
  if (method === 'POST' && PURCHASE.test(path)) return 'purchase'
  if (SEARCH.test(path)) return 'search'
  if (PUBLIC.test(path)) return 'public'
  return 'general'
}

export function resolveLimits(overrides: Partial<Record<string, Partial<Limit>>>): Record<RouteClass, Limit> {
  const out = { ...DEFAULT_LIMITS }
  for (const key of Object.keys(out) as RouteClass[]) out[key] = { ...out[key], ...overrides[key] }
  return out
}

/**
 * Route policy, declared on the route: its rate-limit class and whether it honours
 * `Idempotency-Key` are middleware in its definition, next to its path and its `requireAuth`:
 *
 *   createRoute({ method: 'post', path: '/api/v1/orders', middleware: [rateClass('purchase'), idempotent(), requireAuth(…)], … })
 *
 * These middleware do nothing when they run (they call `next()`); they carry their declaration as
 * data. The global `rateLimit` and `idempotency` middleware run earlier in the chain (429 before
 * 401, a replay before the permission check), so they read the declaration of the route the
 * request matched from the router's match (`declaredPolicy`) rather than waiting for it to run.
 *
 * Invariants, checked by walking the registered routes (test/http/rate-limit.test.ts,
 * idempotency.test.ts): every route declares exactly one class (`exempt` routes are never counted);
 * every idempotent route is a POST; the POSTs of class `purchase` (move money or buy) are idempotent
 * (except the gap that test names); the document gives every idempotent route the `Idempotency-Key` header
 * (src/http/openapi-document.ts).
 * A request that matched no route (404) is counted as `general` and is not idempotent.
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { RouterRoute } from 'hono/types'
import { matchedRoutes } from 'hono/route'
import type { ExtraLimit, RouteClass } from '../modules/rate-limit/limits'
import type { AppEnv } from './router'

/** A route's rate-limit class, or `exempt` for routes never limited (health, metrics, docs, provider webhooks). */
export type DeclaredClass = RouteClass | 'exempt'

export type Declaration = { kind: 'rateClass'; rateClass: DeclaredClass } | { kind: 'idempotent' } | { kind: 'alsoLimit'; limit: ExtraLimit }

export interface RoutePolicy {
  rateClass: DeclaredClass
  idempotent: boolean
  /** Limits counted on top of the class (limits.ts `ExtraLimit`). */
  also: ExtraLimit[]
}

const DECLARATION = Symbol('route policy')

type Declaring = MiddlewareHandler<AppEnv> & { [DECLARATION]: Declaration }

function declaring(d: Declaration): Declaring {
  const mw: MiddlewareHandler<AppEnv> = async (_c, next) => {
    await next()
  }
  return Object.assign(mw, { [DECLARATION]: d })
}

/** Declares the route's rate-limit class (limits and subjects: modules/rate-limit/limits.ts). */
export const rateClass = (cls: DeclaredClass): MiddlewareHandler<AppEnv> => declaring({ kind: 'rateClass', rateClass: cls })

/** Declares a limit counted on top of the route's class (the SIM API's hourly limit). */
export const alsoLimit = (limit: ExtraLimit): MiddlewareHandler<AppEnv> => declaring({ kind: 'alsoLimit', limit })

/** Declares that the route honours `Idempotency-Key` (src/http/idempotency.ts). Only for POSTs. */
export const idempotent = (): MiddlewareHandler<AppEnv> => declaring({ kind: 'idempotent' })

/** The declaration a registered handler carries, if it is one of the middleware above. */
export function declarationOf(handler: unknown): Declaration | undefined {
  return typeof handler === 'function' ? (handler as Partial<Declaring>)[DECLARATION] : undefined
}

/** What a 404 gets, and a route that declared nothing (the route walk in the tests forbids that). */
const UNDECLARED: RoutePolicy = { rateClass: 'general', idempotent: false, also: [] }

/** Folds one route's declarations (a route with none gets `general`, not idempotent). */
export function policyOf(declarations: readonly Declaration[]): RoutePolicy {
  const policy: RoutePolicy = { ...UNDECLARED, also: [] }
  for (const d of declarations) {
    if (d.kind === 'rateClass') policy.rateClass = d.rateClass
    else if (d.kind === 'alsoLimit') policy.also.push(d.limit)
    else policy.idempotent = true
  }
  return policy
}

// Hono registers `use` middleware for every method; a route's own handlers carry its method.
const ALL_METHODS = 'ALL'

/** One entry of the router's match: a registered handler with the method and path it was registered for. */
export type MatchedEntry = Pick<RouterRoute, 'method' | 'path' | 'handler'>

/**
 * The policy of the route that answers a match. Hono lists every handler a request matched in
 * registration order, a route's own middleware as entries of its method and path; the route that
 * answers is the first matched one registered for a method (`use` middleware are not). No such
 * entry: the request matched no route (404).
 */
export function policyOfMatch(matched: readonly MatchedEntry[]): RoutePolicy {
  const route = matched.find((r) => r.method !== ALL_METHODS)
  if (!route) return UNDECLARED
  const declarations: Declaration[] = []
  for (const r of matched) {
    const d = r.method === route.method && r.path === route.path ? declarationOf(r.handler) : undefined
    if (d) declarations.push(d)
  }
  return policyOf(declarations)
}

/** The policy of the route this request matched (readable before that route's own middleware run). */
export const declaredPolicy = (c: Context<AppEnv>): RoutePolicy => policyOfMatch(matchedRoutes(c))

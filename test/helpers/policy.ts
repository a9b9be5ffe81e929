import { declarationOf, policyOfMatch, type Declaration, type RoutePolicy } from '../../src/http/policy'
import type { Router } from '../../src/http/router'

/** Every registered route as `METHOD path` → the policy it declares (global `use` middleware excluded). */
export function routeDeclarations(app: Router): Map<string, Declaration[]> {
  const out = new Map<string, Declaration[]>()
  for (const r of app.routes) {
    if (r.method === 'ALL') continue
    const key = `${r.method} ${r.path}`
    const list = out.get(key) ?? []
    const d = declarationOf(r.handler)
    if (d) list.push(d)
    out.set(key, list)
  }
  return out
}

/** The policy the rate limiter and the idempotency middleware see for a request with this method and path. */
export function policyFor(app: Router, method: string, path: string): RoutePolicy {
  const [entries] = app.router.match(method, path)
  return policyOfMatch(entries.map(([[, route]]) => route))
}

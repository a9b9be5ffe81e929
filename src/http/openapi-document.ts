/**
 * The OpenAPI document as `/openapi.json` serves it and `npm run openapi` writes it: the router's document, then what the
 * route policies (src/http/policy.ts) and the global middleware add to every answer, written in one place rather than on
 * each route, from the same declarations the middleware read:
 *
 * - every answer: `X-Request-Id` (request-id.ts);
 * - every answer of a rate-limited route (any class but `exempt`): `X-RateLimit-Limit`, `-Remaining`, `-Reset` (rate-limit.ts);
 * - every 429: `Retry-After`;
 * - every route that declares `idempotent()`: the `Idempotency-Key` header parameter, `Idempotent-Replayed` on the answers
 *   a replay can repeat (all but 5xx, 401, 403 and 429, which are not stored), and the middleware's 409 and 422.
 *
 * A route's own `Retry-After` (a 503 asking to wait) is declared where that answer is (`err(…, { retryAfter: true })`).
 */
import type { OpenAPIHono } from '@hono/zod-openapi'
import { IDEMPOTENCY_KEY_DESCRIPTION, NOT_STORED, REPLAYED_HEADER } from './idempotency'
import { declarationOf, type Declaration, policyOf, type RoutePolicy } from './policy'

type Document = ReturnType<OpenAPIHono['getOpenAPI31Document']>
type Json = Record<string, unknown>

const ref = (name: string) => ({ $ref: `#/components/headers/${name}` })
const integer = { type: 'integer' } as const

/** The response headers the middleware set, as reusable components. */
export const RESPONSE_HEADERS: Record<string, Json> = {
  'X-Request-Id': {
    description: 'The request id, also in `meta.requestId`: the `X-Request-Id` the client sent if it is 1–128 of `A-Za-z0-9._:-`, else a new one',
    schema: { type: 'string' },
  },
  'X-RateLimit-Limit': { description: 'Requests allowed in the current window of the limit with the fewest requests left', schema: integer },
  'X-RateLimit-Remaining': { description: 'Requests left in that window', schema: integer },
  'X-RateLimit-Reset': { description: 'When that window ends, in Unix seconds', schema: integer },
  'Retry-After': { description: 'Seconds to wait before trying again', schema: integer },
  [REPLAYED_HEADER]: {
    description: '`true` when this is the stored answer to an earlier request with the same `Idempotency-Key` (the request did not run again)',
    schema: { type: 'string', enum: ['true'] },
  },
}

/** The header parameter of an idempotent route (the name and wording the routes that declare it in `request.headers` use). */
const IDEMPOTENCY_KEY_PARAM = { name: 'idempotency-key', in: 'header', required: false, description: IDEMPOTENCY_KEY_DESCRIPTION, schema: { type: 'string' } }

const ERROR_CONTENT = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } }
const IN_USE = 'A request with this Idempotency-Key is still running (`IDEMPOTENCY_KEY_IN_USE`, `Retry-After`)'
const REUSED = 'This Idempotency-Key was used for a different request (`IDEMPOTENCY_KEY_REUSED`)'

/** `METHOD /openapi/{path}` → the policy its declarations make, for every route registered on the app. */
function routePolicies(app: Pick<OpenAPIHono, 'routes'>): Map<string, RoutePolicy> {
  const declared = new Map<string, Declaration[]>()
  for (const r of app.routes) {
    if (r.method === 'ALL') continue
    const key = `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}')}`
    const d = declarationOf(r.handler)
    declared.set(key, [...(declared.get(key) ?? []), ...(d ? [d] : [])])
  }
  return new Map([...declared].map(([k, ds]) => [k, policyOf(ds)]))
}

/** Adds what the middleware add (module comment) to a document the router wrote. Mutates and returns it. */
export function withPolicyDocs(doc: Document, app: Pick<OpenAPIHono, 'routes'>): Document {
  const policies = routePolicies(app)
  doc.components = { ...doc.components, headers: { ...doc.components?.headers, ...RESPONSE_HEADERS } }
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item as Record<string, Json>)) {
      const policy = policies.get(`${method} ${path}`)
      const responses = op.responses as Record<string, Json> | undefined
      if (!policy || !responses) continue
      const idempotent = policy.idempotent && method === 'post'
      if (idempotent) {
        const params = ((op.parameters as Json[] | undefined) ?? []).slice()
        if (!params.some((p) => p.in === 'header' && String(p.name).toLowerCase() === 'idempotency-key')) params.push({ ...IDEMPOTENCY_KEY_PARAM })
        op.parameters = params
        const conflict = responses['409']
        if (!conflict) responses['409'] = { description: IN_USE, content: ERROR_CONTENT }
        else if (!String(conflict.description).includes('IDEMPOTENCY_KEY_IN_USE')) conflict.description = `${conflict.description}; or ${IN_USE}`
        responses['422'] ??= { description: REUSED, content: ERROR_CONTENT }
      }
      for (const [status, response] of Object.entries(responses)) {
        const headers: Record<string, unknown> = { ...(response.headers as Json | undefined), 'X-Request-Id': ref('X-Request-Id') }
        if (policy.rateClass !== 'exempt') {
          for (const h of ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']) headers[h] = ref(h)
        }
        if (status === '429' || (idempotent && status === '409')) headers['Retry-After'] = ref('Retry-After')
        const code = Number(status)
        if (idempotent && code < 500 && !NOT_STORED.has(code)) headers[REPLAYED_HEADER] = ref(REPLAYED_HEADER)
        response.headers = headers
      }
    }
  }
  return doc
}

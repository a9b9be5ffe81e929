/**
 * GET /sdk/v1/messagejs.js: the MessageJS browser client (packages/client/src/messagejs-browser.ts), so the
 * seed's `<script src=…/v1/messagejs.js>` works against this API. The script is a generated module
 * (messagejs-bundle.generated.ts, written and drift-checked by `npm run client:generate` / `client:check`),
 * so a fresh clone serves it without a build step.
 *
 * Registered ahead of the security-headers middleware, like liveness: a script other sites embed needs
 * `Cross-Origin-Resource-Policy: cross-origin` (the middleware's `same-origin` would make browsers refuse it),
 * and `Access-Control-Allow-Origin: *` lets a page load it with `crossorigin` and `integrity` (it is public and
 * carries no credentials). No auth, rate limit or services: it is a constant.
 *
 * Caching: `/v1/` is the script's major version; fixes ship under the same URL, so it is not `immutable`. A day
 * of freshness keeps it off the Worker for nearly every page view, a week of stale-while-revalidate lets a
 * browser use its copy at once while it fetches the next, and the ETag (a hash of the script) makes that
 * revalidation a 304 without a body. A fix reaches every browser within a day.
 */
import { createRoute, z } from '@hono/zod-openapi'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { publicSecurity } from '../../lib/http'
import { MESSAGEJS_INTEGRITY, MESSAGEJS_SCRIPT } from './messagejs-bundle.generated'

export const MESSAGEJS_PATH = '/sdk/v1/messagejs.js'
export const MESSAGEJS_CACHE_CONTROL = 'public, max-age=86400, stale-while-revalidate=604800'
const ETAG = `"${MESSAGEJS_INTEGRITY.slice('sha384-'.length, 'sha384-'.length + 32)}"`

const HEADERS: Record<string, string> = {
  'cache-control': MESSAGEJS_CACHE_CONTROL,
  etag: ETAG,
  'access-control-allow-origin': '*',
  'cross-origin-resource-policy': 'cross-origin',
  'x-content-type-options': 'nosniff',
}

const route = createRoute({
  method: 'get',
  path: MESSAGEJS_PATH,
  operationId: 'getMessagejsScript',
  tags: ['messaging'],
  summary: 'The MessageJS browser script',
  description:
    'One script that sets `window.messagejs`: `messagejs.init({apiKey, baseUrl?, retries?})`, then ' +
    '`messagejs.sendMessage({to, connectorId, templateId, variables})` resolves to `{messageId, status}`. Without `baseUrl` it ' +
    `sends to the host it was loaded from. Cached for a day (\`${MESSAGEJS_CACHE_CONTROL}\`) and revalidated by ETag; served ` +
    'with `Access-Control-Allow-Origin: *`, so a page may load it with `crossorigin` and a Subresource Integrity hash.',
  middleware: [rateClass('exempt')] as const,
  security: publicSecurity,
  responses: {
    200: { content: { 'application/javascript': { schema: z.string() } }, description: 'The script' },
    304: { description: 'Not modified (`If-None-Match` named the current ETag)' },
  },
})

function matches(ifNoneMatch: string | undefined): boolean {
  return !!ifNoneMatch && ifNoneMatch.split(',').some((tag) => ['*', ETAG].includes(tag.trim().replace(/^W\//, '')))
}

export const registerMessagejsScript = (r: Router) =>
  r.openapi(route, (c) => {
    if (matches(c.req.header('if-none-match'))) return new Response(null, { status: 304, headers: HEADERS }) as never
    return new Response(MESSAGEJS_SCRIPT, { status: 200, headers: { ...HEADERS, 'content-type': 'application/javascript; charset=utf-8' } }) as never
  })

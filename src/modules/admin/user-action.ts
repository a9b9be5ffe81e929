/**
 * The admin actions on a user (suspend, reactivate, ban, role) share their shape: an admin-only
 * route at both prefixes, a validated body, one service call, the updated user back. An action
 * whose body is optional (ban) also takes no body, an empty one, or `{}`.
 */
import { createRoute, type z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { User } from '../../db/schema'
import { aliasOperationId, envelope, err, errorResponses, jsonBody, ok, sessionSecurity } from '../../lib/http'
import type { AppEnv, Router } from '../../http/router'
import { emptyJsonBodyIsEmptyObject, optionalJsonBody } from '../../http/optional-body'
import { requireAuth } from '../../http/authenticate'
import { AdminUser, adminUser, USER_PREFIXES, UserIdParam } from './schemas'
import { rateClass } from '../../http/policy'

export function registerUserAction<B extends z.ZodType>(
  r: Router,
  spec: {
    method: 'put' | 'post'
    action: string
    /** The OpenAPI operation id (each prefix gets its own: `aliasOperationId`). */
    operationId: string
    summary: string
    description: string
    body: B
    /** The body may be left out: it then reads as `{}`. */
    optionalBody?: boolean
    run: (c: Context<AppEnv>, id: string, body: z.infer<B>) => Promise<User>
  },
) {
  for (const prefix of USER_PREFIXES) {
    const route = createRoute({
      method: spec.method,
      path: `${prefix}/{id}/${spec.action}`,
      operationId: aliasOperationId(spec.operationId, prefix),
      tags: ['admin'],
      summary: spec.summary,
      description: `${spec.description} Recorded in the audit log. Admins cannot act on their own account (403).`,
      middleware: [rateClass('admin'), requireAuth({ admin: true }), ...(spec.optionalBody ? [emptyJsonBodyIsEmptyObject] : [])],
      security: sessionSecurity,
      request: { params: UserIdParam, body: { ...jsonBody(spec.body), required: !spec.optionalBody } },
      responses: { 200: ok(AdminUser, 'The updated user'), ...errorResponses, 409: err("Not possible in the user's state (`USER_BANNED`)") },
    })
    r.openapi(route, async (c) => {
      // The route's type is generic in this helper, so the validated input is read untyped.
      const valid = c.req.valid.bind(c.req) as (target: 'param' | 'json') => unknown
      const { id } = valid('param') as { id: string }
      // Without a body the validator hands over `{}` unparsed; parse it here so defaults apply.
      const body = spec.optionalBody ? await optionalJsonBody(c, spec.body) : (valid('json') as z.infer<B>)
      const user = await spec.run(c, id, body)
      return c.json(envelope(c, adminUser(user)), 200)
    })
  }
}

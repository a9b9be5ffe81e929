import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { principalOf, requireAuth } from '../../http/authenticate'
import { UserView, userView } from './schemas'

const Me = UserView.extend({ user: UserView.openapi({ description: 'The same profile again, wrapped in `user`, for clients that read it there' }) })

const route = createRoute({
  method: 'get',
  path: '/api/v1/auth/me',
  operationId: 'getCurrentUser',
  tags: ['auth'],
  summary: 'The current user',
  description:
    'The profile itself (with snake_case aliases such as `username`, `full_name`, `is_active`, `created_at`) and the same ' +
    'profile wrapped in `user` (read there as `user.name`, `user.createdAt`, `user.lastLogin`): clients of either style find it.',
  middleware: [rateClass('general'), requireAuth({ permission: 'account:read' })] as const,
  security: keySecurity,
  responses: { 200: ok(Me, 'The profile'), ...errorResponses },
})

export const registerMe = (r: Router) =>
  r.openapi(route, async (c) => {
    const user = await c.var.services.auth.getUser(principalOf(c).userId)
    const view = userView(user)
    return c.json(envelope(c, { ...view, user: view }), 200)
  })

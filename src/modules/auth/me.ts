import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../lib/router'
import { principalOf, requireAuth } from '../../middleware/authenticate'
import { UserView, userView } from './schemas'

const Me = UserView.extend({ user: UserView.openapi({ description: 'Seed 004 wraps the profile in `user`' }) })

const route = createRoute({
  method: 'get',
  path: '/api/v1/auth/me',
  tags: ['auth'],
  summary: 'The current user',
  description:
    'Seeds 002 and 004 define this route: seed 002 answers the profile itself (`username`, `full_name`, `is_active`, ' +
    '`created_at`), seed 004 wraps it in `user` (`name`, `createdAt`, `lastLogin`). The answer carries both.',
  middleware: [requireAuth({ permission: 'account:read' })] as const,
  security: keySecurity,
  responses: { 200: ok(Me, 'The profile'), ...errorResponses },
})

export const registerMe = (r: Router) =>
  r.openapi(route, async (c) => {
    const user = await c.var.services.auth.getUser(principalOf(c).userId)
    const view = userView(user)
    return c.json(envelope(c, { ...view, user: view }), 200)
  })

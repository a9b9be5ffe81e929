import { z } from '@hono/zod-openapi'
import type { Router } from '../../http/router'
import { Reason } from './schemas'
import { registerUserAction } from './user-action'
import { contextOf } from '../../http/authenticate'

export const registerSetUserRole = (r: Router) =>
  registerUserAction(r, {
    method: 'put',
    action: 'role',
    operationId: 'setUserRole',
    summary: "Change a user's role",
    description: 'Takes effect on the next request (roles are read per request, not from the token).',
    body: z.object({ role: z.enum(['user', 'admin']), reason: Reason }).openapi('UpdateUserRoleRequest'),
    run: (c, id, body) => c.var.services.adminUsers.setRole(contextOf(c), id, body),
  })

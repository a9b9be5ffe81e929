import { z } from '@hono/zod-openapi'
import type { Router } from '../../http/router'
import { Reason } from './schemas'
import { auditContext, registerUserAction } from './user-action'

export const registerReactivateUser = (r: Router) =>
  registerUserAction(r, {
    method: 'put',
    action: 'reactivate',
    summary: 'Lift a suspension or ban',
    description: 'Sets the account back to active.',
    body: z.object({ reason: Reason }).openapi('ReactivateUserRequest'),
    run: (c, id, body) => c.var.services.adminUsers.reactivate(auditContext(c), id, body),
  })

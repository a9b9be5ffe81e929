import { z } from '@hono/zod-openapi'
import type { Router } from '../../http/router'
import { Reason } from './schemas'
import { registerUserAction } from './user-action'
import { contextOf } from '../../http/authenticate'

export const registerReactivateUser = (r: Router) =>
  registerUserAction(r, {
    method: 'put',
    action: 'reactivate',
    operationId: 'reactivateUser',
    summary: 'Lift a suspension or ban',
    description: 'Sets the account back to active.',
    body: z.object({ reason: Reason }).openapi('ReactivateUserRequest'),
    run: (c, id, body) => c.var.services.adminUsers.reactivate(contextOf(c), id, body),
  })

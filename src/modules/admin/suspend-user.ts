import { z } from '@hono/zod-openapi'
import type { Router } from '../../http/router'
import { Reason } from './schemas'
import { registerUserAction } from './user-action'
import { contextOf } from '../../http/authenticate'

const Body = z
  .object({
    reason: Reason,
    duration: z.number().int().min(1).max(3650).optional().openapi({ description: 'Days; without it the suspension lasts until reactivated' }),
    notifyUser: z.boolean().default(false),
  })
  .openapi('SuspendUserRequest')

export const registerSuspendUser = (r: Router) =>
  registerUserAction(r, {
    method: 'put',
    action: 'suspend',
    operationId: 'suspendUser',
    summary: 'Suspend a user',
    description:
      'Every token and API key of the user is refused (403) from the next request on, until the duration ends or an admin reactivates the account. A banned user cannot be suspended (409 `USER_BANNED`): reactivate first.',
    body: Body,
    run: (c, id, body) => c.var.services.adminUsers.suspend(contextOf(c), id, body),
  })

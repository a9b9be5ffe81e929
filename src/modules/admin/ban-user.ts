import { z } from '@hono/zod-openapi'
import type { Router } from '../../http/router'
import { Reason } from './schemas'
import { registerUserAction } from './user-action'
import { contextOf } from '../../http/authenticate'

export const registerBanUser = (r: Router) =>
  registerUserAction(r, {
    method: 'post',
    action: 'ban',
    operationId: 'banUser',
    summary: 'Ban a user',
    description:
      "Like a suspension without end: every credential of the user is refused at once. The body is optional (the activation API's " +
      'admin path takes none): no body, an empty body and `{}` all ban the user. `reason` ' +
      "(3–500 characters when given) is kept as the account's status reason and in the audit log; `notifyUser` mails the user.",
    optionalBody: true,
    body: z
      .object({
        reason: Reason.optional(),
        notifyUser: z.boolean().default(false),
      })
      .openapi('BanUserRequest'),
    run: (c, id, body) => c.var.services.adminUsers.ban(contextOf(c), id, body),
  })

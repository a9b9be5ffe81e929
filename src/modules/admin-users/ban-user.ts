import { z } from '@hono/zod-openapi'
import type { Router } from '../../lib/router'
import { Reason } from './schemas'
import { auditContext, registerUserAction } from './user-action'

export const registerBanUser = (r: Router) =>
  registerUserAction(r, {
    method: 'post',
    action: 'ban',
    summary: 'Ban a user',
    description: 'Seed 000. Like a suspension without end: every credential of the user is refused at once.',
    body: z.object({ reason: Reason, notifyUser: z.boolean().default(false) }).openapi('BanUserRequest'),
    run: (c, id, body) => c.var.services.adminUsers.ban(auditContext(c), id, body),
  })

import type { Router } from '../../http/router'
import { registerBanUser } from './ban-user'
import { registerGetUser } from './get-user'
import { registerListUsers } from './list-users'
import { registerReactivateUser } from './reactivate-user'
import { registerSetUserRole } from './set-user-role'
import { registerSuspendUser } from './suspend-user'

export function registerAdminUsers(r: Router) {
  registerListUsers(r)
  registerGetUser(r)
  registerSuspendUser(r)
  registerReactivateUser(r)
  registerBanUser(r)
  registerSetUserRole(r)
}

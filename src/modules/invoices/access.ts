import { NotFound } from '../../lib/errors'
import { can, type Principal } from '../auth/principal'

/** Seed 003's `userId`: your own (the default), or any account for an admin; another's is a 404. */
export function targetUser(p: Principal, userId: string | undefined): string {
  if (!userId || userId === p.userId) return p.userId
  // An admin's session, or an API key that holds the `admin` permission — not any key of an admin.
  if (can(p, 'admin')) return userId
  throw new NotFound('User')
}

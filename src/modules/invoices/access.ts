import { NotFound } from '../../lib/errors'
import type { Principal } from '../auth/principal'

/** Seed 003's `userId`: your own (the default), or any account for an admin; another's is a 404. */
export function targetUser(p: Principal, userId: string | undefined): string {
  if (!userId || userId === p.userId) return p.userId
  if (p.role === 'admin') return userId
  throw new NotFound('User')
}

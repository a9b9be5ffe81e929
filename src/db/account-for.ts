import { eq } from 'drizzle-orm'
import type { Db } from './client'
import { users } from './schema'
import { NotFound } from '../lib/errors'
import { can, type Principal } from '../lib/principal'

/**
 * The `userId` parameter of usage billing's routes: the account a request is about — the
 * caller's own (the default), or, for an admin (a session, or an API key holding the `admin`
 * permission), any existing account. Anyone else's id is a 404 (`what`), as if it did not exist.
 */
export async function accountFor(db: Db, p: Principal, userId: string | undefined, what = 'User'): Promise<string> {
  if (!userId || userId === p.userId) return p.userId
  if (!can(p, 'admin')) throw new NotFound(what)
  const u = await db.select({ id: users.id }).from(users).where(eq(users.id, userId)).get()
  if (!u) throw new NotFound('User')
  return u.id
}

import { eq } from 'drizzle-orm'
import type { Db } from './client'
import { users } from './schema'
import { NotFound } from '../lib/errors'
import { actorCan, onBehalfOf, type RequestContext } from '../lib/context'

/**
 * The `userId` parameter of usage billing's routes: the context of the account a request is about —
 * the caller's own (the default), or, for an admin (a session, or an API key holding the `admin`
 * permission), any existing account. Anyone else's id is a 404 (`what`), as if it did not exist.
 */
export async function accountFor(db: Db, ctx: RequestContext, userId: string | undefined, what = 'User'): Promise<RequestContext> {
  if (!userId || userId === ctx.accountId) return ctx
  if (!actorCan(ctx, 'admin')) throw new NotFound(what)
  const u = await db.select({ id: users.id }).from(users).where(eq(users.id, userId)).get()
  if (!u) throw new NotFound('User')
  return onBehalfOf(ctx, u.id)
}

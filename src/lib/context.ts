/**
 * The request context: who acts, for which account. Every account-scoped service verb takes it
 * first (`service.verb(ctx, input)`), so the account a call is scoped to is visible at the call.
 *
 * - A route builds it from the authenticated caller (`contextOf(c)` in http/authenticate.ts): the
 *   account is the caller's own. An admin acting on another account keeps their actor and gets
 *   that account (`onBehalfOf`), after the route has checked the admin may.
 * - Cron jobs, queue consumers and scripts act as `system` for the account of the row they work on.
 */
import { can, type Permission, type Principal } from './principal'

export type Actor =
  /** A user session (`admin`: of an admin), or an API key; `principal` says what it may do. */
  | { kind: 'user' | 'admin' | 'key'; principal: Principal }
  /** The platform itself: a cron job, a queue consumer, a script (`name` says which). */
  | { kind: 'system'; name: string }

export interface RequestContext {
  /** The account every read and write of the verb is scoped to. */
  readonly accountId: string
  readonly actor: Actor
  readonly requestId: string
  /** The client's IP (`CF-Connecting-IP`); null for the platform's own work. */
  readonly ip: string | null
}

export function actorOf(p: Principal): Actor {
  return { kind: p.via === 'api_key' ? 'key' : p.role === 'admin' ? 'admin' : 'user', principal: p }
}

/** The context of an authenticated caller acting on their own account. */
export function callerContext(p: Principal, requestId: string, ip: string | null): RequestContext {
  return { accountId: p.userId, actor: actorOf(p), requestId, ip }
}

/** The platform acting for `accountId` (cron, queue, script). */
export function systemContext(name: string, accountId: string, requestId = name): RequestContext {
  return { accountId, actor: { kind: 'system', name }, requestId, ip: null }
}

/** The same actor, scoped to another account (an admin's on-behalf call, already authorised). */
export function onBehalfOf(ctx: RequestContext, accountId: string): RequestContext {
  return accountId === ctx.accountId ? ctx : { ...ctx, accountId }
}

/** The acting principal; the platform has none. */
export function actingPrincipal(ctx: RequestContext): Principal | undefined {
  return ctx.actor.kind === 'system' ? undefined : ctx.actor.principal
}

/** Whether the actor holds `permission`; the platform holds every one. */
export function actorCan(ctx: RequestContext, permission: Permission): boolean {
  const p = actingPrincipal(ctx)
  return p ? can(p, permission) : true
}

/** Who acts, as one id: the user behind a session or key, or `system:<name>`. */
export function actingUserId(ctx: RequestContext): string {
  return ctx.actor.kind === 'system' ? `system:${ctx.actor.name}` : ctx.actor.principal.userId
}

/**
 * `authenticate` (global) reads whichever credential is presented — `X-API-Key`,
 * `Authorization: Bearer <jwt | sk_…>`, or `?api_key=` — and records the principal or the reason
 * it was refused. It never rejects by itself: public routes stay public even with a stale header.
 * `requireAuth` (per route) rejects with that reason, and checks role and API-key permission.
 *
 * Accepted API-key lookups are kept per isolate for a few seconds (modules/auth/authn.service.ts);
 * revoking a key or an admin change of its account forgets them in that isolate at once.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { AppError, Forbidden, Unauthorized } from '../lib/errors'
import type { AppEnv } from './router'
import { apiKeyCache, type Credential } from '../modules/auth/authn.service'
import { can, type Permission, type Principal } from '../lib/principal'
import { callerContext, type RequestContext } from '../lib/context'
import { clientIp } from '../modules/auth/client-info'

export function readCredential(c: Context<AppEnv>): Credential | null {
  const header = c.req.header('x-api-key')
  if (header) return { kind: 'api_key', key: header.trim() }
  const authz = c.req.header('authorization')
  if (authz) {
    const m = /^Bearer\s+(.+)$/i.exec(authz.trim())
    if (m) {
      const token = m[1]!.trim()
      return /^(sk|pk)_/.test(token) ? { kind: 'api_key', key: token } : { kind: 'jwt', token }
    }
  }
  const query = c.req.query('api_key')
  if (query) return { kind: 'api_key', key: query }
  return null
}

export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cred = readCredential(c)
  const { authn, config } = c.var.services
  if (cred) {
    try {
      c.set('principal', await authn.resolve(cred, { cacheTtlMs: apiKeyCache.ttlFor(config.ENVIRONMENT) }))
    } catch (e) {
      if (!(e instanceof AppError)) throw e
      c.set('authError', e)
    }
  }
  await next()
}

export interface AuthRequirement {
  /** The API-key permission the route needs (JWT sessions have all of their role's). */
  permission?: Permission
  /** Only admins. */
  admin?: boolean
  /** Only a logged-in user session, never an API key (key management, logout). */
  sessionOnly?: boolean
  /** Messaging project keys (`pk_…`) may call this route (sending and reading messages); on every other route they are 403. */
  projectKey?: boolean
}

export function principalOf(c: Context<AppEnv>): Principal {
  const p = c.get('principal')
  if (!p) throw new Unauthorized()
  return p
}

/** The authenticated caller's request context (their own account); 401 without credentials. */
export function contextOf(c: Context<AppEnv>): RequestContext {
  return callerContext(principalOf(c), c.get('requestId'), clientIp(c))
}

export function requireAuth(req: AuthRequirement = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const failure = c.get('authError')
    if (failure) throw failure
    const p = c.get('principal')
    if (!p) throw new Unauthorized('UNAUTHORIZED', 'Authentication required: send a Bearer token or an API key')
    if (p.via === 'project_key' && !req.projectKey) throw new AppError(403, 'ACCESS_DENIED', "A project key may only send messages and read its project's messages")
    if (req.admin && p.role !== 'admin') throw new Forbidden('Admin role required', { requiredRole: 'admin' })
    if (req.sessionOnly && p.via !== 'jwt') throw new Forbidden('This route needs a user session, not an API key')
    const needed = req.permission ?? (req.admin ? 'admin' : undefined)
    if (needed && !can(p, needed)) {
      throw new Forbidden(`API key lacks the '${needed}' permission`, { requiredPermissions: [needed] })
    }
    await next()
  }
}

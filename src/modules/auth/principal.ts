/**
 * Who is calling. A JWT session acts with every permission of its role; an API key acts only
 * with the permissions it was created with (`*` = all of its owner's).
 */
export type Role = 'user' | 'admin'

/** The permission catalogue an API key can be given. Routes name the one they need. */
export const PERMISSIONS = [
  'account:read',
  'numbers:read',
  'numbers:write',
  'wallet:read',
  'orders:read',
  'orders:write',
  'billing:read',
  'billing:write',
  'usage:write',
  'webhooks:read',
  'webhooks:write',
  'sims:read',
  'sims:write',
  'messages:read',
  'messages:send',
  'admin',
] as const
export type Permission = (typeof PERMISSIONS)[number]

export interface Principal {
  userId: string
  email: string
  role: Role
  via: 'jwt' | 'api_key'
  /** JWT only: the login session (refresh-token family). */
  sessionId?: string
  /** API key only. */
  apiKeyId?: string
  apiKeyMode?: 'live' | 'test'
  permissions: ReadonlyArray<string>
}

export function can(p: Principal, permission: Permission): boolean {
  if (permission === 'admin' && p.role !== 'admin') return false
  if (p.via === 'jwt') return true
  return p.permissions.includes('*') || p.permissions.includes(permission)
}

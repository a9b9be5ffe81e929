/**
 * Who is calling. A JWT session acts with every permission of its role; an API key acts only
 * with the permissions it was created with. `*` on a key means every permission but `admin`:
 * an admin's key reaches admin routes and admin powers only when it names `admin` explicitly,
 * so a key made for ordinary automation cannot ban users or credit wallets.
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
  'projects:read',
  'projects:write',
  'admin',
] as const
export type Permission = (typeof PERMISSIONS)[number]

export interface Principal {
  userId: string
  email: string
  role: Role
  /** `project_key`: a messaging project key (`pk_…`), bound to one project, allowed only to send and read its messages. */
  via: 'jwt' | 'api_key' | 'project_key'
  /** JWT only: the login session (refresh-token family). */
  sessionId?: string
  /** API key only. */
  apiKeyId?: string
  apiKeyMode?: 'live' | 'test'
  /** Project key only: its project and its own limit (messages per hour; null: the plan's). */
  projectId?: string
  keyRateLimit?: number | null
  /** The account's plan (null: none), for the messaging hourly tiers. */
  plan?: string | null
  permissions: ReadonlyArray<string>
}

export function can(p: Principal, permission: Permission): boolean {
  if (permission === 'admin' && p.role !== 'admin') return false
  if (p.via === 'jwt') return true
  if (p.permissions.includes(permission)) return true
  return permission !== 'admin' && p.permissions.includes('*')
}

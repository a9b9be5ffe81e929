/**
 * Auth request and response schemas. Clients of several styles call these routes (camelCase
 * `{user, tokens}`, OAuth2-style snake_case, a short `token`): requests accept every spelling and
 * responses carry the fullest shape plus the aliases the other styles read (README "Auth"). Each
 * route's OpenAPI description says what it merges.
 */
import { z } from '@hono/zod-openapi'
import type { User } from '../../db/schema'
import { iso } from '../../lib/time'
import { effectiveStatus } from './account-status'
import type { IssuedTokens } from './auth.service'
import { Instant } from '../../lib/http'

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email({ message: 'Must be a valid email address' }).max(254))
  .openapi({ example: 'user@example.com' })

/** 8–128 characters with at least one letter and one digit. */
export const Password = z
  .string()
  .min(8, 'Password must be at least 8 characters')
  .max(128, 'Password must be at most 128 characters')
  .refine((s) => /[A-Za-z]/.test(s) && /\d/.test(s), 'Password must contain a letter and a digit')
  .openapi({ example: 'SecurePassword123!' })

export const UserView = z
  .object({
    id: z.string().openapi({ example: 'usr_01jd6q0000a1b2c3d4e5f6g7h8' }),
    email: z.string(),
    username: z.string().openapi({ description: 'The login under its OAuth2-style name; equals `email`' }),
    name: z.string().openapi({ description: 'First and last name' }),
    full_name: z.string().openapi({ description: 'First and last name (snake_case alias of `name`)' }),
    firstName: z.string(),
    lastName: z.string(),
    company: z.string().nullable(),
    phone: z.string().nullable(),
    timezone: z.string(),
    role: z.enum(['user', 'admin']),
    status: z.enum(['active', 'suspended', 'banned', 'inactive']),
    isActive: z.boolean(),
    is_active: z.boolean(),
    emailVerified: z.boolean(),
    preferences: z.record(z.string(), z.unknown()),
    lastLoginAt: Instant.nullable(),
    lastLogin: Instant.nullable().openapi({ description: 'Another name for `lastLoginAt`' }),
    createdAt: Instant,
    created_at: Instant,
  })
  .openapi('User')

export function userView(u: User): z.infer<typeof UserView> {
  const name = `${u.firstName} ${u.lastName}`.trim()
  const status = effectiveStatus(u)
  const created = iso(u.createdAt)!
  return {
    id: u.id,
    email: u.email,
    username: u.email,
    name,
    full_name: name,
    firstName: u.firstName,
    lastName: u.lastName,
    company: u.company,
    phone: u.phone,
    timezone: u.timezone,
    role: u.role,
    status,
    isActive: status === 'active',
    is_active: status === 'active',
    emailVerified: u.emailVerified,
    preferences: u.preferences,
    lastLoginAt: iso(u.lastLoginAt),
    lastLogin: iso(u.lastLoginAt),
    createdAt: created,
    created_at: created,
  }
}

export const TokenPair = z
  .object({
    accessToken: z.string(),
    refreshToken: z.string(),
    expiresIn: z.number().int().openapi({ description: 'Access-token lifetime in seconds' }),
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: z.number().int(),
    token: z.string().openapi({ description: 'Another name for the access token' }),
  })
  .openapi('TokenPair')

export function tokenPair(t: IssuedTokens): z.infer<typeof TokenPair> {
  return {
    accessToken: t.accessToken,
    refreshToken: t.refreshToken,
    expiresIn: t.expiresIn,
    access_token: t.accessToken,
    refresh_token: t.refreshToken,
    token_type: 'bearer',
    expires_in: t.expiresIn,
    token: t.accessToken,
  }
}

export const FEATURES = ['activations', 'numbers', 'orders', 'wallet', 'webhooks', 'sims', 'messaging', 'billing']

export const AuthResult = TokenPair.extend({
  user: UserView,
  tokens: z.object({ accessToken: z.string(), refreshToken: z.string(), expiresIn: z.number().int() }),
  account: z.object({
    billingStatus: z.enum(['prepaid']).openapi({ description: 'Accounts are prepaid: purchases are paid from the wallet' }),
    trialEndsAt: Instant.nullable(),
    featuresEnabled: z.array(z.string()),
  }),
}).openapi('AuthResult')

export function authResult(user: User, t: IssuedTokens): z.infer<typeof AuthResult> {
  return {
    ...tokenPair(t),
    user: userView(user),
    tokens: { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresIn: t.expiresIn },
    account: { billingStatus: 'prepaid', trialEndsAt: null, featuresEnabled: FEATURES },
  }
}

/** Either spelling of the refresh token (camelCase `refreshToken`, OAuth2-style `refresh_token`). */
export const RefreshTokenFields = {
  refreshToken: z.string().min(1).max(512).optional(),
  refresh_token: z.string().min(1).max(512).optional(),
}

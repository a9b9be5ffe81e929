import { z } from '@hono/zod-openapi'
import type { User } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { displayText } from '../../lib/text'
import { iso } from '../../lib/time'
import { effectiveStatus } from '../auth/account-status'
import { UserView, userView } from '../auth/schemas'
import { Instant, money } from '../../lib/http'

/** Both prefixes: the activation API's `/api/admin/users` and the DID API's `/api/v1/admin/users`. */
export const USER_PREFIXES = ['/api/admin/users', '/api/v1/admin/users'] as const

export const UserIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, description: 'The user id' }),
})

export const AdminUserSummary = z
  .object({
    id: z.string(),
    email: z.string(),
    firstName: z.string(),
    lastName: z.string(),
    company: z.string().nullable(),
    role: z.enum(['user', 'admin']),
    status: z.enum(['active', 'suspended', 'banned', 'inactive']),
    isActive: z.boolean(),
    isSuspended: z.boolean(),
    isBanned: z.boolean(),
    emailVerified: z.boolean(),
    totalNumbers: z.number().int().openapi({ description: 'Phone numbers the account holds now (not released)' }),
    totalOrders: z.number().int().openapi({ description: 'Number orders the account has placed, whatever their status' }),
    totalSpent: z.number().openapi(
      money({
        description: 'Taken from the wallet (purchases, activations, renewals, invoices paid from the wallet) net of refunds; top-ups are not spending',
      }),
    ),
    lastLoginAt: Instant.nullable(),
    createdAt: Instant,
  })
  .openapi('AdminUserSummary')

/** A user with their figures (micro-units for money), as the list reads them. */
export type UserWithTotals = User & { totals: { numbers: number; orders: number; spent: number } }

export function adminUserSummary(u: UserWithTotals): z.infer<typeof AdminUserSummary> {
  const status = effectiveStatus(u)
  return {
    id: u.id,
    email: u.email,
    firstName: u.firstName,
    lastName: u.lastName,
    company: u.company,
    role: u.role,
    status,
    isActive: status === 'active',
    isSuspended: status === 'suspended',
    isBanned: status === 'banned',
    emailVerified: u.emailVerified,
    totalNumbers: u.totals.numbers,
    totalOrders: u.totals.orders,
    totalSpent: fromMicros(u.totals.spent),
    lastLoginAt: iso(u.lastLoginAt),
    createdAt: iso(u.createdAt)!,
  }
}

export const AdminUser = UserView.extend({
  statusReason: z.string().nullable(),
  suspendedUntil: z.string().nullable(),
  updatedAt: Instant,
}).openapi('AdminUser')

export function adminUser(u: User): z.infer<typeof AdminUser> {
  return { ...userView(u), statusReason: u.statusReason, suspendedUntil: iso(u.suspendedUntil), updatedAt: iso(u.updatedAt)! }
}

/** Why an admin acts: shown in the audit log and to the user; may span lines. */
export const Reason = displayText({ min: 3, max: 500, multiline: true })

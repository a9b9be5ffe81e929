/**
 * The relational data of Switchboard (D1). drizzle-kit writes migrations/ from this file.
 *
 * Conventions: ids are prefixed sortable strings (src/lib/ids.ts); instants are integer
 * milliseconds since the epoch (`timestamp_ms`); money is integer micro-units (src/lib/money.ts);
 * lists and objects that are only ever read whole are JSON text.
 * Every table that belongs to an account carries `user_id`, and every query filters by it.
 */
import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

const ms = (name: string) => integer(name, { mode: 'timestamp_ms' })
const createdAt = () => ms('created_at').notNull().default(sql`(cast(unixepoch('subsec') * 1000 as integer))`)

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    firstName: text('first_name').notNull().default(''),
    lastName: text('last_name').notNull().default(''),
    company: text('company'),
    phone: text('phone'),
    timezone: text('timezone').notNull().default('UTC'),
    role: text('role', { enum: ['user', 'admin'] }).notNull().default('user'),
    /** `suspended` ends by itself at `suspendedUntil` when that is set; `banned` does not end. */
    status: text('status', { enum: ['active', 'suspended', 'banned', 'inactive'] }).notNull().default('active'),
    statusReason: text('status_reason'),
    suspendedUntil: ms('suspended_until'),
    emailVerified: integer('email_verified', { mode: 'boolean' }).notNull().default(false),
    marketingConsent: integer('marketing_consent', { mode: 'boolean' }).notNull().default(false),
    preferences: text('preferences', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    lastLoginAt: ms('last_login_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('users_email_uq').on(t.email),
    index('users_created_idx').on(t.createdAt),
    index('users_role_status_idx').on(t.role, t.status),
    index('users_last_login_idx').on(t.lastLoginAt),
  ],
)

/** One login on one device. Refresh tokens rotate inside it; reuse of a rotated one revokes it. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id),
    userAgent: text('user_agent'),
    ip: text('ip'),
    deviceInfo: text('device_info', { mode: 'json' }).$type<Record<string, unknown>>(),
    expiresAt: ms('expires_at').notNull(),
    revokedAt: ms('revoked_at'),
    revokeReason: text('revoke_reason'),
    lastUsedAt: ms('last_used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('sessions_user_idx').on(t.userId, t.revokedAt)],
)

export const refreshTokens = sqliteTable(
  'refresh_tokens',
  {
    id: text('id').primaryKey(),
    sessionId: text('session_id').notNull().references(() => sessions.id),
    userId: text('user_id').notNull().references(() => users.id),
    tokenHash: text('token_hash').notNull(),
    expiresAt: ms('expires_at').notNull(),
    /** Set when the token was exchanged; presenting it again is reuse. */
    usedAt: ms('used_at'),
    replacedBy: text('replaced_by'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('refresh_tokens_hash_uq').on(t.tokenHash), index('refresh_tokens_session_idx').on(t.sessionId)],
)

/** Single-use, expiring tokens mailed to users: email verification and password reset. */
export const authTokens = sqliteTable(
  'auth_tokens',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id),
    kind: text('kind', { enum: ['verify_email', 'password_reset'] }).notNull(),
    tokenHash: text('token_hash').notNull(),
    expiresAt: ms('expires_at').notNull(),
    usedAt: ms('used_at'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('auth_tokens_hash_uq').on(t.tokenHash), index('auth_tokens_user_idx').on(t.userId, t.kind)],
)

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id),
    /** Set for messaging project keys (seed 004); null for account keys (seed 001). */
    projectId: text('project_id'),
    name: text('name').notNull(),
    description: text('description'),
    keyHash: text('key_hash').notNull(),
    keyPrefix: text('key_prefix').notNull(),
    mode: text('mode', { enum: ['live', 'test'] }).notNull().default('live'),
    permissions: text('permissions', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Seed 004's per-key limit (messages per hour); null means the plan default. */
    rateLimit: integer('rate_limit'),
    expiresAt: ms('expires_at'),
    lastUsedAt: ms('last_used_at'),
    revokedAt: ms('revoked_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('api_keys_hash_uq').on(t.keyHash),
    index('api_keys_user_idx').on(t.userId, t.createdAt),
    index('api_keys_project_idx').on(t.projectId),
  ],
)

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: text('id').primaryKey(),
    actorId: text('actor_id'),
    actorType: text('actor_type', { enum: ['user', 'api_key', 'system'] }).notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id').notNull(),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    ip: text('ip'),
    requestId: text('request_id'),
    createdAt: createdAt(),
  },
  (t) => [
    index('audit_target_idx').on(t.targetType, t.targetId, t.createdAt),
    index('audit_actor_idx').on(t.actorId, t.createdAt),
    index('audit_created_idx').on(t.createdAt),
  ],
)

/** Mail written by the sandbox mailer (and a copy of what real mailers sent). */
export const emails = sqliteTable(
  'emails',
  {
    id: text('id').primaryKey(),
    userId: text('user_id'),
    to: text('to').notNull(),
    subject: text('subject').notNull(),
    text: text('text').notNull(),
    kind: text('kind').notNull(),
    transport: text('transport').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('emails_to_idx').on(t.to, t.createdAt), index('emails_created_idx').on(t.createdAt)],
)

/** Upstream providers (numbers, SIMs, messaging, payments). The numbers work extends it. */
export const providers = sqliteTable(
  'providers',
  {
    id: text('id').primaryKey(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    adapter: text('adapter').notNull(),
    kinds: text('kinds', { mode: 'json' }).$type<string[]>().notNull(),
    status: text('status', { enum: ['active', 'disabled'] }).notNull().default('active'),
    healthy: integer('healthy', { mode: 'boolean' }).notNull().default(true),
    priority: integer('priority').notNull().default(100),
    config: text('config', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    lastSyncAt: ms('last_sync_at'),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('providers_code_uq').on(t.code)],
)

export type User = typeof users.$inferSelect
export type ApiKey = typeof apiKeys.$inferSelect

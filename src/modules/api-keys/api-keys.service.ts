/**
 * Account API keys (/api/v1/api-keys). The plain key is returned once, at creation; only its
 * SHA-256 and a display prefix are stored. Every query is scoped to the owner: another account's
 * key is a 404, never a 403, so ids cannot be probed.
 *
 * An account holds at most `maxActive` active keys (neither revoked nor expired; the
 * MAX_ACTIVE_API_KEYS setting). The count and the insert are one statement, so concurrent
 * creations cannot overshoot it.
 */
import { and, count, desc, eq, gt, isNull, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { apiKeys, type ApiKey } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import { Conflict, Forbidden, NotFound, ValidationError } from '../../lib/errors'
import { newId, randomSecret } from '../../lib/ids'
import { apiKeyCache } from '../auth/authn.service'
import { PERMISSIONS } from '../../lib/principal'
import { actingPrincipal, type RequestContext } from '../../lib/context'

/** `sk_live_` plus the first 8 characters of the secret: enough to tell keys apart, useless to attackers. */
const PREFIX_LENGTH = 16

export interface CreateKeyInput {
  name: string
  permissions: string[]
  expiresAt?: string
  description?: string
  mode?: 'live' | 'test'
}

export class ApiKeyService {
  constructor(
    private readonly db: Db,
    private readonly opts: { maxActive: number },
  ) {}

  async create(ctx: RequestContext, input: CreateKeyInput): Promise<{ key: string; row: ApiKey }> {
    const owner = { userId: ctx.accountId, role: actingPrincipal(ctx)?.role ?? 'user' }
    const permissions = [...new Set(input.permissions)]
    for (const p of permissions) {
      if (p !== '*' && !(PERMISSIONS as readonly string[]).includes(p)) {
        throw ValidationError.field('permissions', `Unknown permission '${p}'. Known: *, ${PERMISSIONS.join(', ')}`)
      }
    }
    if (permissions.includes('admin') && owner.role !== 'admin') throw new Forbidden("Only admins can create keys with the 'admin' permission")
    const now = new Date()
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null
    if (expiresAt && expiresAt <= now) throw ValidationError.field('expiresAt', 'expiresAt must be in the future')

    const mode = input.mode ?? 'live'
    const key = `sk_${mode}_${randomSecret(32)}`
    const row: ApiKey = {
      id: newId('key'),
      userId: owner.userId,
      projectId: null,
      name: input.name,
      description: input.description ?? null,
      keyHash: await sha256Hex(key),
      keyPrefix: key.slice(0, PREFIX_LENGTH),
      mode,
      permissions,
      rateLimit: null,
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
      createdAt: now,
      updatedAt: now,
    }
    const active = and(eq(apiKeys.userId, owner.userId), isNull(apiKeys.projectId), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)))
    // Inserted only while the account is under its limit. Columns in table order: id, user_id,
    // project_id, name, description, key_hash, key_prefix, mode, permissions, rate_limit,
    // expires_at, last_used_at, revoked_at, created_at, updated_at.
    const inserted = await this.db
      .insert(apiKeys)
      .select(
        sql`SELECT ${row.id}, ${row.userId}, NULL, ${row.name}, ${row.description}, ${row.keyHash}, ${row.keyPrefix}, ${row.mode},
          ${JSON.stringify(row.permissions)}, NULL, ${expiresAt?.getTime() ?? null}, NULL, NULL, ${now.getTime()}, ${now.getTime()}
        WHERE (SELECT COUNT(*) FROM ${apiKeys} WHERE ${active}) < ${this.opts.maxActive}`,
      )
      .run()
    if (inserted.meta.changes !== 1) {
      const max = this.opts.maxActive
      throw new Conflict('API_KEY_LIMIT_REACHED', `An account can hold at most ${max} active API keys; revoke one first`, { limit: max })
    }
    return { key, row }
  }

  async list(ctx: RequestContext, page: number, limit: number) {
    const userId = ctx.accountId
    const where = and(eq(apiKeys.userId, userId), isNull(apiKeys.projectId))
    const [rows, total] = await this.db.batch([
      this.db
        .select()
        .from(apiKeys)
        .where(where)
        .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
        .limit(limit)
        .offset((page - 1) * limit),
      this.db.select({ n: count() }).from(apiKeys).where(where),
    ])
    return { rows, total: total[0]?.n ?? 0 }
  }

  async get(ctx: RequestContext, id: string): Promise<ApiKey> {
    const userId = ctx.accountId
    const row = await this.db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.projectId)))
      .get()
    if (!row) throw new NotFound('API key')
    return row
  }

  /**
   * Revoking is final and idempotent: a second call answers the key as already revoked. The key is
   * forgotten by this isolate's credential cache at once (other isolates: within its TTL).
   */
  async revoke(ctx: RequestContext, id: string): Promise<ApiKey> {
    const userId = ctx.accountId
    const now = new Date()
    const row = await this.db
      .update(apiKeys)
      .set({ revokedAt: now, updatedAt: now })
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.projectId), isNull(apiKeys.revokedAt)))
      .returning()
      .get()
    apiKeyCache.forget({ keyId: id })
    return row ?? this.get(ctx, id)
  }
}

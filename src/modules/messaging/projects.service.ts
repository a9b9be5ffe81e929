/**
 * Messaging projects and their keys. A project belongs to one account; another account's project
 * is 404 `PROJECT_NOT_FOUND`. Deleting a project is final: it is hidden (`deleted_at`) so its
 * messages stay on the record, and its keys, connectors and templates go with it — its keys are
 * revoked in the same batch and forgotten by this isolate's key cache at once.
 *
 * Project keys are rows of `api_keys` with `project_id` set: `pk_live_…`/`pk_test_…`, shown once,
 * stored as SHA-256, allowed only `messages:send` and `messages:read` (authenticate.ts refuses
 * them on every route that does not say `projectKey`).
 */
import { and, count, desc, eq, isNull } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { apiKeys, connectors, messageTemplates, projects, type ApiKey, type Project } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { sha256Hex } from '../../lib/crypto'
import { AppError } from '../../lib/errors'
import { newId, randomSecret } from '../../lib/ids'
import { apiKeyCache } from '../auth/authn.service'

export const PROJECT_KEY_PERMISSIONS = ['messages:send', 'messages:read']

export class ProjectNotFound extends AppError {
  constructor() {
    super(404, 'PROJECT_NOT_FOUND', 'Project not found')
  }
}

export class ProjectsService {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  async create(ctx: RequestContext, input: { name: string; description?: string }): Promise<Project> {
    const at = new Date(this.now())
    const row: Project = {
      id: newId('proj', at.getTime()),
      userId: ctx.accountId,
      name: input.name,
      description: input.description ?? null,
      isActive: true,
      createdAt: at,
      updatedAt: at,
      deletedAt: null,
    }
    await this.db.insert(projects).values(row)
    return row
  }

  async list(ctx: RequestContext, limit: number, offset: number): Promise<{ rows: Project[]; total: number }> {
    const where = and(eq(projects.userId, ctx.accountId), isNull(projects.deletedAt))
    const [rows, totals] = await this.db.batch([
      this.db.select().from(projects).where(where).orderBy(desc(projects.createdAt), desc(projects.id)).limit(limit).offset(offset),
      this.db.select({ n: count() }).from(projects).where(where),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  /** The account's project (not deleted), else 404 PROJECT_NOT_FOUND. */
  async get(ctx: RequestContext, id: string): Promise<Project> {
    const row = await this.db
      .select()
      .from(projects)
      .where(and(eq(projects.id, id), eq(projects.userId, ctx.accountId), isNull(projects.deletedAt)))
      .get()
    if (!row) throw new ProjectNotFound()
    return row
  }

  async update(ctx: RequestContext, id: string, input: { name?: string; description?: string | null; isActive?: boolean }): Promise<Project> {
    await this.get(ctx, id)
    const row = await this.db
      .update(projects)
      .set({ ...input, updatedAt: new Date(this.now()) })
      .where(and(eq(projects.id, id), eq(projects.userId, ctx.accountId), isNull(projects.deletedAt)))
      .returning()
      .get()
    if (!row) throw new ProjectNotFound()
    return row
  }

  /** Hides the project with its connectors and templates and revokes its keys, in one batch. */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    await this.get(ctx, id)
    const at = new Date(this.now())
    const mine = (t: typeof connectors | typeof messageTemplates) => and(eq(t.projectId, id), eq(t.userId, ctx.accountId), isNull(t.deletedAt))
    await this.db.batch([
      this.db
        .update(projects)
        .set({ deletedAt: at, isActive: false, updatedAt: at })
        .where(and(eq(projects.id, id), eq(projects.userId, ctx.accountId))),
      this.db
        .update(apiKeys)
        .set({ revokedAt: at, updatedAt: at })
        .where(and(eq(apiKeys.projectId, id), eq(apiKeys.userId, ctx.accountId), isNull(apiKeys.revokedAt))),
      this.db.update(connectors).set({ deletedAt: at, isActive: false, updatedAt: at }).where(mine(connectors)),
      this.db.update(messageTemplates).set({ deletedAt: at, isActive: false, updatedAt: at }).where(mine(messageTemplates)),
    ])
    // Other isolates stop accepting them within the key cache's TTL; this one at once.
    apiKeyCache.forget({ userId: ctx.accountId })
  }

  // ---- keys ----------------------------------------------------------------------------------

  async createKey(ctx: RequestContext, projectId: string, input: { name: string; rateLimit?: number; mode: 'live' | 'test' }): Promise<{ key: string; row: ApiKey }> {
    await this.get(ctx, projectId)
    const key = `pk_${input.mode}_${randomSecret(32)}`
    const at = new Date(this.now())
    const row: ApiKey = {
      id: newId('key', at.getTime()),
      userId: ctx.accountId,
      projectId,
      name: input.name,
      description: null,
      keyHash: await sha256Hex(key),
      keyPrefix: key.slice(0, 12),
      mode: input.mode,
      permissions: PROJECT_KEY_PERMISSIONS,
      rateLimit: input.rateLimit ?? null,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      createdAt: at,
      updatedAt: at,
    }
    await this.db.insert(apiKeys).values(row)
    return { key, row }
  }

  async listKeys(ctx: RequestContext, projectId: string, limit: number, offset: number): Promise<{ rows: ApiKey[]; total: number }> {
    await this.get(ctx, projectId)
    const where = and(eq(apiKeys.projectId, projectId), eq(apiKeys.userId, ctx.accountId), isNull(apiKeys.revokedAt))
    const [rows, totals] = await this.db.batch([
      this.db.select().from(apiKeys).where(where).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id)).limit(limit).offset(offset),
      this.db.select({ n: count() }).from(apiKeys).where(where),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  /** Revokes the key at once (404 for a key of another project or account, or one already revoked). */
  async deleteKey(ctx: RequestContext, projectId: string, keyId: string): Promise<void> {
    await this.get(ctx, projectId)
    const at = new Date(this.now())
    const row = await this.db
      .update(apiKeys)
      .set({ revokedAt: at, updatedAt: at })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.projectId, projectId), eq(apiKeys.userId, ctx.accountId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id })
      .get()
    if (!row) throw new AppError(404, 'NOT_FOUND', 'API key not found')
    apiKeyCache.forget({ keyId })
  }
}

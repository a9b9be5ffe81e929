/**
 * A project's connectors. Credentials are validated per type (unknown type: 400
 * `INVALID_CONNECTOR_TYPE`; a bad field: 400 `VALIDATION_ERROR` naming `credentials.<field>`),
 * sealed with the secret box and never returned — only a hint of the last 4 characters. Another
 * project's or account's connector is 404 `CONNECTOR_NOT_FOUND`.
 */
import { and, count, desc, eq, isNull } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { CONNECTOR_TYPES, connectors, type Connector } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { AppError, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { open, seal } from '../../lib/secret-box'
import { CREDENTIAL_SCHEMAS, credentialHint } from '../../providers/messaging/credentials'
import { connectorAdapter, type ConnectorBuildDeps } from '../../providers/messaging/registry'
import type { ConnectorTestResult, ConnectorType, InboundCallback, MessagingConnector, StatusUpdate } from '../../providers/messaging/types'
import type { ProjectsService } from './projects.service'

export class ConnectorNotFound extends AppError {
  constructor() {
    super(404, 'CONNECTOR_NOT_FOUND', 'Connector not found')
  }
}

type Pacing = { perSecond?: number; perRecipientMs?: number }

export interface ConnectorsDeps {
  db: Db
  projects: ProjectsService
  /** The key the credentials are sealed under (ENCRYPTION_KEY). */
  encryptionKey: string
  build: Omit<ConnectorBuildDeps, 'db'>
  now?: () => number
}

export class ConnectorsService {
  private readonly now: () => number
  private readonly adapters = new Map<string, MessagingConnector>()

  constructor(private readonly deps: ConnectorsDeps) {
    this.now = deps.now ?? Date.now
  }

  /** The credentials validated for their type; throws 400 naming the type or the field. */
  static validate(type: string, credentials: Record<string, unknown>): { type: ConnectorType; credentials: Record<string, unknown> } {
    if (!(CONNECTOR_TYPES as readonly string[]).includes(type)) {
      throw new AppError(400, 'INVALID_CONNECTOR_TYPE', `Unsupported connector type '${String(type).slice(0, 40)}': one of ${CONNECTOR_TYPES.join(', ')}`, { allowed: CONNECTOR_TYPES }, 'type')
    }
    const parsed = CREDENTIAL_SCHEMAS[type as ConnectorType].safeParse(credentials)
    if (!parsed.success) {
      // Field paths and zod's messages only: a credential value is never quoted back.
      const issues = parsed.error.issues.map((i) => ({ field: ['credentials', ...i.path.map(String)].join('.'), message: i.message }))
      throw new ValidationError(`Invalid ${type} credentials: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, issues)
    }
    return { type: type as ConnectorType, credentials: parsed.data as Record<string, unknown> }
  }

  async create(ctx: RequestContext, projectId: string, input: { type: string; name: string; credentials: Record<string, unknown>; settings?: Pacing }): Promise<Connector> {
    await this.deps.projects.get(ctx, projectId)
    const { type, credentials } = ConnectorsService.validate(input.type, input.credentials)
    const at = new Date(this.now())
    const row: Connector = {
      id: newId('conn', at.getTime()),
      userId: ctx.accountId,
      projectId,
      type,
      name: input.name,
      credentials: await seal(this.deps.encryptionKey, JSON.stringify(credentials)),
      credentialsHint: credentialHint(type, credentials),
      settings: input.settings ?? {},
      isActive: true,
      createdAt: at,
      updatedAt: at,
      deletedAt: null,
    }
    await this.deps.db.insert(connectors).values(row)
    return row
  }

  async list(ctx: RequestContext, projectId: string, limit: number, offset: number): Promise<{ rows: Connector[]; total: number }> {
    await this.deps.projects.get(ctx, projectId)
    const { db } = this.deps
    const where = and(eq(connectors.projectId, projectId), eq(connectors.userId, ctx.accountId), isNull(connectors.deletedAt))
    const [rows, totals] = await db.batch([
      db.select().from(connectors).where(where).orderBy(desc(connectors.createdAt), desc(connectors.id)).limit(limit).offset(offset),
      db.select({ n: count() }).from(connectors).where(where),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  /** The project's connector: 404 PROJECT_NOT_FOUND for a project not the account's, else 404 CONNECTOR_NOT_FOUND. */
  async get(ctx: RequestContext, projectId: string, id: string): Promise<Connector> {
    await this.deps.projects.get(ctx, projectId)
    const row = await this.deps.db
      .select()
      .from(connectors)
      .where(and(eq(connectors.id, id), eq(connectors.projectId, projectId), eq(connectors.userId, ctx.accountId), isNull(connectors.deletedAt)))
      .get()
    if (!row) throw new ConnectorNotFound()
    return row
  }

  async update(ctx: RequestContext, projectId: string, id: string, input: { name?: string; isActive?: boolean; credentials?: Record<string, unknown>; settings?: Pacing }): Promise<Connector> {
    const current = await this.get(ctx, projectId, id)
    const set: Partial<Connector> = { updatedAt: new Date(this.now()) }
    if (input.name !== undefined) set.name = input.name
    if (input.isActive !== undefined) set.isActive = input.isActive
    if (input.settings !== undefined) set.settings = input.settings
    if (input.credentials !== undefined) {
      const { credentials } = ConnectorsService.validate(current.type, input.credentials)
      set.credentials = await seal(this.deps.encryptionKey, JSON.stringify(credentials))
      set.credentialsHint = credentialHint(current.type, credentials)
    }
    const row = await this.deps.db
      .update(connectors)
      .set(set)
      .where(and(eq(connectors.id, id), eq(connectors.userId, ctx.accountId), isNull(connectors.deletedAt)))
      .returning()
      .get()
    if (!row) throw new ConnectorNotFound()
    this.adapters.delete(id)
    return row
  }

  async delete(ctx: RequestContext, projectId: string, id: string): Promise<void> {
    await this.get(ctx, projectId, id)
    const at = new Date(this.now())
    await this.deps.db
      .update(connectors)
      .set({ deletedAt: at, isActive: false, updatedAt: at })
      .where(and(eq(connectors.id, id), eq(connectors.userId, ctx.accountId)))
    this.adapters.delete(id)
  }

  /** A real identity call to the upstream; a failure is `{success: false}` (never a credential). */
  async test(ctx: RequestContext, projectId: string, id: string): Promise<ConnectorTestResult> {
    const row = await this.get(ctx, projectId, id)
    return (await this.adapterOf(row)).test()
  }

  /** A connector an upstream calls back about (no account context: the signature is the proof), else 404. */
  async forCallback(id: string, type?: ConnectorType): Promise<Connector> {
    const row = await this.deps.db
      .select()
      .from(connectors)
      .where(and(eq(connectors.id, id), isNull(connectors.deletedAt)))
      .get()
    if (!row || (type && row.type !== type)) throw new ConnectorNotFound()
    return row
  }

  /** The connector's credentials, opened (for a webhook handshake; never in an answer). */
  async credentialsOf(row: Pick<Connector, 'credentials'>): Promise<Record<string, unknown>> {
    return JSON.parse(await open(this.deps.encryptionKey, row.credentials)) as Record<string, unknown>
  }

  /** The verified updates of a status callback; 404 for a connector type that sends none. */
  async statusUpdates(adapter: MessagingConnector, callback: InboundCallback): Promise<StatusUpdate[]> {
    if (!adapter.statusUpdates) throw new ConnectorNotFound()
    return adapter.statusUpdates(callback)
  }

  /** The connector's adapter with its opened credentials (kept for this request). */
  async adapterOf(row: Pick<Connector, 'id' | 'type' | 'credentials'>): Promise<MessagingConnector> {
    const kept = this.adapters.get(row.id)
    if (kept) return kept
    const credentials = await this.credentialsOf(row)
    const adapter = connectorAdapter(row, credentials, { ...this.deps.build, db: this.deps.db, now: this.deps.now })
    this.adapters.set(row.id, adapter)
    return adapter
  }
}

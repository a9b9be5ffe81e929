/**
 * Message templates: `{{name}}` placeholders whose names must equal the declared `variables`
 * (400 naming the difference), and strict rendering: a variable the template needs and the send
 * did not give is 400 `MISSING_REQUIRED_FIELD` naming it; values are escaped for the channel's
 * format before they go in (the content itself is the customer's, as written).
 */
import { and, count, desc, eq, isNull } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { messageTemplates, type MessageTemplate } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { AppError, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import type { ConnectorType } from '../../providers/messaging/types'
import type { ProjectsService } from './projects.service'

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g

export class TemplateNotFound extends AppError {
  constructor() {
    super(404, 'TEMPLATE_NOT_FOUND', 'Template not found')
  }
}

/** The placeholder names of `content`, each once, in order of first use. */
export function placeholders(content: string): string[] {
  return [...new Set([...content.matchAll(PLACEHOLDER)].map((m) => m[1]!))]
}

/** 400 when the declared variables are not exactly the content's placeholders. */
export function checkVariables(content: string, variables: string[]): void {
  const used = placeholders(content)
  const missing = used.filter((v) => !variables.includes(v))
  const unused = [...new Set(variables)].filter((v) => !used.includes(v))
  if (!missing.length && !unused.length && new Set(variables).size === variables.length) return
  const parts = [
    missing.length ? `used in content but not declared: ${missing.join(', ')}` : '',
    unused.length ? `declared but not used in content: ${unused.join(', ')}` : '',
    new Set(variables).size !== variables.length ? 'declared more than once' : '',
  ].filter(Boolean)
  throw new ValidationError(`variables must equal the placeholders of content (${parts.join('; ')})`, [{ field: 'variables', message: parts.join('; '), value: { missing, unused } }])
}

/** The content with every placeholder replaced by its escaped value; 400 MISSING_REQUIRED_FIELD for the first one not given. */
export function render(content: string, values: Record<string, string | number | boolean>, escapeValue: (value: string) => string = (v) => v): string {
  for (const variable of placeholders(content)) {
    if (!(variable in values) || values[variable] === '') {
      throw new AppError(400, 'MISSING_REQUIRED_FIELD', `Missing template variable: ${variable}`, { variable }, `variables.${variable}`)
    }
  }
  return content.replace(PLACEHOLDER, (_, variable: string) => escapeValue(String(values[variable])))
}

export class TemplatesService {
  constructor(
    private readonly db: Db,
    private readonly projects: ProjectsService,
    private readonly now: () => number = Date.now,
  ) {}

  async create(ctx: RequestContext, projectId: string, input: { name: string; connectorType: ConnectorType; content: string; variables: string[] }): Promise<MessageTemplate> {
    await this.projects.get(ctx, projectId)
    checkVariables(input.content, input.variables)
    const at = new Date(this.now())
    const row: MessageTemplate = { id: newId('tpl', at.getTime()), userId: ctx.accountId, projectId, ...input, isActive: true, createdAt: at, updatedAt: at, deletedAt: null }
    await this.db.insert(messageTemplates).values(row)
    return row
  }

  async list(ctx: RequestContext, projectId: string, limit: number, offset: number): Promise<{ rows: MessageTemplate[]; total: number }> {
    await this.projects.get(ctx, projectId)
    const where = and(eq(messageTemplates.projectId, projectId), eq(messageTemplates.userId, ctx.accountId), isNull(messageTemplates.deletedAt))
    const [rows, totals] = await this.db.batch([
      this.db.select().from(messageTemplates).where(where).orderBy(desc(messageTemplates.createdAt), desc(messageTemplates.id)).limit(limit).offset(offset),
      this.db.select({ n: count() }).from(messageTemplates).where(where),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  /** The project's template: 404 PROJECT_NOT_FOUND for a project not the account's, else 404 TEMPLATE_NOT_FOUND (also another project's). */
  async get(ctx: RequestContext, projectId: string, id: string): Promise<MessageTemplate> {
    await this.projects.get(ctx, projectId)
    const row = await this.db
      .select()
      .from(messageTemplates)
      .where(and(eq(messageTemplates.id, id), eq(messageTemplates.projectId, projectId), eq(messageTemplates.userId, ctx.accountId), isNull(messageTemplates.deletedAt)))
      .get()
    if (!row) throw new TemplateNotFound()
    return row
  }

  async update(ctx: RequestContext, projectId: string, id: string, input: { name?: string; content?: string; variables?: string[]; isActive?: boolean }): Promise<MessageTemplate> {
    const current = await this.get(ctx, projectId, id)
    checkVariables(input.content ?? current.content, input.variables ?? current.variables)
    const row = await this.db
      .update(messageTemplates)
      .set({ ...input, updatedAt: new Date(this.now()) })
      .where(and(eq(messageTemplates.id, id), eq(messageTemplates.userId, ctx.accountId), isNull(messageTemplates.deletedAt)))
      .returning()
      .get()
    if (!row) throw new TemplateNotFound()
    return row
  }

  async delete(ctx: RequestContext, projectId: string, id: string): Promise<void> {
    await this.get(ctx, projectId, id)
    const at = new Date(this.now())
    await this.db
      .update(messageTemplates)
      .set({ deletedAt: at, isActive: false, updatedAt: at })
      .where(and(eq(messageTemplates.id, id), eq(messageTemplates.userId, ctx.accountId)))
  }
}

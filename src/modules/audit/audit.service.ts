/**
 * The audit log: who did what to whom. Admin actions write their entry in the same D1 batch as
 * the change itself (`entry()` returns the insert to put in that batch), so there is never a
 * change without its entry or an entry without its change.
 */
import { desc, eq, and } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { auditLog } from '../../db/schema'
import { newId } from '../../lib/ids'
import type { RequestContext } from '../../lib/context'

export class AuditService {
  constructor(private readonly db: Db) {}

  entry(ctx: RequestContext, action: string, targetType: string, targetId: string, details: Record<string, unknown> = {}) {
    const { actor } = ctx
    return this.db.insert(auditLog).values({
      id: newId('aud'),
      actorId: actor.kind === 'system' ? actor.name : (actor.principal.apiKeyId ?? actor.principal.userId),
      actorType: actor.kind === 'system' ? 'system' : actor.kind === 'key' ? 'api_key' : 'user',
      action,
      targetType,
      targetId,
      details: { ...details, actorUserId: actor.kind === 'system' ? null : actor.principal.userId },
      ip: ctx.ip,
      requestId: ctx.requestId,
    })
  }

  forTarget(targetType: string, targetId: string, limit = 20) {
    return this.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetType, targetType), eq(auditLog.targetId, targetId)))
      .orderBy(desc(auditLog.createdAt))
      .limit(limit)
      .all()
  }
}

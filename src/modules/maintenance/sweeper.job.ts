/**
 * The per-minute sweeper. Foundation duties: end suspensions whose time is up, and delete auth
 * material nobody can use any more (expired or consumed tokens, long-dead sessions). Every step
 * is a set-based statement whose result is the same however often it runs.
 */
import { and, eq, inArray, isNotNull, lt, lte, or } from 'drizzle-orm'
import { authTokens, refreshTokens, sessions, users } from '../../db/schema'
import type { Services } from '../../services'

/** Revoked or expired sessions (and their tokens) are kept this long for audit, then deleted. */
const SESSION_RETENTION_MS = 30 * 86_400_000

export async function runSweeper({ db }: Services, scheduledTime: number) {
  const now = new Date(scheduledTime)
  const cutoff = new Date(scheduledTime - SESSION_RETENTION_MS)
  const dead = db
    .select({ id: sessions.id })
    .from(sessions)
    .where(or(and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, cutoff)), lt(sessions.expiresAt, cutoff)))
  const results = await db.batch([
    db
      .update(users)
      .set({ status: 'active', statusReason: null, suspendedUntil: null, updatedAt: now })
      .where(and(eq(users.status, 'suspended'), isNotNull(users.suspendedUntil), lte(users.suspendedUntil, now))),
    db.delete(authTokens).where(or(lt(authTokens.expiresAt, now), isNotNull(authTokens.usedAt))),
    db.delete(refreshTokens).where(inArray(refreshTokens.sessionId, dead)),
    db.delete(sessions).where(inArray(sessions.id, dead)),
  ])
  return {
    suspensionsEnded: results[0].meta.changes,
    authTokensDeleted: results[1].meta.changes,
    sessionsDeleted: results[3].meta.changes,
  }
}

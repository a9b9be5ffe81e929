/**
 * The per-minute sweeper. Foundation duties: end suspensions whose time is up, and delete auth
 * material nobody can use any more (expired or consumed tokens, long-dead sessions). Every step
 * is a set-based statement whose result is the same however often it runs.
 */
import { sql } from 'drizzle-orm'
import type { Services } from '../../services'

/** Revoked or expired sessions (and their tokens) are kept this long for audit, then deleted. */
const SESSION_RETENTION_MS = 30 * 86_400_000

export async function runSweeper({ db }: Services, scheduledTime: number) {
  const now = scheduledTime
  const cutoff = now - SESSION_RETENTION_MS
  const dead = sql`SELECT id FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < ${cutoff}) OR expires_at < ${cutoff}`
  const results = await db.batch([
    db.run(sql`UPDATE users SET status = 'active', status_reason = NULL, suspended_until = NULL, updated_at = ${now}
               WHERE status = 'suspended' AND suspended_until IS NOT NULL AND suspended_until <= ${now}`),
    db.run(sql`DELETE FROM auth_tokens WHERE expires_at < ${now} OR used_at IS NOT NULL`),
    db.run(sql`DELETE FROM refresh_tokens WHERE session_id IN (${dead})`),
    db.run(sql`DELETE FROM sessions WHERE id IN (${dead})`),
  ])
  return {
    suspensionsEnded: results[0].meta.changes,
    authTokensDeleted: results[1].meta.changes,
    sessionsDeleted: results[3].meta.changes,
  }
}

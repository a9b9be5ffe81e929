/**
 * Sweeper step: delete Idempotency-Key records past their 24 h (src/http/idempotency.ts).
 * The middleware already ignores and overwrites expired records, so this only keeps the table
 * small. Bounded per run (the sweeper runs every minute and catches up); idempotent.
 */
import { sql } from 'drizzle-orm'
import type { Services } from '../../services'

export const PURGE_BATCH = 5_000

export async function purgeIdempotencyKeys({ db }: Pick<Services, 'db'>, now: number) {
  const r = await db.run(sql`DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= ${now} LIMIT ${PURGE_BATCH})`)
  return { idempotencyKeysDeleted: r.meta.changes }
}

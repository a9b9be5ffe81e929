/**
 * Attempt keys of automatic top-ups (billing/auto-top-up.ts): `autotopup_<userId>_<YYYY-MM-DD>`,
 * one per account and UTC day, in the payments table's attempt_key like every other attempt. The
 * prefix cannot come from a request (those keys are `topup_<hash>` or ids), so a client's
 * Idempotency-Key never collides with one.
 */
import type { payments } from '../../db/schema'

export const AUTO_TOP_UP_KEY_PREFIX = 'autotopup_'

export const autoTopUpKey = (userId: string, day: string) => `${AUTO_TOP_UP_KEY_PREFIX}${userId}_${day}`

export const isAutoTopUp = (p: Pick<typeof payments.$inferSelect, 'attemptKey'>) => p.attemptKey.startsWith(AUTO_TOP_UP_KEY_PREFIX)

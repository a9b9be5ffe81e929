/**
 * Credits the platform owes an account, made durable (table pending_credits).
 *
 * A flow that decides to give money back writes a `pending` row — in the same D1 batch as the
 * decision, so the decision and the debt appear together — then makes the credit at once with
 * `settlePendingCredit`. If the credit fails (the Wallet unreachable, the Worker gone), the row
 * stays `pending` and the sweeper's `finishPendingCredits` makes it later, under the same
 * operation id: the Wallet replays a credit it already made, so a credit is made exactly once
 * however many times it is tried. A try that fails waits `creditBackoffMs(attempts)` (1, 2, 4 …
 * minutes, at most an hour) before the next one.
 *
 * A row with a `debitOpId` gives that debit back (`WalletService.returnDebit`): the writer need
 * not know whether its debit went through. The Wallet credits what the debit took if it was
 * made, once; if it was not, nothing is credited and the debit can no longer be made
 * (`nothing`). Either way the row is then `done`.
 */
import { and, asc, eq, lte } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { pendingCredits } from '../../db/schema'
import type { WalletService } from './wallet.service'
import { MINUTE_MS } from '../../lib/time'
import { logger } from '../../lib/logger'

export type PendingCredit = typeof pendingCredits.$inferSelect

/** A fresh row is the writer's to settle for this long before the sweeper takes it. */
export const PENDING_CREDIT_GRACE_MS = MINUTE_MS
/** Rows the sweeper settles per run. */
export const CREDITS_PER_RUN = 50

export function creditBackoffMs(attempts: number): number {
  return Math.min(60 * MINUTE_MS, MINUTE_MS * 2 ** Math.max(0, attempts - 1))
}

/** The row to write (with `insertWhere` or `insert … on conflict do nothing`) before the credit is made. */
export function pendingCreditValues(credit: { opId: string; userId: string; amount: number; reference?: { type: string; id: string }; description?: string; debitOpId?: string }, now = new Date()) {
  return {
    opId: credit.opId,
    debitOpId: credit.debitOpId ?? null,
    userId: credit.userId,
    amount: credit.amount,
    referenceType: credit.reference?.type ?? null,
    referenceId: credit.reference?.id ?? null,
    description: credit.description ?? null,
    status: 'pending' as const,
    attempts: 0,
    nextAttemptAt: new Date(now.getTime() + PENDING_CREDIT_GRACE_MS),
    createdAt: now,
  }
}

export type SettleResult = { status: 'credited' | 'replayed' | 'nothing' | 'done' | 'none' } | { status: 'failed'; error: string }

/**
 * Makes the credit of the pending row `opId` and marks it done. `credited`: moved now; `replayed`:
 * the Wallet had made it already; `nothing`: a debit to give back that was never made (nothing
 * owed; it is cancelled); `done`/`none`: the row was settled already / does not exist; `failed`:
 * not made (the row stays pending, with the error and a backoff).
 */
export async function settlePendingCredit(deps: { db: Db; wallet: WalletService }, opId: string, now = new Date()): Promise<SettleResult> {
  const row = await deps.db.select().from(pendingCredits).where(eq(pendingCredits.opId, opId)).get()
  if (!row) return { status: 'none' }
  if (row.status === 'done') return { status: 'done' }
  return settle(deps, row, now)
}

async function settle(deps: { db: Db; wallet: WalletService }, row: PendingCredit, now: Date): Promise<SettleResult> {
  let error: string
  try {
    const reference = row.referenceType && row.referenceId ? { type: row.referenceType, id: row.referenceId } : undefined
    const description = row.description ?? undefined
    const r = row.debitOpId
      ? await deps.wallet.returnDebit(row.userId, { opId: row.opId, debitOpId: row.debitOpId, reference, description })
      : await deps.wallet.credit(row.userId, { opId: row.opId, amount: row.amount, reference, description })
    if (r.ok) {
      await deps.db
        .update(pendingCredits)
        .set({ status: 'done', doneAt: now, lastError: null })
        .where(and(eq(pendingCredits.opId, row.opId), eq(pendingCredits.status, 'pending')))
        .run()
      return { status: !r.entry ? 'nothing' : r.replayed ? 'replayed' : 'credited' }
    }
    error = `the wallet refused the credit: ${r.reason}`
  } catch (e) {
    error = (e as Error).message
  }
  const attempts = row.attempts + 1
  await deps.db
    .update(pendingCredits)
    .set({ attempts, lastError: error.slice(0, 500), nextAttemptAt: new Date(now.getTime() + creditBackoffMs(attempts)) })
    .where(and(eq(pendingCredits.opId, row.opId), eq(pendingCredits.status, 'pending')))
    .run()
  logger.warn('pending credit not made; the sweeper retries', { opId: row.opId, userId: row.userId, attempts, error })
  return { status: 'failed', error }
}

/** Sweeper step: settles the pending credits whose next try is due, oldest due first. */
export async function finishPendingCredits(deps: { db: Db; wallet: WalletService }, now: number): Promise<{ credited: number; nothing: number; failed: number }> {
  const at = new Date(now)
  const rows = await deps.db
    .select()
    .from(pendingCredits)
    .where(and(eq(pendingCredits.status, 'pending'), lte(pendingCredits.nextAttemptAt, at)))
    .orderBy(asc(pendingCredits.nextAttemptAt))
    .limit(CREDITS_PER_RUN)
    .all()
  let credited = 0
  let nothing = 0
  let failed = 0
  for (const row of rows) {
    const r = await settle(deps, row, at)
    if (r.status === 'failed') failed++
    else if (r.status === 'nothing') nothing++
    else credited++
  }
  return { credited, nothing, failed }
}

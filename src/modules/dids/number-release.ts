/**
 * Releasing DIDs (DidsService.release, releaseDue and releaseNow run this): the upstream release
 * number by number, then the NumberLocks, then one D1 batch — the rows released, their
 * NUMBER_RELEASED events, the inventory back on sale. The invariants are at the top of
 * dids.service.ts.
 */
import { noteEvent } from '../events/outbox'
import { and, asc, eq, inArray, lte } from 'drizzle-orm'
import { didInventory, outbox, phoneNumbers, providers, type PhoneNumber, type Provider } from '../../db/schema'
import { AppError, UpstreamError } from '../../lib/errors'
import type { DidProvider } from '../../providers/numbers/types'
import { errorText, insertChunks, runBatch, type Stmt } from '../../db/batch'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import { logger } from '../../lib/logger'
import { LIVE, type DidsDeps } from './dids.queries'

const RELEASE_BATCH = 100

export class NumberRelease {
  constructor(private readonly deps: DidsDeps) {}

  private get db() {
    return this.deps.db
  }

  /** Sweeper step: numbers whose scheduled release has passed. One select, one batch. */
  async releaseDue(now: number) {
    const due = await this.db
      .select()
      .from(phoneNumbers)
      .where(and(lte(phoneNumbers.releaseAt, new Date(now)), LIVE))
      .orderBy(asc(phoneNumbers.releaseAt))
      .limit(RELEASE_BATCH)
      .all()
    if (!due.length) return { released: 0, failed: 0 }
    const { released, failed } = await this.releaseNow(due, now)
    for (const f of failed) {
      logger.error('release failed', { job: 'sweeper', step: 'releases', numberId: f.row.id, error: errorText(f.error) })
    }
    return { released: released.length, failed: failed.length }
  }

  /**
   * Upstream release (per number), then one batch: the rows → released, their NUMBER_RELEASED
   * events; then the NumberLocks. A number whose upstream release fails stays as it was.
   */
  async releaseNow(rows: PhoneNumber[], now: number, reason?: string) {
    const provs = await this.db
      .select()
      .from(providers)
      .where(inArray(providers.id, [...new Set(rows.map((r) => r.providerId))]))
      .all()
    const byId = new Map(provs.map((p) => [p.id, p]))
    const adapters = new Map<string, DidProvider | undefined>()
    const released: PhoneNumber[] = []
    const failed: { row: PhoneNumber; error: Error }[] = []
    for (const row of rows) {
      try {
        if (row.upstreamId) {
          const p = byId.get(row.providerId)
          if (!p) throw new UpstreamError(row.providerId, 'provider not found')
          const did = this.didAdapter(p, adapters)
          if (!did) throw new UpstreamError(p.code, 'provider sells no DIDs')
          await did.release(row.upstreamId)
        }
        released.push(row)
      } catch (e) {
        failed.push({ row, error: e instanceof AppError ? e : new UpstreamError('provider', (e as Error).message) })
      }
    }
    if (released.length) {
      const at = new Date(now)
      // Locks first: if the batch below fails, the inventory stays `sold` and nobody can buy the
      // number; the other way round, a crash in between would leave a confirmed lock on a released
      // number forever.
      await Promise.all(
        released.map((r) =>
          this.deps.locks
            .of(r.phoneNumber)
            .release(r.userId)
            .catch((e: unknown) => logger.error('release: lock release failed', { phoneNumber: r.phoneNumber, error: errorText(e) })),
        ),
      )
      const stmts: Stmt[] = released.map((r) =>
        this.db
          .update(phoneNumbers)
          .set({ status: 'released', releasedAt: at, releaseAt: null, releaseReason: reason ?? r.releaseReason ?? null, nextRenewalAt: null, updatedAt: at })
          .where(and(eq(phoneNumbers.id, r.id), LIVE)),
      )
      const events = released.map((r) => ({
        id: noteEvent(releaseEventId(r.id)),
        type: 'NUMBER_RELEASED',
        userId: r.userId,
        payload: {
          numberId: r.id,
          phoneNumber: r.phoneNumber,
          numberType: r.numberType,
          orderId: r.orderId ?? undefined,
          reason: reason ?? r.releaseReason ?? undefined,
          releasedAt: at.toISOString(),
        },
        createdAt: at,
        sentAt: null,
      }))
      // Chunked: one statement may bind at most 100 parameters.
      for (const chunk of insertChunks(outbox, events)) stmts.push(this.db.insert(outbox).values(chunk).onConflictDoNothing())
      // Back on sale: the provider sync never revives a `sold` row, and retires it if the upstream stops listing it.
      for (const phones of chunk(
        released.map((r) => r.phoneNumber),
        IDS_PER_STATEMENT,
      )) {
        stmts.push(
          this.db
            .update(didInventory)
            .set({ status: 'available', updatedAt: at })
            .where(and(inArray(didInventory.phoneNumber, phones), eq(didInventory.status, 'sold'))),
        )
      }
      await runBatch(this.db, stmts)
    }
    return { released, failed }
  }

  private didAdapter(p: Provider, cache: Map<string, DidProvider | undefined>) {
    if (!cache.has(p.id)) cache.set(p.id, this.deps.providers.adapters(p).did)
    return cache.get(p.id)
  }
}

/** One NUMBER_RELEASED event per number row, however often its release runs. */
export const releaseEventId = (numberId: string) => `evt_rel_${numberId}`

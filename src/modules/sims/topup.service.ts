/**
 * The SIM API's top-up verbs over the engine in topups.ts: a single top-up (answered at once), a
 * bulk top-up (a job on the `jobs` queue, one message per chunk of CHUNK SIMs), the job's
 * per-SIM results, and the auto top-up configuration.
 *
 * Operation ids:
 * - single: `stu_<hash of the Idempotency-Key and its scope>` with a key, else a fresh id; the
 *   wallet operations are `<id>:hold` / `<id>:capture`.
 * - bulk: item `n` of job `J` is `J:n` (the job id derives from the Idempotency-Key the same way);
 *   a chunk's wallet operations are `J:c<chunk>:…`. A redelivered message reruns its chunk: items
 *   that ended are skipped, the rest replay.
 */
import { and, asc, count, eq, gte, inArray, lte, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import { simJobs, simQuotas, sims, simTopups, type QuotaType, type Sim, type SimJob, type SimTopup } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { sha256Hex } from '../../lib/crypto'
import { AppError, InsufficientBalance, NotFound, UpstreamError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { sendAll } from '../../lib/queue'
import { IDEMPOTENCY_TTL_MS } from '../../lib/idempotency'
import { parseIccid } from './iccid'
import type { SimsService } from './sims.service'
import type { WalletService } from '../wallet/wallet.service'
import type { SimTopUps, TopUpItem } from './topups'

/** SIMs per `jobs` message of a bulk top-up. */
export const CHUNK = 100
/** A job message: one chunk of a bulk top-up. */
export interface BulkTopUpMessage {
  type: 'sims.topup'
  jobId: string
  userId: string
  chunk: number
  /** `i` is the item's index in the request. */
  items: { i: number; iccid: string; quota_type: QuotaType; volume: number }[]
}

export interface TopUpServiceDeps {
  db: Db
  sims: SimsService
  engine: SimTopUps
  wallet: Pick<WalletService, 'balance'>
  jobs: Queue
  now?: () => number
}

export class SimTopUpService {
  private readonly now: () => number

  constructor(private readonly deps: TopUpServiceDeps) {
    this.now = deps.now ?? Date.now
  }

  /** Tops up one SIM now: 400 INSUFFICIENT_BALANCE, 502 UPSTREAM_ERROR (nothing charged) on failure. */
  async topUp(ctx: RequestContext, rawIccid: string, input: { quota_type: QuotaType; volume: number }, opts: { idempotency?: { scope: string; key: string } } = {}): Promise<SimTopup> {
    const sim = await this.deps.sims.get(ctx, rawIccid)
    const id = opts.idempotency ? await this.idFor(ctx, opts.idempotency) : newId('stu', this.now())
    const [row] = await this.deps.engine.run(ctx.accountId, [{ id, sim, iccid: sim.iccid, quotaType: input.quota_type, volume: input.volume, source: 'api' }], id)
    if (!row) throw new AppError(500, 'INTERNAL_ERROR', 'The top-up was not recorded')
    if (row.status === 'succeeded') return row
    if (row.status === 'pending') throw new AppError(500, 'INTERNAL_ERROR', 'The top-up could not be completed; retry with the same Idempotency-Key')
    if (row.errorCode === 'INSUFFICIENT_BALANCE') {
      const balance = await this.deps.wallet.balance(ctx.accountId)
      throw new InsufficientBalance(row.amount, balance.available)
    }
    throw new UpstreamError('sims', row.errorMessage ?? 'the top-up failed', { code: row.errorCode })
  }

  /**
   * The operation id of a single top-up sent with an Idempotency-Key: derived from the key, so a
   * retry finds the first attempt (its success is the answer; a pending one is run again). An
   * attempt that failed (the provider, or no money) was not kept by the idempotency middleware
   * when it was a 5xx, and the client may retry with the same key: that retry is a new attempt,
   * `<derived>_<n>`. A key reused after its 24 h window tops up anew, under a fresh id.
   */
  private async idFor(ctx: RequestContext, idempotency: { scope: string; key: string }): Promise<string> {
    const derived = `stu_${(await sha256Hex(`${idempotency.scope}\n${idempotency.key}`)).slice(0, 26)}`
    const attempts = await this.deps.db
      .select({ id: simTopups.id, status: simTopups.status, createdAt: simTopups.createdAt })
      .from(simTopups)
      // The derived id and its `_<n>` attempts: a range of the primary key.
      .where(and(eq(simTopups.userId, ctx.accountId), gte(simTopups.id, derived), lte(simTopups.id, `${derived}~`)))
      .all()
    if (!attempts.length) return derived
    if (attempts.some((a) => a.createdAt.getTime() <= this.now() - IDEMPOTENCY_TTL_MS)) return newId('stu', this.now())
    const open = attempts.find((a) => a.status !== 'failed')
    return open ? open.id : `${derived}_${attempts.length + 1}`
  }

  /** Records the job and sends its chunks to the `jobs` queue; the answer is the job (202). */
  async bulk(ctx: RequestContext, items: BulkTopUpMessage['items'], opts: { idempotency?: { scope: string; key: string } } = {}): Promise<SimJob> {
    const { db } = this.deps
    let jobId = newId('job', this.now())
    if (opts.idempotency) {
      const derived = `job_${(await sha256Hex(`${opts.idempotency.scope}\n${opts.idempotency.key}`)).slice(0, 26)}`
      const done = await db.select().from(simJobs).where(eq(simJobs.id, derived)).get()
      if (done && done.userId === ctx.accountId && done.createdAt.getTime() > this.now() - IDEMPOTENCY_TTL_MS) {
        // A retry reaches here only when the first answer was not kept (a 5xx): its messages may
        // not all have been sent. Chunks are safe to run twice, so a job still running gets them again.
        if (done.status === 'processing') await this.send(done.id, ctx.accountId, items)
        return done
      }
      if (!done) jobId = derived
    }
    const at = new Date(this.now())
    const job = {
      id: jobId,
      userId: ctx.accountId,
      kind: 'sim_topup' as const,
      status: 'processing' as const,
      total: items.length,
      chunks: Math.ceil(items.length / CHUNK),
      createdAt: at,
      completedAt: null,
    }
    await db.insert(simJobs).values(job).onConflictDoNothing()
    await this.send(jobId, ctx.accountId, items)
    return job
  }

  /** The job's chunks as `jobs` messages (grouped under the queue's batch limits). */
  private async send(jobId: string, userId: string, items: BulkTopUpMessage['items']): Promise<void> {
    await sendAll<BulkTopUpMessage>(
      this.deps.jobs,
      chunk(items, CHUNK).map((part, n) => ({ type: 'sims.topup', jobId, userId, chunk: n, items: part })),
    )
  }

  /** One chunk of a bulk job (the `sims.topup` job handler). Safe to run twice. */
  async runChunk(m: BulkTopUpMessage): Promise<void> {
    const { db } = this.deps
    const job = await db.select().from(simJobs).where(eq(simJobs.id, m.jobId)).get()
    if (!job || job.userId !== m.userId) return
    // The account's SIMs named by the chunk, in one read per 90 ICCIDs.
    const parsed = m.items.map((it) => {
      try {
        return { it, iccid: parseIccid(it.iccid).iccid, error: undefined }
      } catch (e) {
        return { it, iccid: it.iccid, error: { code: 'INVALID_ICCID', message: (e as AppError).message } }
      }
    })
    const wanted = [...new Set(parsed.filter((p) => !p.error).map((p) => p.iccid))]
    const owned = new Map<string, Sim>()
    for (const part of chunk(wanted, IDS_PER_STATEMENT)) {
      for (const s of await db
        .select()
        .from(sims)
        .where(and(eq(sims.userId, m.userId), inArray(sims.iccid, part)))
        .all())
        owned.set(s.iccid, s)
    }
    const items: TopUpItem[] = parsed.map(({ it, iccid, error }) => {
      const sim = error ? null : (owned.get(iccid) ?? null)
      return {
        id: `${m.jobId}:${it.i}`,
        sim,
        iccid,
        quotaType: it.quota_type,
        volume: it.volume,
        source: 'bulk',
        jobId: m.jobId,
        jobIndex: it.i,
        error: error ?? (sim ? undefined : { code: 'NOT_FOUND', message: 'SIM card not found' }),
      }
    })
    await this.deps.engine.run(m.userId, items, `${m.jobId}:c${m.chunk}`)
    await this.completeIfDone(job)
  }

  /** Marks the job completed once every item has ended (whichever chunk ends last). */
  private async completeIfDone(job: SimJob): Promise<void> {
    const { db } = this.deps
    const ended = sql`(select count(*) from ${simTopups} where ${simTopups.jobId} = ${job.id} and ${simTopups.status} != 'pending')`
    await db
      .update(simJobs)
      .set({ status: 'completed', completedAt: new Date(this.now()) })
      .where(and(eq(simJobs.id, job.id), eq(simJobs.status, 'processing'), sql`${ended} >= ${simJobs.total}`))
  }

  /** The job with a page of its per-SIM results (items not yet run are `pending`). */
  async job(ctx: RequestContext, jobId: string, page: number, pageSize: number) {
    const { db } = this.deps
    const job = await db
      .select()
      .from(simJobs)
      .where(and(eq(simJobs.id, jobId), eq(simJobs.userId, ctx.accountId)))
      .get()
    if (!job) throw new NotFound('Job')
    const [counts, rows] = await db.batch([
      db
        .select({ status: simTopups.status, n: count(), amount: sql<number>`coalesce(sum(case when ${simTopups.status} = 'succeeded' then ${simTopups.amount} else 0 end), 0)` })
        .from(simTopups)
        .where(eq(simTopups.jobId, job.id))
        .groupBy(simTopups.status),
      db
        .select()
        .from(simTopups)
        .where(and(eq(simTopups.jobId, job.id), sql`${simTopups.jobIndex} >= ${(page - 1) * pageSize}`, sql`${simTopups.jobIndex} < ${page * pageSize}`))
        .orderBy(asc(simTopups.jobIndex)),
    ])
    const n = (s: string) => counts.find((c) => c.status === s)?.n ?? 0
    const spent = counts.reduce((s, c) => s + Number(c.amount), 0)
    return { job, rows, succeeded: n('succeeded'), failed: n('failed'), spent }
  }

  /** Sets auto top-up on the account's SIMs; per-SIM results (invalid or unknown ICCIDs fail alone). */
  async configureAuto(
    ctx: RequestContext,
    input: { sims: string[]; quota_type: QuotaType; threshold_percentage: number; topup_amount: number; enabled: boolean },
  ): Promise<{ iccid: string; ok: boolean; error?: { code: string; message: string } }[]> {
    const { db } = this.deps
    const out: { iccid: string; ok: boolean; error?: { code: string; message: string } }[] = []
    const at = new Date(this.now())
    for (const raw of input.sims) {
      try {
        const sim = await this.deps.sims.get(ctx, raw)
        // The quota row exists from registration; a reading brings it when it does not.
        if (!(await this.deps.sims.storedQuota(sim.id, input.quota_type))) await this.deps.sims.quota(ctx, sim.iccid, input.quota_type)
        await db
          .update(simQuotas)
          .set({
            autoReload: input.enabled,
            autoReloadAmount: input.topup_amount,
            thresholdPercentage: input.threshold_percentage,
            thresholdReached: sql`${simQuotas.usedVolume} >= (${simQuotas.volume} * ${input.threshold_percentage} / 100)`,
            // Enabling arms it: a SIM already past the threshold tops up at the next sync.
            ...(input.enabled ? { autoArmed: true } : {}),
            updatedAt: at,
          })
          .where(and(eq(simQuotas.simId, sim.id), eq(simQuotas.quotaType, input.quota_type)))
        out.push({ iccid: raw, ok: true })
      } catch (e) {
        if (!(e instanceof AppError)) throw e
        out.push({ iccid: raw, ok: false, error: { code: e.code, message: e.message } })
      }
    }
    return out
  }
}

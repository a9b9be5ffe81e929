/**
 * SIM sync (cron every 15 minutes, with the provider sync): every SIM's status, connectivity and
 * quotas are read from its upstream and stored with the events they cause (observe.ts), then its
 * SMS (MT delivery states, MO messages: sim-sms.service.ts); then every quota with auto top-up
 * that is past its threshold gets one charged top-up per crossing.
 *
 * The cron only cuts the SIMs into ranges of PAGE ids and sends one `sims.sync` message per range to
 * the `jobs` queue; each message syncs its range (and its auto top-ups). So the work of 10,000 SIMs
 * is spread over many short invocations, retried per range, instead of one long cron run.
 *
 * Invariants:
 * - One SIM's failure never stops the others (it keeps its stored state; the count says so).
 * - Readings are stamped with the instant their upstream call began, so an overlapping sync (or
 *   a read-through) never overwrites a newer reading or a top-up with an older reading.
 * - Auto top-up: a crossing is claimed by moving `auto_armed` 1 → 0 on the quota row while its
 *   volume is still the volume seen past the threshold: of two overlapping syncs, one claims it;
 *   after the top-up the volume differs, so a stale reading cannot claim it again. The top-up's
 *   operation id names the crossing (`auto_<sim>_<type>_<volume>_<attempt>`). A top-up that
 *   failed (no money, upstream down) re-arms the crossing for the next sync; nothing was charged.
 */
import { and, asc, eq, gt, gte, lte, sql } from 'drizzle-orm'
import type { Stmt } from '../../db/batch'
import { runBatch } from '../../db/batch'
import { simQuotas, sims, simTopups, type Sim, type SimQuota } from '../../db/schema'
import { logger } from '../../lib/logger'
import type { Services } from '../../services'
import { observeConnectivity, observeQuota, observeSim, thresholdVolume } from './observe'
import { mapLimit } from '../../lib/concurrency'
import { sendAll } from '../../lib/queue'

const { log } = logger.with({ module: 'sims' })

/** SIMs read per page, and upstream reads in flight at once. */
const PAGE = 100
const CONCURRENCY = 4

export interface SimSyncResult {
  sims: number
  failed: number
  autoTopUps: { attempted: number; succeeded: number }
}

/** A `jobs` message: sync the SIMs whose ids are in [from, to]. */
export interface SimSyncMessage {
  type: 'sims.sync'
  from: number
  to: number
}

/** The cron: one `sims.sync` message per PAGE SIMs (ids read from the primary key, no row bodies). */
export async function enqueueSimSync(services: Services, _scheduledTime: number = Date.now()): Promise<{ sims: number; messages: number }> {
  const { db, env } = services
  let after = 0
  let total = 0
  const messages: SimSyncMessage[] = []
  for (;;) {
    const ids = await db.select({ id: sims.id }).from(sims).where(gt(sims.id, after)).orderBy(asc(sims.id)).limit(PAGE).all()
    if (!ids.length) break
    after = ids[ids.length - 1]!.id
    total += ids.length
    messages.push({ type: 'sims.sync', from: ids[0]!.id, to: after })
  }
  await sendAll(env.JOBS, messages)
  return { sims: total, messages: messages.length }
}

/** The `sims.sync` job: syncs one range of SIMs, then its auto top-ups. */
export async function runSimSyncJob(body: unknown, services: Services): Promise<void> {
  const m = body as SimSyncMessage
  await syncSimRange(services, m.from, m.to)
}

/** Syncs the SIMs with ids in [from, to] and runs their due auto top-ups. */
export async function syncSimRange(services: Services, from: number, to: number): Promise<SimSyncResult> {
  const page = await services.db
    .select()
    .from(sims)
    .where(and(gte(sims.id, from), lte(sims.id, to)))
    .orderBy(asc(sims.id))
    .all()
  const results = await mapLimit(page, CONCURRENCY, (sim) => syncSim(services, sim))
  const autoTopUps = await runAutoTopUps(services, from, to)
  return { sims: page.length, failed: results.filter((ok) => !ok).length, autoTopUps }
}

/** Every SIM now, range after range, in this invocation (tests, scripts). */
export async function syncAllSims(services: Services): Promise<SimSyncResult> {
  const out: SimSyncResult = { sims: 0, failed: 0, autoTopUps: { attempted: 0, succeeded: 0 } }
  let after = 0
  for (;;) {
    const ids = await services.db.select({ id: sims.id }).from(sims).where(gt(sims.id, after)).orderBy(asc(sims.id)).limit(PAGE).all()
    if (!ids.length) return out
    after = ids[ids.length - 1]!.id
    const r = await syncSimRange(services, ids[0]!.id, after)
    out.sims += r.sims
    out.failed += r.failed
    out.autoTopUps.attempted += r.autoTopUps.attempted
    out.autoTopUps.succeeded += r.autoTopUps.succeeded
  }
}

/** Reads one SIM from its upstream and stores what changed. False when the upstream failed. */
export async function syncSim(services: Services, sim: Sim): Promise<boolean> {
  const { db } = services
  try {
    const { adapter } = await services.sims.adapterOf(sim)
    const at = new Date()
    const stored = await db.select().from(simQuotas).where(eq(simQuotas.simId, sim.id)).all()
    const [info, connectivity, data, sms] = await Promise.all([adapter.getSim(sim.iccid), adapter.connectivity(sim.iccid), adapter.quota(sim.iccid, 'data'), adapter.quota(sim.iccid, 'sms')])
    const stmts: Stmt[] = []
    if (info) stmts.push(...observeSim(db, sim, info, at))
    stmts.push(...observeConnectivity(db, sim, connectivity, at))
    stmts.push(
      ...observeQuota(
        db,
        sim,
        stored.find((q) => q.quotaType === 'data'),
        data,
        at,
      ),
    )
    stmts.push(
      ...observeQuota(
        db,
        sim,
        stored.find((q) => q.quotaType === 'sms'),
        sms,
        at,
      ),
    )
    stmts.push(db.update(sims).set({ lastSyncedAt: at }).where(eq(sims.id, sim.id)))
    await runBatch(db, stmts)
    // SMS after the readings: their failure is logged and leaves the SIM's sync a success.
    await services.simSms.refresh(sim, adapter).catch((e) => log('warn', 'sims: SMS refresh in the sync failed', { iccid: sim.iccid, error: (e as Error).message }))
    return true
  } catch (e) {
    log('warn', 'sims: sync of a SIM failed', { iccid: sim.iccid, error: (e as Error).message })
    return false
  }
}

/** Every armed auto top-up past its threshold among the SIMs with ids in [from, to]: one claimed top-up each. */
export async function runAutoTopUps(services: Services, from: number, to: number): Promise<{ attempted: number; succeeded: number }> {
  const { db } = services
  const due = await db
    .select({ quota: simQuotas, sim: sims })
    .from(simQuotas)
    .innerJoin(sims, eq(sims.id, simQuotas.simId))
    .where(
      and(
        eq(simQuotas.autoReload, true),
        gte(simQuotas.simId, from),
        lte(simQuotas.simId, to),
        eq(simQuotas.autoArmed, true),
        sql`${simQuotas.usedVolume} >= ${simQuotas.volume} * ${simQuotas.thresholdPercentage} / 100`,
      ),
    )
    .all()
  let attempted = 0
  let succeeded = 0
  for (const { quota, sim } of due) {
    const r = await autoTopUp(services, sim, quota)
    if (r === 'skipped') continue
    attempted++
    if (r === 'succeeded') succeeded++
  }
  return { attempted, succeeded }
}

/** Claims the crossing `quota` shows and tops up once; 'skipped' when another sync claimed it. */
export async function autoTopUp(services: Services, sim: Sim, quota: SimQuota): Promise<'succeeded' | 'failed' | 'skipped'> {
  const { db } = services
  const amount = quota.autoReloadAmount
  if (!amount || quota.usedVolume < thresholdVolume(quota.volume, quota.thresholdPercentage)) return 'skipped'
  const claimWhere = and(eq(simQuotas.simId, sim.id), eq(simQuotas.quotaType, quota.quotaType), eq(simQuotas.volume, quota.volume))
  const claimed = await db
    .update(simQuotas)
    .set({ autoArmed: false })
    .where(and(claimWhere, eq(simQuotas.autoArmed, true), eq(simQuotas.autoReload, true)))
    .returning({ simId: simQuotas.simId })
    .get()
  if (!claimed) return 'skipped'
  const prefix = `auto_${sim.id}_${quota.quotaType}_${quota.volume}_`
  const earlier = await db
    .select({ id: simTopups.id, status: simTopups.status })
    .from(simTopups)
    // The crossing's attempts: a range of the primary key (not LIKE, where `_` matches any character).
    .where(and(eq(simTopups.simId, sim.id), gte(simTopups.id, prefix), lte(simTopups.id, `${prefix}~`)))
    .all()
  if (earlier.some((t) => t.status === 'succeeded')) return 'skipped'
  const id = `${prefix}${earlier.length + 1}`
  const [row] = await services.simTopUps.run(sim.userId, [{ id, sim, iccid: sim.iccid, quotaType: quota.quotaType, volume: amount, source: 'auto' }], id)
  if (row?.status === 'succeeded') return 'succeeded'
  // Nothing was charged: the crossing stays open for the next sync (unless a reading moved on).
  await db
    .update(simQuotas)
    .set({ autoArmed: true })
    .where(and(claimWhere, eq(simQuotas.autoArmed, false)))
  log('warn', 'sims: auto top-up failed; retried at the next sync', { iccid: sim.iccid, code: row?.errorCode ?? null })
  return 'failed'
}

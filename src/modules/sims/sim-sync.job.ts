/**
 * SIM sync (cron every 15 minutes, with the provider sync): every SIM's status, connectivity and
 * quotas are read from its upstream and stored with the events they cause (observe.ts), then its
 * SMS (MT delivery states, MO messages: sim-sms.service.ts); then every quota with auto top-up
 * that is past its threshold gets one charged top-up per crossing.
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
import { and, asc, eq, gt, like, sql } from 'drizzle-orm'
import type { Stmt } from '../../db/batch'
import { runBatch } from '../../db/batch'
import { simQuotas, sims, simTopups, type Sim, type SimQuota } from '../../db/schema'
import { logger } from '../../lib/logger'
import type { Services } from '../../services'
import { observeConnectivity, observeQuota, observeSim, thresholdVolume } from './observe'

const { log } = logger.with({ module: 'sims' })

/** SIMs read per page, and upstream reads in flight at once. */
const PAGE = 100
const CONCURRENCY = 4

export interface SimSyncResult {
  sims: number
  failed: number
  autoTopUps: { attempted: number; succeeded: number }
}

export async function syncSims(services: Services, _scheduledTime: number = Date.now()): Promise<SimSyncResult> {
  const { db } = services
  let after = 0
  let total = 0
  let failed = 0
  for (;;) {
    const page = await db.select().from(sims).where(gt(sims.id, after)).orderBy(asc(sims.id)).limit(PAGE).all()
    if (!page.length) break
    after = page[page.length - 1]!.id
    const results = await mapLimit(page, CONCURRENCY, (sim) => syncSim(services, sim))
    total += page.length
    failed += results.filter((ok) => !ok).length
  }
  const autoTopUps = await runAutoTopUps(services)
  return { sims: total, failed, autoTopUps }
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

/** Every armed auto top-up past its threshold: one claimed top-up each. */
export async function runAutoTopUps(services: Services): Promise<{ attempted: number; succeeded: number }> {
  const { db } = services
  const due = await db
    .select({ quota: simQuotas, sim: sims })
    .from(simQuotas)
    .innerJoin(sims, eq(sims.id, simQuotas.simId))
    .where(and(eq(simQuotas.autoReload, true), eq(simQuotas.autoArmed, true), sql`${simQuotas.usedVolume} >= ${simQuotas.volume} * ${simQuotas.thresholdPercentage} / 100`))
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
    .where(and(eq(simTopups.simId, sim.id), like(simTopups.id, `${prefix}%`)))
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

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

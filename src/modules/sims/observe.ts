/**
 * What Switchboard learns when it reads a SIM from its upstream — a request reading through (a
 * stale copy), or the 15-minute sync — as the statements that store it and the events it causes.
 *
 * Invariants:
 * - An older reading never overwrites a newer one: every write is conditional on the stored
 *   reading being older (`observed_at`, `status_checked_at`, `connectivity_at` < this reading).
 * - Events fire on transitions between the stored reading and this one, once per crossing
 *   (sim-events.ts): quota threshold reached, quota depleted, connectivity lost/restored, status.
 * - Auto top-up re-arms only from a reading that shows usage back under the threshold; only the
 *   sync claims a crossing (auto-top-up.ts).
 */
import { and, eq, lt, or, isNull, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import type { Stmt } from '../../db/batch'
import { simQuotas, sims, type Sim, type SimQuota } from '../../db/schema'
import type { SimConnectivity, SimInfo, SimQuotaInfo } from '../../providers/sims/types'
import { simEventStatements } from './sim-events'

/** The usage mark of a quota: `threshold%` of its volume. */
export function thresholdVolume(volume: number, thresholdPercentage: number): number {
  return Math.floor((volume * thresholdPercentage) / 100)
}

export function quotaState(volume: number, used: number, thresholdPercentage: number) {
  return {
    thresholdReached: volume > 0 && used >= thresholdVolume(volume, thresholdPercentage),
    depleted: volume > 0 ? used >= volume : true,
  }
}

/** Stores a quota reading (insert or conditional update) and the events its transitions cause. */
export function observeQuota(db: Db, sim: Sim, prev: SimQuota | undefined, q: SimQuotaInfo, at: Date): Stmt[] {
  const threshold = prev?.thresholdPercentage ?? 80
  const now = quotaState(q.volume, q.usedVolume, threshold)
  const stmts: Stmt[] = []
  const values = {
    volume: q.volume,
    usedVolume: q.usedVolume,
    status: q.status,
    lastVolumeAdded: q.lastVolumeAdded,
    lastStatusChangeDate: q.lastStatusChangeDate,
    expiryDate: q.expiryDate,
    thresholdReached: now.thresholdReached,
    depleted: now.depleted,
    observedAt: at,
    updatedAt: at,
  }
  if (!prev) {
    stmts.push(
      db
        .insert(simQuotas)
        .values({ simId: sim.id, quotaType: q.type, userId: sim.userId, thresholdPercentage: threshold, autoArmed: !now.thresholdReached, ...values })
        .onConflictDoNothing(),
    )
  } else {
    stmts.push(
      db
        .update(simQuotas)
        .set({ ...values, autoArmed: now.thresholdReached ? sql`${simQuotas.autoArmed}` : true })
        .where(and(eq(simQuotas.simId, sim.id), eq(simQuotas.quotaType, q.type), lt(simQuotas.observedAt, at))),
    )
  }
  const data = { quota_type: q.type, threshold, current_usage: q.usedVolume, total_quota: q.volume }
  const label = q.type === 'data' ? 'Data' : 'SMS'
  if (now.thresholdReached && !prev?.thresholdReached) {
    stmts.push(
      ...simEventStatements(db, sim, { kind: 'quota_threshold_reached', description: `${label} quota reached ${threshold}% threshold`, data, dedupeKey: `quota:${q.type}:threshold:${q.volume}` }, at),
    )
  }
  if (now.depleted && !prev?.depleted) {
    stmts.push(...simEventStatements(db, sim, { kind: 'quota_depleted', description: `${label} quota depleted`, data, dedupeKey: `quota:${q.type}:depleted:${q.volume}` }, at))
  }
  return stmts
}

/** The connectivity reading on the SIM row, and `connectivity_lost`/`_restored` when it changed. */
export function observeConnectivity(db: Db, sim: Sim, c: SimConnectivity, at: Date): Stmt[] {
  const stmts: Stmt[] = [
    db
      .update(sims)
      .set({
        connected: c.connected,
        currentRat: c.rat,
        currentCountry: c.countryCode,
        currentOperator: c.operatorName,
        connection: connectionDetails(c),
        connectivityAt: at,
      })
      .where(and(eq(sims.id, sim.id), or(isNull(sims.connectivityAt), lt(sims.connectivityAt, at)))),
  ]
  // The first reading has nothing to compare with; afterwards, a change is a crossing named by the reading it ends.
  if (sim.connected !== null && sim.connected !== c.connected) {
    const kind = c.connected ? 'connectivity_restored' : 'connectivity_lost'
    stmts.push(
      ...simEventStatements(
        db,
        sim,
        {
          kind,
          description: c.connected ? 'Connectivity restored' : 'Connectivity lost',
          data: { connected: c.connected, rat: c.rat, country_code: c.countryCode, operator_name: c.operatorName },
          dedupeKey: `conn:${kind}:${sim.connectivityAt?.getTime() ?? 0}`,
        },
        at,
      ),
    )
  }
  return stmts
}

export function connectionDetails(c: SimConnectivity): Record<string, unknown> {
  return {
    cell_id: c.cellId,
    signal_strength: c.signalStrength,
    signal_quality: c.signalQuality,
    rat: c.rat,
    country_code: c.countryCode,
    operator_name: c.operatorName,
    mcc: c.mcc,
    mnc: c.mnc,
    apn: c.apn,
  }
}

/** The SIM's upstream identity and status on its row, and the status events when the status changed. */
export function observeSim(db: Db, sim: Sim, info: SimInfo, at: Date): Stmt[] {
  const stmts: Stmt[] = [
    db
      .update(sims)
      .set({
        imsi: info.imsi,
        msisdn: info.msisdn,
        imei: info.imei,
        status: info.status,
        ipAddress: info.ipAddress,
        ipv6Address: info.ipv6Address,
        activationDate: info.activationDate,
        statusCheckedAt: at,
        ...(info.status !== sim.status ? { updatedAt: at } : {}),
      })
      .where(and(eq(sims.id, sim.id), or(isNull(sims.statusCheckedAt), lt(sims.statusCheckedAt, at)))),
  ]
  if (info.status !== sim.status) stmts.push(...statusEvents(db, sim, sim.status, info.status, at, `status:${info.status}:${sim.statusCheckedAt?.getTime() ?? 0}`))
  return stmts
}

/** `sim_activated` (to Enabled) or `sim_suspended` (to Disabled or Suspended), else a plain status change. */
export function statusEvents(db: Db, sim: Pick<Sim, 'id' | 'userId' | 'iccid'>, from: string, to: string, at: Date, dedupeKey?: string): Stmt[] {
  const kind = to === 'Enabled' ? 'sim_activated' : to === 'Disabled' || to === 'Suspended' ? 'sim_suspended' : 'sim_status_changed'
  const description = kind === 'sim_activated' ? 'SIM card activated' : kind === 'sim_suspended' ? `SIM card suspended (${to})` : `SIM status changed to ${to}`
  return simEventStatements(db, sim, { kind, description, data: { previous_status: from, status: to }, dedupeKey }, at)
}

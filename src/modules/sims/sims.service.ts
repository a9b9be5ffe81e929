/**
 * IoT SIMs (the SIM API): registering an account's SIMs, reading them, and changing what may be
 * changed. Top-ups are in topups.ts, SMS in sim-sms.service.ts, the sync in sim-sync.job.ts.
 *
 * Invariants:
 * - A SIM belongs to one account (`sims.iccid` is unique). Every lookup is by (account, ICCID):
 *   another account's SIM is a 404, as if it did not exist; registering it is a per-SIM failure
 *   whose message does not say that, or by whom, it is held.
 * - A reading is stamped with the instant its upstream call began, so a reading begun before a
 *   change we made (a top-up) is older than it and never overwrites it (observe.ts).
 * - Reads are served from D1. A single SIM's status and quotas are read through from the upstream
 *   when the stored copy is older than FRESH_MS (and connectivity always is); what is read is
 *   stored with the events it causes (observe.ts). An upstream failure on a read-through serves
 *   the stored copy: the SIM API stays readable when the upstream is not.
 * - Writes that reach the upstream (status, label, IMEI lock, reset) go there first; D1 records
 *   them only when the upstream accepted.
 */
import { and, asc, count, desc, eq, gte, like, lt, or, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { runBatch, likeEscape, type Stmt } from '../../db/batch'
import { providers, simEvents, simQuotas, sims, type Provider, type QuotaType, type Sim, type SimEvent, type SimQuota } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { AppError, NotFound, UpstreamError } from '../../lib/errors'
import { rangeEnd, rangeStart } from '../../lib/dates'
import { logger } from '../../lib/logger'
import type { SimConnectivity, SimProvider, SimUsageDay } from '../../providers/sims/types'
import { parseIccid } from './iccid'
import { observeConnectivity, observeQuota, observeSim, statusEvents } from './observe'
import { simEventStatements } from './sim-events'
import type { z } from '@hono/zod-openapi'
import type { CreateSimsBody, ListEventsQuery, ListSimsQuery, UpdateSimBody, UsageQuery } from './schemas'
import { mapLimit } from '../../lib/concurrency'

const { log } = logger.with({ module: 'sims' })

/** How old a stored status or quota may be before a single-SIM read asks the upstream again. */
export const FRESH_MS = 60_000
/** Upstream calls in flight at once while registering a request's SIMs. */
const REGISTER_CONCURRENCY = 4

export interface SimsDeps {
  db: Db
  /** Builds a provider row's SIM adapter (the registry). */
  adapter: (p: Provider) => SimProvider
  now?: () => number
}

export type RegisterOutcome = { iccid: string; status: 'created'; sim: Sim } | { iccid: string; status: 'failed'; error: { code: string; message: string } }

export class SimsService {
  private readonly now: () => number
  private readonly providerRows = new Map<string, Promise<Provider>>()

  constructor(private readonly deps: SimsDeps) {
    this.now = deps.now ?? Date.now
  }

  // ---- providers ------------------------------------------------------------------------

  /** The SIM upstream new SIMs are registered with: the active provider of kind `sim` first by priority. */
  async primaryProvider(): Promise<Provider> {
    const rows = await this.deps.db.select().from(providers).where(eq(providers.status, 'active')).orderBy(asc(providers.priority), asc(providers.code)).all()
    const p = rows.find((r) => r.kinds.includes('sim'))
    if (!p) throw new AppError(503, 'SERVICE_UNAVAILABLE', 'No SIM provider is configured')
    return p
  }

  /** The SIM provider answers an authenticated call (readiness). */
  async ping(): Promise<void> {
    await this.deps.adapter(await this.primaryProvider()).ping()
  }

  /** The adapter of the provider a SIM lives at. */
  async adapterOf(sim: Pick<Sim, 'providerId'>): Promise<{ provider: Provider; adapter: SimProvider }> {
    let row = this.providerRows.get(sim.providerId)
    if (!row) {
      row = this.deps.db
        .select()
        .from(providers)
        .where(eq(providers.id, sim.providerId))
        .get()
        .then((p) => {
          if (!p) throw new UpstreamError(sim.providerId, 'SIM provider not found')
          return p
        })
      this.providerRows.set(sim.providerId, row)
    }
    const provider = await row
    return { provider, adapter: this.deps.adapter(provider) }
  }

  // ---- lookups ---------------------------------------------------------------------------

  /** The account's SIM by a client's ICCID (19 or 20 digits): 400 INVALID_ICCID, 404 when not the account's. */
  async get(ctx: RequestContext, rawIccid: string): Promise<Sim> {
    const { iccid } = parseIccid(rawIccid)
    const sim = await this.deps.db
      .select()
      .from(sims)
      .where(and(eq(sims.iccid, iccid), eq(sims.userId, ctx.accountId)))
      .get()
    if (!sim) throw new NotFound('SIM card')
    return sim
  }

  async list(ctx: RequestContext, q: z.infer<typeof ListSimsQuery>): Promise<{ rows: Sim[]; total: number }> {
    const { db } = this.deps
    const where: SQL[] = [eq(sims.userId, ctx.accountId)]
    if (q.status) where.push(eq(sims.status, q.status))
    // There are no organizations: a filter by one matches nothing.
    if (q.organization_id !== undefined) where.push(sql`0`)
    if (q.search) {
      const s = q.search
      // Digits: the start of an ICCID (a range on the ICCID index); anything: part of the label.
      const byLabel = like(sims.label, `%${likeEscape(s)}%`)
      where.push(/^\d+$/.test(s) ? (or(and(gte(sims.iccid, s), lt(sims.iccid, `${s}:`)), sql`${byLabel} ESCAPE '\\'`) as SQL) : sql`${byLabel} ESCAPE '\\'`)
    }
    const column = {
      created_at: sims.createdAt,
      updated_at: sims.updatedAt,
      label: sims.label,
      iccid: sims.iccid,
      activation_date: sims.activationDate,
      status: sims.status,
    }[q.sort_by]
    const dir = q.sort_order === 'asc' ? asc : desc
    const [rows, totals] = await db.batch([
      db
        .select()
        .from(sims)
        .where(and(...where))
        .orderBy(dir(column), dir(sims.id))
        .limit(q.page_size)
        .offset((q.page - 1) * q.page_size),
      db
        .select({ n: count() })
        .from(sims)
        .where(and(...where)),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  // ---- registration ------------------------------------------------------------------------

  /** Registers SIMs one by one: valid, unheld SIMs the upstream knows are created; the others are reported. */
  async register(ctx: RequestContext, input: z.infer<typeof CreateSimsBody>): Promise<RegisterOutcome[]> {
    const provider = await this.primaryProvider()
    const adapter = this.deps.adapter(provider)
    const seen = new Set<string>()
    return mapLimit(input.sims, REGISTER_CONCURRENCY, (item) => this.registerOne(ctx, provider, adapter, item, seen).catch((e) => failed(item.iccid, e)))
  }

  private async registerOne(ctx: RequestContext, provider: Provider, adapter: SimProvider, item: z.infer<typeof CreateSimsBody>['sims'][number], seen: Set<string>): Promise<RegisterOutcome> {
    const { db } = this.deps
    const { iccid } = parseIccid(item.iccid, 'sims.iccid')
    if (seen.has(iccid)) return { iccid: item.iccid, status: 'failed', error: { code: 'DUPLICATE', message: 'This ICCID appears more than once in the request' } }
    seen.add(iccid)
    const held = await db.select({ userId: sims.userId }).from(sims).where(eq(sims.iccid, iccid)).get()
    if (held?.userId === ctx.accountId) return { iccid: item.iccid, status: 'failed', error: { code: 'ALREADY_REGISTERED', message: 'This SIM is already registered to your account' } }
    if (held) return notAvailable(item.iccid)
    const info = await adapter.getSim(iccid)
    if (!info) return notAvailable(item.iccid)
    const [data, smsQuota] = await Promise.all([adapter.quota(iccid, 'data'), adapter.quota(iccid, 'sms')])
    // The upstream keeps the label and IMEI lock too: tell it what the client set.
    if (item.label !== undefined || item.imei_lock !== undefined) await adapter.updateSim(iccid, { label: item.label, imeiLock: item.imei_lock })

    const at = new Date(this.now())
    const row = {
      userId: ctx.accountId,
      iccid,
      providerId: provider.id,
      imsi: info.imsi,
      msisdn: info.msisdn,
      imei: info.imei,
      imeiLock: item.imei_lock ?? info.imeiLock,
      status: info.status,
      label: item.label ?? info.label,
      ipAddress: info.ipAddress,
      ipv6Address: info.ipv6Address,
      activationDate: info.activationDate,
      tags: item.tags ?? [],
      metadata: item.metadata ?? {},
      statusCheckedAt: at,
      lastSyncedAt: at,
      createdAt: at,
      updatedAt: at,
    }
    const inserted = await db.insert(sims).values(row).onConflictDoNothing().returning().get()
    // A concurrent registration of the same ICCID won the unique index.
    if (!inserted) return notAvailable(item.iccid)
    await runBatch(db, [
      ...observeQuota(db, inserted, undefined, data, at),
      ...observeQuota(db, inserted, undefined, smsQuota, at),
      ...simEventStatements(db, inserted, { kind: 'sim_registered', description: 'SIM card registered', data: { status: inserted.status } }, at),
    ])
    return { iccid: item.iccid, status: 'created', sim: inserted }
  }

  // ---- changes -------------------------------------------------------------------------------

  /** Writes the writable fields; status, label and IMEI lock go to the upstream first. */
  async update(ctx: RequestContext, rawIccid: string, body: z.infer<typeof UpdateSimBody>): Promise<Sim> {
    const { db } = this.deps
    const sim = await this.get(ctx, rawIccid)
    const upstream: Parameters<SimProvider['updateSim']>[1] = {}
    if (body.status !== undefined && body.status !== sim.status) upstream.status = body.status
    if (body.label !== undefined && body.label !== sim.label) upstream.label = body.label
    if (body.imei_lock !== undefined && body.imei_lock !== sim.imeiLock) upstream.imeiLock = body.imei_lock
    if (Object.keys(upstream).length) {
      const { adapter } = await this.adapterOf(sim)
      await adapter.updateSim(sim.iccid, upstream)
    }
    const at = new Date(this.now())
    const stmts: Stmt[] = [
      db
        .update(sims)
        .set({
          ...(body.label !== undefined ? { label: body.label } : {}),
          ...(body.imei_lock !== undefined ? { imeiLock: body.imei_lock } : {}),
          ...(body.tags !== undefined ? { tags: body.tags } : {}),
          ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
          ...(upstream.status ? { status: upstream.status, statusCheckedAt: at } : {}),
          updatedAt: at,
        })
        .where(eq(sims.id, sim.id)),
    ]
    if (upstream.status) stmts.push(...statusEvents(db, sim, sim.status, upstream.status, at))
    const changed = Object.keys(body).filter((k) => k !== 'status')
    if (changed.length) stmts.push(...simEventStatements(db, sim, { kind: 'sim_updated', description: `SIM configuration updated (${changed.join(', ')})`, data: { fields: changed } }, at))
    await runBatch(db, stmts)
    return this.get(ctx, sim.iccid)
  }

  // ---- reads through to the upstream ---------------------------------------------------------

  /** The SIM with its status read from the upstream when the stored one is stale. */
  async status(ctx: RequestContext, rawIccid: string): Promise<Sim> {
    const sim = await this.get(ctx, rawIccid)
    if (sim.statusCheckedAt && this.now() - sim.statusCheckedAt.getTime() < FRESH_MS) return sim
    const at = new Date(this.now())
    const info = await this.readThrough(sim, 'status', (a) => a.getSim(sim.iccid))
    if (!info) return sim
    await runBatch(this.deps.db, observeSim(this.deps.db, sim, info, at))
    return this.get(ctx, sim.iccid)
  }

  /** The SIM's connectivity, always from the upstream (502 when it cannot say). */
  async connectivity(ctx: RequestContext, rawIccid: string): Promise<{ sim: Sim; connectivity: SimConnectivity }> {
    const sim = await this.get(ctx, rawIccid)
    const { adapter } = await this.adapterOf(sim)
    const at = new Date(this.now())
    const c = await adapter.connectivity(sim.iccid)
    await runBatch(this.deps.db, observeConnectivity(this.deps.db, sim, c, at))
    return { sim, connectivity: c }
  }

  /** A quota, read through when stale. */
  async quota(ctx: RequestContext, rawIccid: string, type: QuotaType): Promise<{ sim: Sim; quota: SimQuota }> {
    const sim = await this.get(ctx, rawIccid)
    let q = await this.storedQuota(sim.id, type)
    if (!q || this.now() - q.observedAt.getTime() >= FRESH_MS) {
      const at = new Date(this.now())
      const read = await this.readThrough(sim, 'quota', (a) => a.quota(sim.iccid, type))
      if (read) {
        await runBatch(this.deps.db, observeQuota(this.deps.db, sim, q, read, at))
        q = await this.storedQuota(sim.id, type)
      }
    }
    if (!q) throw new UpstreamError('sims', 'the quota is not known yet and the provider did not answer')
    return { sim, quota: q }
  }

  storedQuota(simId: number, type: QuotaType): Promise<SimQuota | undefined> {
    return this.deps.db
      .select()
      .from(simQuotas)
      .where(and(eq(simQuotas.simId, simId), eq(simQuotas.quotaType, type)))
      .get()
  }

  /** Daily usage from the upstream over the period, grouped as asked. */
  async usage(ctx: RequestContext, rawIccid: string, q: z.infer<typeof UsageQuery>): Promise<{ sim: Sim; start: string; end: string; days: SimUsageDay[] }> {
    const sim = await this.get(ctx, rawIccid)
    const today = new Date(this.now()).toISOString().slice(0, 10)
    const end = q.end_date ? new Date(rangeEnd(q.end_date) - 1).toISOString().slice(0, 10) : today
    const start = q.start_date ? new Date(rangeStart(q.start_date)).toISOString().slice(0, 10) : new Date(Date.parse(`${end}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10)
    if (start > end) throw new AppError(400, 'VALIDATION_ERROR', 'start_date must not be after end_date', [{ field: 'start_date', message: 'After end_date' }], 'start_date')
    if (Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`) > 366 * 86_400_000) {
      throw new AppError(400, 'VALIDATION_ERROR', 'The period is at most 366 days', [{ field: 'start_date', message: 'Period longer than 366 days' }], 'start_date')
    }
    const { adapter } = await this.adapterOf(sim)
    const days = await adapter.usage(sim.iccid, start, end)
    return { sim, start, end, days }
  }

  // ---- reset ---------------------------------------------------------------------------------

  async reset(ctx: RequestContext, rawIccid: string, resetType: string): Promise<Sim> {
    const { db } = this.deps
    const sim = await this.get(ctx, rawIccid)
    const { adapter } = await this.adapterOf(sim)
    const { expectedCompletion } = await adapter.reset(sim.iccid)
    const at = new Date(this.now())
    await runBatch(db, [
      db.update(sims).set({ resetRequestedAt: at, resetExpectedAt: expectedCompletion, resetStatus: 'in_progress', resetType }).where(eq(sims.id, sim.id)),
      ...simEventStatements(
        db,
        sim,
        { kind: 'connectivity_reset', description: `Connectivity reset requested (${resetType})`, data: { reset_type: resetType, expected_completion: expectedCompletion.toISOString() } },
        at,
      ),
    ])
    return this.get(ctx, sim.iccid)
  }

  /** Where the SIM's last reset stands (asks the upstream while it is in progress). 404 when none was asked. */
  async resetStatus(ctx: RequestContext, rawIccid: string): Promise<Sim> {
    const sim = await this.get(ctx, rawIccid)
    if (!sim.resetRequestedAt) throw new NotFound('Reset of this SIM')
    if (sim.resetStatus !== 'in_progress') return sim
    const status = await this.readThrough(sim, 'reset', (a) => a.resetStatus(sim.iccid, sim.resetRequestedAt!))
    if (!status || status === 'in_progress') return sim
    await this.deps.db
      .update(sims)
      .set({ resetStatus: status })
      .where(and(eq(sims.id, sim.id), eq(sims.resetStatus, 'in_progress'), eq(sims.resetRequestedAt, sim.resetRequestedAt)))
    return { ...sim, resetStatus: status }
  }

  // ---- events ----------------------------------------------------------------------------------

  async events(ctx: RequestContext, rawIccid: string, q: z.infer<typeof ListEventsQuery>): Promise<{ rows: SimEvent[]; total: number }> {
    const { db } = this.deps
    const sim = await this.get(ctx, rawIccid)
    const where: SQL[] = [eq(simEvents.simId, sim.id)]
    if (q.event_type) where.push(eq(simEvents.eventType, q.event_type))
    if (q.start_date) where.push(gte(simEvents.occurredAt, new Date(rangeStart(q.start_date))))
    if (q.end_date) where.push(lt(simEvents.occurredAt, new Date(rangeEnd(q.end_date))))
    const [rows, totals] = await db.batch([
      db
        .select()
        .from(simEvents)
        .where(and(...where))
        .orderBy(desc(simEvents.occurredAt), desc(simEvents.id))
        .limit(q.page_size)
        .offset((q.page - 1) * q.page_size),
      db
        .select({ n: count() })
        .from(simEvents)
        .where(and(...where)),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** An upstream read for a stale copy: null (serve the stored copy) when the upstream fails. */
  private async readThrough<T>(sim: Sim, what: string, read: (a: SimProvider) => Promise<T>): Promise<T | null> {
    try {
      const { adapter } = await this.adapterOf(sim)
      return await read(adapter)
    } catch (e) {
      log('warn', 'sims: read-through failed; serving the stored copy', { iccid: sim.iccid, what, error: (e as Error).message })
      return null
    }
  }
}

function notAvailable(iccid: string): RegisterOutcome {
  return { iccid, status: 'failed', error: { code: 'SIM_NOT_AVAILABLE', message: 'This SIM cannot be registered to your account' } }
}

function failed(iccid: string, e: unknown): RegisterOutcome {
  if (e instanceof AppError) return { iccid, status: 'failed', error: { code: e.code, message: e.message } }
  log('error', 'sims: registration failed', { error: (e as Error).message })
  return { iccid, status: 'failed', error: { code: 'INTERNAL_ERROR', message: 'The SIM could not be registered' } }
}

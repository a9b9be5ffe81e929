/**
 * SMS to and from a SIM (the SIM API's SMS Management): sending (MT), cancelling, and the SIM's
 * messages as the upstream reports them — MT delivery states and the device's own messages (MO).
 *
 * Invariants:
 * - A message is sent to the upstream at once; its row is written only when the upstream accepted
 *   it (with the upstream's id). A refused or failed send leaves no row: the answer is the error
 *   (502), so no row waits `pending` for an upstream that never had the message.
 * - Statuses only move forward: pending < sent < delivered | failed | cancelled (the last three
 *   are final; `received` is the MO status). Every status write is conditional on the stored
 *   status ranking lower, in the UPDATE itself, so updates arriving out of order (an older listing
 *   applied after a newer one, two refreshes at once) never move a message back. `sent_at`,
 *   `delivered_at` and `failed_at` are set once (COALESCE).
 * - An MO message is stored once per (SIM, upstream id) (the unique index), with its
 *   `sms_received` event and `sms.received` webhook event in the same batch, both keyed by the
 *   upstream id: of two refreshes that see it at once, one writes all three and the other nothing.
 * - Only messages created after the SIM was registered to the account are listed from the upstream.
 * - Reads (list, details) read through when the SIM's SMS were last listed more than
 *   READ_THROUGH_MS ago: a conditional UPDATE of `sims.sms_refreshed_at` claims the refresh, so
 *   concurrent reads make one upstream call. An upstream failure serves the stored messages.
 */
import { and, asc, count, desc, eq, gte, inArray, isNull, lt, or, sql, type SQL } from 'drizzle-orm'
import type { z } from '@hono/zod-openapi'
import type { Db } from '../../db/client'
import { runBatch, type Stmt } from '../../db/batch'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import { sims, simSms, type Sim, type SimSms, type SimSmsStatus } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import { parseDate, rangeEnd, rangeStart } from '../../lib/dates'
import { Conflict, NotFound, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { logger } from '../../lib/logger'
import { DAY_MS } from '../../lib/time'
import type { SimProvider, UpstreamSms } from '../../providers/sims/types'
import { SMS_MAX_EXPIRY_DAYS, type ListSmsQuery, type SendSmsBody } from './schemas'
import { simEventStatements } from './sim-events'
import type { SimsService } from './sims.service'
import { isGsm7 } from './sms-text'

const { log } = logger.with({ module: 'sims' })

/** A read lists the SIM's SMS from the upstream when they were last listed longer ago than this. */
export const READ_THROUGH_MS = 5_000
/** A refresh lists again from this long before the previous one (messages the upstream showed late). */
const OVERLAP_MS = 60 * 60_000
/** How far back a refresh ever lists: past the longest expiry a message may have. */
const MAX_LOOKBACK_MS = (SMS_MAX_EXPIRY_DAYS + 1) * DAY_MS
/** Messages applied per D1 batch. */
const PER_BATCH = 40

const RANK: Record<SimSmsStatus, number> = { pending: 0, sent: 1, delivered: 2, failed: 2, cancelled: 2, received: 2 }
const storedRank = sql`(CASE ${simSms.status} WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END)`

export interface SimSmsDeps {
  db: Db
  sims: SimsService
  now?: () => number
}

export interface RefreshResult {
  listed: number
  updated: number
  received: number
}

export class SimSmsService {
  private readonly now: () => number

  constructor(private readonly deps: SimSmsDeps) {
    this.now = deps.now ?? Date.now
  }

  /** The SIM's messages, MO and MT, newest first. */
  async list(ctx: RequestContext, rawIccid: string, q: z.infer<typeof ListSmsQuery>): Promise<{ rows: SimSms[]; total: number }> {
    const { db } = this.deps
    const sim = await this.deps.sims.get(ctx, rawIccid)
    await this.readThrough(sim)
    const where: SQL[] = [eq(simSms.simId, sim.id)]
    if (q.direction) where.push(eq(simSms.direction, q.direction))
    if (q.status) where.push(eq(simSms.status, q.status))
    if (q.start_date) where.push(gte(simSms.createdAt, new Date(rangeStart(q.start_date))))
    if (q.end_date) where.push(lt(simSms.createdAt, new Date(rangeEnd(q.end_date))))
    const [rows, totals] = await db.batch([
      db
        .select()
        .from(simSms)
        .where(and(...where))
        .orderBy(desc(simSms.createdAt), desc(simSms.id))
        .limit(q.page_size)
        .offset((q.page - 1) * q.page_size),
      db
        .select({ n: count() })
        .from(simSms)
        .where(and(...where)),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  /** One message by its `sms_id` or integer id, as it stands after a read-through. */
  async get(ctx: RequestContext, rawIccid: string, id: string): Promise<{ sim: Sim; sms: SimSms }> {
    const sim = await this.deps.sims.get(ctx, rawIccid)
    await this.readThrough(sim)
    return { sim, sms: await this.find(sim, id) }
  }

  /** Sends an SMS to the SIM: the upstream first, then the row (see the header). */
  async send(ctx: RequestContext, rawIccid: string, body: z.infer<typeof SendSmsBody>): Promise<{ sim: Sim; sms: SimSms }> {
    const sim = await this.deps.sims.get(ctx, rawIccid)
    const now = this.now()
    const expiryDate = body.expiry_date ? expiry(body.expiry_date, now) : null
    const { adapter } = await this.deps.sims.adapterOf(sim)
    const createdAt = new Date(now)
    const { upstreamId } = await adapter.sendSms(sim.iccid, { message: body.message, encoding: body.encoding, expiryDate, sourceAddress: body.source_address })
    try {
      const sms = await this.deps.db
        .insert(simSms)
        .values({
          smsId: newId('sms', now),
          simId: sim.id,
          userId: sim.userId,
          direction: 'MT',
          message: body.message,
          encoding: body.encoding,
          status: 'pending',
          upstreamId,
          sourceAddress: body.source_address ?? null,
          expiryDate,
          createdAt,
          updatedAt: createdAt,
        })
        .returning()
        .get()
      return { sim, sms }
    } catch (e) {
      // The upstream has the message and we could not record it: say which, for whoever reconciles.
      log('error', 'sims: an SMS was sent but could not be recorded', { iccid: sim.iccid, upstreamId, error: (e as Error).message })
      throw e
    }
  }

  /**
   * Cancels an MT message the upstream has not delivered: 204 (also when already cancelled);
   * 409 SMS_ALREADY_DELIVERED once delivered, 409 SMS_NOT_CANCELLABLE when it failed or was received (MO).
   */
  async cancel(ctx: RequestContext, rawIccid: string, id: string): Promise<void> {
    const { db } = this.deps
    const sim = await this.deps.sims.get(ctx, rawIccid)
    const sms = await this.find(sim, id)
    if (!cancellable(sms)) return
    const { adapter } = await this.deps.sims.adapterOf(sim)
    if (sms.upstreamId) {
      try {
        await adapter.cancelSms(sim.iccid, sms.upstreamId)
      } catch (e) {
        // The upstream may refuse because the message was delivered meanwhile: then that is the answer.
        await this.refresh(sim, adapter).catch(() => undefined)
        const now = await this.find(sim, String(sms.id))
        if (now.status !== sms.status && !cancellable(now)) return
        throw e
      }
    }
    const at = new Date(this.now())
    const done = await db
      .update(simSms)
      .set({ status: 'cancelled', updatedAt: at })
      .where(and(eq(simSms.id, sms.id), sql`${storedRank} < ${RANK.cancelled}`))
      .returning({ id: simSms.id })
      .get()
    // Nothing changed: a refresh moved the message on meanwhile; answer by where it stands.
    if (!done) cancellable(await this.find(sim, String(sms.id)))
  }

  /**
   * Lists the SIM's SMS from the upstream and applies them: MT statuses (forward only) and new MO
   * messages with their events. From the oldest MT message still open, or an hour before the
   * previous refresh, whichever is earlier, but never before the SIM was registered nor more than
   * MAX_LOOKBACK_MS back.
   */
  async refresh(sim: Sim, adapter: SimProvider): Promise<RefreshResult> {
    const { db } = this.deps
    const at = new Date(this.now())
    const floor = Math.max(sim.createdAt.getTime(), at.getTime() - MAX_LOOKBACK_MS)
    const open = await db
      .select({ createdAt: simSms.createdAt })
      .from(simSms)
      .where(and(eq(simSms.simId, sim.id), eq(simSms.direction, 'MT'), inArray(simSms.status, ['pending', 'sent']), gte(simSms.createdAt, new Date(floor))))
      .orderBy(asc(simSms.createdAt))
      .limit(1)
      .get()
    let since = sim.smsRefreshedAt ? sim.smsRefreshedAt.getTime() - OVERLAP_MS : floor
    if (open) since = Math.min(since, open.createdAt.getTime())
    const listed = (await adapter.listSms(sim.iccid, new Date(Math.max(since, floor)))).filter((m) => m.createdAt.getTime() >= sim.createdAt.getTime())

    const stored = new Map<string, Pick<SimSms, 'id' | 'status'>>()
    for (const ids of chunk([...new Set(listed.map((m) => m.upstreamId))], IDS_PER_STATEMENT)) {
      const rows = await db
        .select({ id: simSms.id, direction: simSms.direction, upstreamId: simSms.upstreamId, status: simSms.status })
        .from(simSms)
        .where(and(eq(simSms.simId, sim.id), inArray(simSms.upstreamId, ids)))
        .all()
      for (const r of rows) stored.set(`${r.direction}:${r.upstreamId}`, r)
    }

    let updated = 0
    let received = 0
    const stmts: Stmt[][] = []
    for (const part of chunk(listed, PER_BATCH)) {
      const batch: Stmt[] = []
      for (const m of part) {
        const row = stored.get(`${m.direction}:${m.upstreamId}`)
        if (m.direction === 'MT') {
          // An MT message we did not send through Switchboard is not the account's: left alone.
          if (!row || RANK[m.status] <= RANK[row.status]) continue
          batch.push(statusUpdate(db, row.id, m, at))
          updated++
        } else if (!row) {
          batch.push(...this.receivedStatements(sim, m, at))
          received++
        }
      }
      stmts.push(batch)
    }
    const mark = db
      .update(sims)
      .set({ smsRefreshedAt: at })
      .where(and(eq(sims.id, sim.id), or(isNull(sims.smsRefreshedAt), lt(sims.smsRefreshedAt, at))))
    if (!stmts.length) stmts.push([])
    stmts[stmts.length - 1]!.push(mark)
    for (const batch of stmts) await runBatch(db, batch)
    return { listed: listed.length, updated, received }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** A device's message: its row, its history event and its webhook event, once (see the header). */
  private receivedStatements(sim: Sim, m: UpstreamSms, at: Date): Stmt[] {
    const { db } = this.deps
    const smsId = newId('sms', m.createdAt.getTime())
    return [
      db
        .insert(simSms)
        .values({
          smsId,
          simId: sim.id,
          userId: sim.userId,
          direction: 'MO',
          message: m.message,
          encoding: isGsm7(m.message) ? 'GSM7' : 'UCS2',
          status: 'received',
          upstreamId: m.upstreamId,
          sourceAddress: m.sourceAddress,
          createdAt: m.createdAt,
          updatedAt: at,
        })
        .onConflictDoNothing(),
      ...simEventStatements(
        db,
        sim,
        {
          kind: 'sms_received',
          description: 'SMS received from the device',
          data: { sms_id: smsId, message: m.message, source_address: m.sourceAddress, received_at: m.createdAt.toISOString() },
          dedupeKey: `sms:MO:${m.upstreamId}`,
        },
        at,
      ),
    ]
  }

  /** Lists the SIM's SMS from the upstream when the last listing is older than READ_THROUGH_MS (one reader claims it). */
  private async readThrough(sim: Sim): Promise<void> {
    const now = this.now()
    if (sim.smsRefreshedAt && now - sim.smsRefreshedAt.getTime() < READ_THROUGH_MS) return
    const claimed = await this.deps.db
      .update(sims)
      .set({ smsRefreshedAt: new Date(now) })
      .where(and(eq(sims.id, sim.id), or(isNull(sims.smsRefreshedAt), lt(sims.smsRefreshedAt, new Date(now - READ_THROUGH_MS)))))
      .returning({ id: sims.id })
      .get()
    if (!claimed) return
    try {
      const { adapter } = await this.deps.sims.adapterOf(sim)
      await this.refresh(sim, adapter)
    } catch (e) {
      log('warn', 'sims: SMS read-through failed; serving the stored messages', { iccid: sim.iccid, error: (e as Error).message })
    }
  }

  /** The SIM's message by `sms_id` or integer id; 404 when the SIM has none such. */
  private async find(sim: Sim, id: string): Promise<SimSms> {
    const byId = /^\d{1,15}$/.test(id) ? eq(simSms.id, Number(id)) : eq(simSms.smsId, id)
    const row = await this.deps.db
      .select()
      .from(simSms)
      .where(and(eq(simSms.simId, sim.id), byId))
      .get()
    if (!row) throw new NotFound('SMS')
    return row
  }
}

/** The MT update a listing asks for, applied only over a lower-ranked status. */
function statusUpdate(db: Db, id: number, m: UpstreamSms, at: Date): Stmt {
  const t = (d: Date | null) => (d ? d.getTime() : null)
  return db
    .update(simSms)
    .set({
      status: m.status,
      sentAt: sql`COALESCE(${simSms.sentAt}, ${t(m.sentAt)})`,
      ...(m.status === 'delivered' ? { deliveredAt: sql`COALESCE(${simSms.deliveredAt}, ${t(m.deliveredAt) ?? at.getTime()})` } : {}),
      ...(m.status === 'failed' ? { failedAt: sql`COALESCE(${simSms.failedAt}, ${at.getTime()})` } : {}),
      updatedAt: at,
    })
    .where(and(eq(simSms.id, id), sql`${storedRank} < ${RANK[m.status]}`))
}

/** True while an MT message may be cancelled; false when already cancelled; else the 409. */
function cancellable(s: SimSms): boolean {
  if (s.direction === 'MO') throw new Conflict('SMS_NOT_CANCELLABLE', 'A message received from the device cannot be cancelled', { status: s.status })
  if (s.status === 'delivered') throw new Conflict('SMS_ALREADY_DELIVERED', 'The SMS was already delivered', { status: s.status })
  if (s.status === 'failed') throw new Conflict('SMS_NOT_CANCELLABLE', 'The SMS already failed', { status: s.status })
  return s.status !== 'cancelled'
}

/** A send's `expiry_date`: in the future, at most SMS_MAX_EXPIRY_DAYS ahead. */
function expiry(text: string, now: number): Date {
  const t = parseDate(text)!.instant
  if (t <= now) throw ValidationError.field('expiry_date', 'expiry_date must be in the future')
  if (t > now + SMS_MAX_EXPIRY_DAYS * DAY_MS) throw ValidationError.field('expiry_date', `expiry_date must be at most ${SMS_MAX_EXPIRY_DAYS} days ahead`)
  return new Date(t)
}

/**
 * The sandbox SIM upstream: the embedded default. It needs no account and is deterministic —
 * every answer is a function of the ICCID, the sandbox's own records (`sandbox_sims`,
 * `sandbox_sim_topups`, `sandbox_sim_sms`) and `now()` — so the demo and the tests can rely on it.
 * Its behaviour comes from the provider row's `config`, under `sim` (all optional):
 *
 *   sim: { unknownIccids?: [iccid], initialData?: bytes, initialSms?: n, dataBytesPerMinute?, smsPerHour?,
 *          failTopUpIccids?: [iccid], failure?: 'upstream_error', alwaysConnected?: bool, resetSeconds?, latencyMs? }
 *
 * Invariants:
 * - Known SIMs are the 19-digit ICCIDs of the issuer prefix 8988228 not listed in `unknownIccids`.
 *   The first call about a known SIM records it (status Enabled, activated then); usage grows from there.
 * - Identity (IMSI, MSISDN, IPs, IMEI) is derived from the ICCID's serial digits: same ICCID, same values,
 *   and consecutive ICCIDs never share an IMSI, MSISDN or IPv4 address.
 * - A quota is used at the SIM's rate while it has volume left: usage stops at exhaustion and resumes
 *   after a top-up. Daily usage is the difference of that one cumulative curve between day bounds,
 *   so the days of a range add up exactly to the quota's used volume.
 * - A top-up reference adds volume once; a replay answers ok with the quota as it stands.
 * - SMS states follow from the time since sending: nothing is rewritten except `cancelledAt`.
 */
import { and, asc, eq, gte, inArray } from 'drizzle-orm'
import { z } from 'zod'
import { insertChunks, runBatch } from '../../db/batch'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import type { Db } from '../../db/client'
import { sandboxSimSms, sandboxSims, sandboxSimTopups } from '../../db/schema'
import { UpstreamError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import type { SimConnectivity, SimInfo, SimLimitsInput, SimProvider, SimQuotaInfo, SimQuotaType, SimSmsRequest, SimTopUpOutcome, SimTopUpRequest, SimUsageDay, UpstreamSms } from './types'
import { sleep } from '../../lib/concurrency'
import { fnv1a } from '../../lib/hash'

const MIB = 1024 * 1024
const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
/** Connectivity changes in slots of this length. */
const SLOT = 10 * MINUTE
/** SMS lifecycle, from the moment the sandbox was asked to send. */
const SMS_SENT_AFTER = 2_000
const SMS_DONE_AFTER = 5_000
const SMS_REPLY_AFTER = 10_000

export const SandboxSimConfig = z.object({
  sim: z
    .object({
      /** ICCIDs of the issuer prefix the sandbox nevertheless does not know. */
      unknownIccids: z.array(z.string()).default([]),
      initialData: z
        .number()
        .int()
        .nonnegative()
        .default(500 * MIB)
        .describe('bytes'),
      initialSms: z.number().int().nonnegative().default(250),
      /** The average rate: each SIM uses between half and one and a half times it, by its ICCID. */
      dataBytesPerMinute: z.number().int().nonnegative().default(MIB),
      smsPerHour: z.number().nonnegative().default(2),
      /** Top-ups of these ICCIDs fail with UPSTREAM_ERROR (the rest of the call succeeds). */
      failTopUpIccids: z.array(z.string()).default([]),
      failure: z.enum(['upstream_error']).optional(),
      /** No offline slots (a Disabled SIM or one being reset is still offline). */
      alwaysConnected: z.boolean().default(false),
      resetSeconds: z.number().int().min(0).max(3600).default(30),
      latencyMs: z.number().int().min(0).max(10_000).default(0),
    })
    .prefault({}),
})
export type SandboxSimConfig = z.infer<typeof SandboxSimConfig>
type Settings = SandboxSimConfig['sim']
type SandboxSimRow = typeof sandboxSims.$inferSelect
type SandboxSimTopupRow = typeof sandboxSimTopups.$inferSelect

const KNOWN_ICCID = /^8988228\d{12}$/

/**
 * The ICCID's 12 serial digits mapped by `serial × a + b (mod m)`: with `a` prime to `m` this is a
 * one-to-one map on serials modulo `m`, so nearby ICCIDs get distinct, scattered-looking values.
 */
function scramble(iccid: string, a: bigint, b: bigint, m: bigint): bigint {
  return (BigInt(iccid.slice(7)) * a + b) % m
}

const pad = (n: bigint, width: number) => n.toString().padStart(width, '0')

function luhnDigit(digits: string): number {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i])
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2
    sum += d
  }
  return (10 - (sum % 10)) % 10
}

/** The SIM's identity as the sandbox reports it, derived from the ICCID alone. */
export function sandboxSimIdentity(iccid: string) {
  const ip = scramble(iccid, 2_654_435_761n, 40_503n, 1n << 24n)
  const v6 = scramble(iccid, 3_266_489_917n, 374_761_393n, 1n << 32n)
  const imei14 = `35${pad(scramble(iccid, 6_364_136_223n, 1_442_695_041n, 10n ** 12n), 12)}`
  return {
    imsi: `901288${pad(scramble(iccid, 7_919_117n, 104_729n, 10n ** 9n), 9)}`,
    msisdn: `88236${pad(scramble(iccid, 9_973_331n, 15_485_863n, 10n ** 10n), 10)}`,
    ipAddress: `10.${(ip >> 16n) & 255n}.${(ip >> 8n) & 255n}.${ip & 255n}`,
    ipv6Address: `2001:db8:${((v6 >> 16n) & 0xffffn).toString(16)}:${(v6 & 0xffffn).toString(16)}::1`,
    imei: `${imei14}${luhnDigit(imei14)}`,
  }
}

/** The SIM's usage rates: data varies by ±50% around the configured rate so SIMs differ; SMS do not. */
export function sandboxSimRates(iccid: string, config: SandboxSimConfig) {
  const factor = 0.5 + (fnv1a(`${iccid}:rate`) % 1001) / 1000
  return { dataBytesPerMinute: Math.round(config.sim.dataBytesPerMinute * factor), smsPerHour: config.sim.smsPerHour }
}

interface Meter {
  start: number
  /** Units per `per` milliseconds. */
  rate: number
  per: number
  initial: number
  /** Oldest first. */
  topups: { at: number; volume: number }[]
}

/**
 * Units used by `t`: growing at the rate from `start`, stopped while the volume granted so far is
 * used up, resumed by each top-up.
 */
function usedBy(m: Meter, t: number): number {
  if (t <= m.start) return 0
  let used = 0
  let volume = m.initial
  let at = m.start
  for (const top of m.topups) {
    const when = Math.max(top.at, m.start)
    if (when >= t) break
    used = Math.min(volume, used + (m.rate * (when - at)) / m.per)
    at = when
    volume += top.volume
  }
  return Math.floor(Math.min(volume, used + (m.rate * (t - at)) / m.per))
}

const OPERATORS = [
  { operatorName: 'Deutsche Telekom', mcc: '262', mnc: '01' },
  { operatorName: 'Vodafone', mcc: '262', mnc: '02' },
  { operatorName: 'Telefónica', mcc: '262', mnc: '03' },
]
const RATS = ['LTE', 'LTE-M', 'NB-IoT']

const DATE = /^\d{4}-\d{2}-\d{2}$/

function dayStart(date: string): number {
  const t = DATE.test(date) ? Date.parse(`${date}T00:00:00Z`) : Number.NaN
  if (Number.isNaN(t)) throw new UpstreamError('sandbox', 'invalid usage date range')
  return t
}

export class SandboxSims implements SimProvider {
  private readonly db: Db
  private readonly config: SandboxSimConfig
  private readonly settings: Settings
  private readonly now: () => number

  constructor(deps: { db: Db; config: SandboxSimConfig; now?: () => number }) {
    this.db = deps.db
    this.config = deps.config
    this.settings = deps.config.sim
    this.now = deps.now ?? Date.now
  }

  private async begin(): Promise<void> {
    await sleep(this.settings.latencyMs)
    if (this.settings.failure === 'upstream_error') throw new UpstreamError('sandbox', 'simulated upstream failure (HTTP 500)')
  }

  private known(iccid: string): boolean {
    return KNOWN_ICCID.test(iccid) && !this.settings.unknownIccids.includes(iccid)
  }

  /** The sandbox's record of a known SIM, created on first sight; null for a SIM it does not know. */
  private async record(iccid: string): Promise<SandboxSimRow | null> {
    return (await this.records([iccid])).get(iccid) ?? null
  }

  private async sim(iccid: string): Promise<SandboxSimRow> {
    const row = await this.record(iccid)
    if (!row) throw new UpstreamError('sandbox', 'SIM not found')
    return row
  }

  private async meters(row: SandboxSimRow): Promise<Record<SimQuotaType, Meter>> {
    const tops = await this.db.select().from(sandboxSimTopups).where(eq(sandboxSimTopups.iccid, row.iccid)).orderBy(asc(sandboxSimTopups.createdAt), asc(sandboxSimTopups.reference))
    return this.metersOf(row, tops)
  }

  /** The SIM's meters from its top-ups (in the order they were made). */
  private metersOf(row: SandboxSimRow, tops: SandboxSimTopupRow[]): Record<SimQuotaType, Meter> {
    const of = (type: SimQuotaType) => tops.filter((t) => t.quotaType === type).map((t) => ({ at: t.createdAt.getTime(), volume: t.volume }))
    const rates = sandboxSimRates(row.iccid, this.config)
    const start = row.activatedAt.getTime()
    return {
      data: { start, rate: rates.dataBytesPerMinute, per: MINUTE, initial: this.settings.initialData, topups: of('data') },
      sms: { start, rate: rates.smsPerHour, per: HOUR, initial: this.settings.initialSms, topups: of('sms') },
    }
  }

  private async quotaOf(row: SandboxSimRow, type: SimQuotaType): Promise<SimQuotaInfo> {
    return this.quotaFrom(type, (await this.meters(row))[type])
  }

  private quotaFrom(type: SimQuotaType, m: Meter): SimQuotaInfo {
    const volume = m.initial + m.topups.reduce((s, t) => s + t.volume, 0)
    const usedVolume = usedBy(m, this.now())
    const last = m.topups.at(-1)
    return {
      type,
      volume,
      usedVolume,
      status: usedVolume >= volume ? 'Exhausted' : 'Active',
      lastVolumeAdded: last?.volume ?? null,
      lastStatusChangeDate: last ? new Date(last.at) : null,
      expiryDate: null,
    }
  }

  private online(iccid: string, slot: number): boolean {
    return this.settings.alwaysConnected || fnv1a(`${iccid}:slot:${slot}`) % 6 !== 0
  }

  private resetting(row: SandboxSimRow, now: number): boolean {
    return row.resetRequestedAt !== null && now < row.resetRequestedAt.getTime() + this.settings.resetSeconds * 1000
  }

  async getSim(iccid: string): Promise<SimInfo | null> {
    await this.begin()
    const row = await this.record(iccid)
    if (!row) return null
    return {
      iccid,
      ...sandboxSimIdentity(iccid),
      imeiLock: row.imeiLock,
      status: row.status as SimInfo['status'],
      label: row.label,
      activationDate: row.activatedAt,
    }
  }

  async updateSim(iccid: string, change: { status?: 'Enabled' | 'Disabled'; label?: string | null; imeiLock?: boolean }): Promise<void> {
    await this.begin()
    await this.sim(iccid)
    await this.db
      .update(sandboxSims)
      .set({
        ...(change.status !== undefined && { status: change.status }),
        ...(change.label !== undefined && { label: change.label }),
        ...(change.imeiLock !== undefined && { imeiLock: change.imeiLock }),
        updatedAt: new Date(this.now()),
      })
      .where(eq(sandboxSims.iccid, iccid))
  }

  async connectivity(iccid: string): Promise<SimConnectivity> {
    await this.begin()
    const row = await this.sim(iccid)
    const now = this.now()
    const at = new Date(now)
    const slot = Math.floor(now / SLOT)
    if (row.status !== 'Enabled' || this.resetting(row, now) || !this.online(iccid, slot)) {
      return {
        connected: false,
        cellId: null,
        signalStrength: null,
        signalQuality: null,
        rat: null,
        countryCode: null,
        operatorName: null,
        mcc: null,
        mnc: null,
        apn: null,
        at,
      }
    }
    const signal = fnv1a(`${iccid}:signal:${slot}`)
    const signalStrength = -115 + (signal % 41)
    return {
      connected: true,
      // The serving cell changes about hourly.
      cellId: String(fnv1a(`${iccid}:cell:${Math.floor(slot / 6)}`) % 268_435_456),
      signalStrength,
      signalQuality: Math.min(100, Math.round((signalStrength + 120) * 2.2)),
      rat: RATS[fnv1a(`${iccid}:rat`) % RATS.length]!,
      countryCode: 'DE',
      ...OPERATORS[fnv1a(`${iccid}:operator`) % OPERATORS.length]!,
      apn: 'iot.1nce.net',
      at,
    }
  }

  async reset(iccid: string): Promise<{ expectedCompletion: Date }> {
    await this.begin()
    await this.sim(iccid)
    const now = this.now()
    await this.db
      .update(sandboxSims)
      .set({ resetRequestedAt: new Date(now), updatedAt: new Date(now) })
      .where(eq(sandboxSims.iccid, iccid))
    return { expectedCompletion: new Date(now + this.settings.resetSeconds * 1000) }
  }

  async resetStatus(iccid: string, requestedAt: Date): Promise<'in_progress' | 'completed' | 'failed'> {
    await this.begin()
    await this.sim(iccid)
    return this.now() < requestedAt.getTime() + this.settings.resetSeconds * 1000 ? 'in_progress' : 'completed'
  }

  /**
   * Days before activation are zeros; days after today are left out (they have not happened).
   * Each day is the growth of the capped usage curve over the part of it between activation and
   * now, so the days sum to the quotas' used volumes.
   */
  async usage(iccid: string, from: string, to: string): Promise<SimUsageDay[]> {
    await this.begin()
    const row = await this.sim(iccid)
    const now = this.now()
    const first = dayStart(from)
    const last = Math.min(dayStart(to), Math.floor(now / DAY) * DAY)
    const { data, sms } = await this.meters(row)
    const activated = row.activatedAt.getTime()
    const out: SimUsageDay[] = []
    for (let day = first; day <= last; day += DAY) {
      const start = Math.max(day, activated)
      const end = Math.min(day + DAY, now)
      const date = new Date(day).toISOString().slice(0, 10)
      if (start >= end) {
        out.push({ date, volumeRx: 0, volumeTx: 0, smsMo: 0, smsMt: 0, sessionCount: 0 })
        continue
      }
      const bytes = usedBy(data, end) - usedBy(data, start)
      const volumeRx = Math.round((bytes * 2) / 3)
      // MT messages are half of the SMS used (rounded down), MO the rest, on the same cumulative curve.
      const smsTotal = (t: number) => usedBy(sms, t)
      const mt = (t: number) => Math.floor(smsTotal(t) / 2)
      const smsMt = mt(end) - mt(start)
      const smsMo = smsTotal(end) - smsTotal(start) - smsMt
      out.push({ date, volumeRx, volumeTx: bytes - volumeRx, smsMo, smsMt, sessionCount: bytes > 0 ? this.sessions(iccid, start, end) : 0 })
    }
    return out
  }

  /** Data sessions in [start, end): each run of online slots is one (a day without data has none). */
  private sessions(iccid: string, start: number, end: number): number {
    let count = 0
    let prev = false
    for (let slot = Math.floor(start / SLOT); slot * SLOT < end; slot++) {
      const on = this.online(iccid, slot)
      if (on && !prev) count++
      prev = on
    }
    return count
  }

  async quota(iccid: string, type: SimQuotaType): Promise<SimQuotaInfo> {
    await this.begin()
    return this.quotaOf(await this.sim(iccid), type)
  }

  /**
   * Top-ups in a few D1 calls for the whole batch (its SIMs' records, the references already
   * done, one batch of inserts, the SIMs' top-ups), as an upstream that takes a list would.
   */
  async topUp(requests: SimTopUpRequest[]): Promise<SimTopUpOutcome[]> {
    await this.begin()
    const records = await this.records(requests.map((r) => r.iccid))
    const refs = requests.map((r) => r.reference)
    const done = new Set<string>()
    for (const part of chunk(refs, IDS_PER_STATEMENT))
      for (const t of await this.db.select({ reference: sandboxSimTopups.reference }).from(sandboxSimTopups).where(inArray(sandboxSimTopups.reference, part)).all()) done.add(t.reference)
    const at = new Date(this.now())
    const out: (SimTopUpOutcome | null)[] = []
    const inserts: SandboxSimTopupRow[] = []
    for (const req of requests) {
      const { reference } = req
      const row = records.get(req.iccid)
      if (!row) out.push({ reference, ok: false, code: 'SIM_NOT_FOUND', message: 'SIM not found' })
      else if (this.settings.failTopUpIccids.includes(req.iccid)) out.push({ reference, ok: false, code: 'UPSTREAM_ERROR', message: 'simulated top-up failure' })
      // A replay answers as the first call did, even if the SIM was disabled since.
      else if (done.has(reference)) out.push(null)
      else if (row.status !== 'Enabled') out.push({ reference, ok: false, code: 'SIM_DISABLED', message: 'SIM is disabled' })
      else if (!Number.isInteger(req.volume) || req.volume <= 0) out.push({ reference, ok: false, code: 'INVALID_VOLUME', message: 'volume must be a positive integer' })
      else {
        done.add(reference)
        inserts.push({ reference, iccid: req.iccid, quotaType: req.quotaType, volume: req.volume, createdAt: at })
        out.push(null)
      }
    }
    await runBatch(
      this.db,
      insertChunks(sandboxSimTopups, inserts).map((rows) => this.db.insert(sandboxSimTopups).values(rows).onConflictDoNothing()),
    )
    // The quotas after the batch: the top-ups of the SIMs that succeeded, read once.
    const ok = [...new Set(requests.filter((_, n) => out[n] === null).map((r) => r.iccid))]
    const tops = new Map<string, SandboxSimTopupRow[]>()
    for (const part of chunk(ok, IDS_PER_STATEMENT))
      for (const t of await this.db.select().from(sandboxSimTopups).where(inArray(sandboxSimTopups.iccid, part)).orderBy(asc(sandboxSimTopups.createdAt), asc(sandboxSimTopups.reference)).all())
        tops.set(t.iccid, [...(tops.get(t.iccid) ?? []), t])
    return requests.map((req, n) => {
      const answered = out[n]
      if (answered) return answered
      const row = records.get(req.iccid) as SandboxSimRow
      return { reference: req.reference, ok: true, quota: this.quotaFrom(req.quotaType, this.metersOf(row, tops.get(req.iccid) ?? [])[req.quotaType]) }
    })
  }

  /** The sandbox's records of the known SIMs among `iccids` (created on first sight), by ICCID. */
  private async records(iccids: string[]): Promise<Map<string, SandboxSimRow>> {
    const known = [...new Set(iccids.filter((i) => this.known(i)))]
    const found = new Map<string, SandboxSimRow>()
    const read = async (list: string[]) => {
      for (const part of chunk(list, IDS_PER_STATEMENT)) for (const r of await this.db.select().from(sandboxSims).where(inArray(sandboxSims.iccid, part)).all()) found.set(r.iccid, r)
    }
    await read(known)
    const missing = known.filter((i) => !found.has(i))
    if (missing.length) {
      const now = new Date(this.now())
      await runBatch(
        this.db,
        insertChunks(sandboxSims, missing).map((part) =>
          this.db
            .insert(sandboxSims)
            .values(part.map((iccid) => ({ iccid, status: 'Enabled' as const, activatedAt: now, updatedAt: now })))
            .onConflictDoNothing(),
        ),
      )
      await read(missing)
    }
    return found
  }

  async sendSms(iccid: string, sms: SimSmsRequest): Promise<{ upstreamId: string }> {
    await this.begin()
    const row = await this.sim(iccid)
    if (row.status !== 'Enabled') throw new UpstreamError('sandbox', 'SIM is disabled')
    const now = this.now()
    const id = newId('ssms', now)
    await this.db.insert(sandboxSimSms).values({ id, iccid, message: sms.message, createdAt: new Date(now) })
    return { upstreamId: id }
  }

  async listSms(iccid: string, since: Date): Promise<UpstreamSms[]> {
    await this.begin()
    await this.sim(iccid)
    const now = this.now()
    // A reply is created after its message: messages that old may still have a reply in range.
    const rows = await this.db
      .select()
      .from(sandboxSimSms)
      .where(and(eq(sandboxSimSms.iccid, iccid), gte(sandboxSimSms.createdAt, new Date(since.getTime() - SMS_REPLY_AFTER))))
      .orderBy(asc(sandboxSimSms.createdAt), asc(sandboxSimSms.id))
    const msisdn = sandboxSimIdentity(iccid).msisdn
    const out: UpstreamSms[] = []
    for (const row of rows) {
      const mt = this.mtState(row, now)
      if (!mt) continue
      out.push(mt)
      const replyAt = row.createdAt.getTime() + SMS_REPLY_AFTER
      if (mt.status === 'delivered' && now >= replyAt) {
        out.push({
          upstreamId: `${row.id}_mo`,
          direction: 'MO',
          message: `ACK ${row.message.slice(0, 40)}`,
          status: 'received',
          sourceAddress: msisdn,
          createdAt: new Date(replyAt),
          sentAt: null,
          deliveredAt: null,
        })
      }
    }
    return out.filter((m) => m.createdAt >= since).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
  }

  /** Where an MT message stands at `now` (null before it was created). */
  private mtState(row: typeof sandboxSimSms.$inferSelect, now: number): UpstreamSms | null {
    const created = row.createdAt.getTime()
    if (now < created) return null
    const cancelled = row.cancelledAt?.getTime() ?? null
    // A cancelled message stops where it was when cancelled.
    const until = cancelled ?? now
    const sent = until >= created + SMS_SENT_AFTER
    const done = until >= created + SMS_DONE_AFTER
    const fails = row.message.includes('FAIL')
    const status = cancelled !== null ? 'cancelled' : done ? (fails ? 'failed' : 'delivered') : sent ? 'sent' : 'pending'
    return {
      upstreamId: row.id,
      direction: 'MT',
      message: row.message,
      status,
      // The sandbox keeps no sender address (its table has none).
      sourceAddress: null,
      createdAt: row.createdAt,
      sentAt: sent ? new Date(created + SMS_SENT_AFTER) : null,
      deliveredAt: status === 'delivered' ? new Date(created + SMS_DONE_AFTER) : null,
    }
  }

  async cancelSms(iccid: string, upstreamId: string): Promise<void> {
    await this.begin()
    await this.sim(iccid)
    const row = await this.db
      .select()
      .from(sandboxSimSms)
      .where(and(eq(sandboxSimSms.id, upstreamId), eq(sandboxSimSms.iccid, iccid)))
      .get()
    if (!row) throw new UpstreamError('sandbox', 'SMS not found')
    const state = this.mtState(row, this.now())
    if (state?.status === 'delivered') throw new UpstreamError('sandbox', 'already delivered')
    if (state?.status === 'failed') throw new UpstreamError('sandbox', 'already failed')
    if (state?.status === 'cancelled') return
    await this.db
      .update(sandboxSimSms)
      .set({ cancelledAt: new Date(this.now()) })
      .where(eq(sandboxSimSms.id, upstreamId))
  }

  async setLimits(iccids: string[], limits: SimLimitsInput): Promise<void> {
    await this.begin()
    // All or nothing: an unknown SIM fails the call before any is changed.
    if (iccids.some((i) => !this.known(i))) throw new UpstreamError('sandbox', 'SIM not found')
    const now = new Date(this.now())
    const rows = [...new Set(iccids)].map((iccid) => ({ iccid, status: 'Enabled', limits: { ...limits }, activatedAt: now, updatedAt: now }))
    // A SIM seen here for the first time is recorded as `record` would, with its limits.
    await runBatch(
      this.db,
      insertChunks(sandboxSims, rows).map((chunk) =>
        this.db
          .insert(sandboxSims)
          .values(chunk)
          .onConflictDoUpdate({ target: sandboxSims.iccid, set: { limits: { ...limits }, updatedAt: now } }),
      ),
    )
  }

  async ping(): Promise<void> {
    await this.begin()
  }
}

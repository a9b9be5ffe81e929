/**
 * Number reservations, like Telnyx's: a client holds numbers of the inventory for 30 minutes
 * (extendable) before buying them. The NumberLock of each number is the truth (holder = the
 * account); `number_reservations` is its account-scoped record.
 *
 * A reservation is the set of numbers of one request. Its id is `rsv_…`; each number's row has
 * the id `<reservation id>.<n>`, so the rows of a reservation are one primary-key range and every
 * route accepts either id (the reservation's: all its numbers; a number's: just that one).
 * A row is active until its `expires_at`; past it, it reads as expired (the lock's alarm has let
 * the number go), whatever its stored status says.
 */
import { and, asc, desc, eq, gt, gte, inArray, lt } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { didInventory, numberReservations } from '../../db/schema'
import { Conflict, NotFound, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { iso } from '../../lib/time'
import type { NumberLockService } from '../numbers/number-lock.service'
import { errorText, runBatch, type Stmt } from './batch'
import type { ReservationView } from './schemas'

export const RESERVATION_TTL_MS = 30 * 60_000
const MAX_LISTED = 200

type Row = typeof numberReservations.$inferSelect
type NumberEntry = ReservationView['phoneNumbers'][number]

const groupOf = (id: string) => id.split('.')[0]!

function entryOf(r: Row, now: number): NumberEntry {
  const live = r.status === 'active' && r.expiresAt.getTime() > now
  const status = live ? 'reserved' : r.status === 'active' ? 'expired' : r.status
  return { id: r.id, phoneNumber: r.phoneNumber, status, expiresAt: iso(r.expiresAt) }
}

function viewOf(id: string, rows: Row[], now: number, extra: NumberEntry[] = []): ReservationView {
  const entries = [...rows.map((r) => entryOf(r, now)), ...extra]
  const reserved = entries.filter((e) => e.status === 'reserved')
  const status: ReservationView['status'] = reserved.length
    ? reserved.length === entries.length
      ? 'active'
      : 'partial'
    : entries.some((e) => e.status === 'purchased')
      ? 'purchased'
      : entries.some((e) => e.status === 'released')
        ? 'released'
        : 'expired'
  const expiries = rows.filter((r) => r.status === 'active' && r.expiresAt.getTime() > now).map((r) => r.expiresAt.getTime())
  return {
    id,
    status,
    expiresAt: expiries.length ? new Date(Math.max(...expiries)).toISOString() : null,
    createdAt: iso(rows[0]?.createdAt ?? now)!,
    phoneNumbers: entries,
  }
}

export class ReservationsService {
  constructor(private readonly deps: { db: Db; locks: NumberLockService }) {}

  private get db() {
    return this.deps.db
  }

  async create(userId: string, phones: string[]): Promise<ReservationView> {
    const dup = phones.find((p, i) => phones.indexOf(p) !== i)
    if (dup) throw ValidationError.field('phoneNumbers', `${dup} is listed twice`)
    const now = Date.now()
    const inv = await this.db
      .select({ phoneNumber: didInventory.phoneNumber, status: didInventory.status })
      .from(didInventory)
      .where(inArray(didInventory.phoneNumber, phones))
      .all()
    const available = new Set(inv.filter((r) => r.status === 'available').map((r) => r.phoneNumber))
    const outcome = await Promise.all(
      phones.map(async (phoneNumber): Promise<{ phoneNumber: string; ok: boolean; error?: string }> => {
        if (!available.has(phoneNumber)) return { phoneNumber, ok: false, error: 'NUMBER_NOT_AVAILABLE' }
        try {
          const r = await this.deps.locks.of(phoneNumber).reserve(userId, RESERVATION_TTL_MS)
          // A confirmed lock (expiresAt null) means the number is owned, not reservable.
          return r.ok && r.expiresAt !== null ? { phoneNumber, ok: true } : { phoneNumber, ok: false, error: 'NUMBER_NOT_AVAILABLE' }
        } catch (e) {
          console.error(JSON.stringify({ level: 'error', message: 'reservation: number lock unreachable', phoneNumber, error: errorText(e) }))
          return { phoneNumber, ok: false, error: 'NUMBER_NOT_AVAILABLE' }
        }
      }),
    )
    const reserved = outcome.filter((o) => o.ok)
    const failedEntries: NumberEntry[] = outcome
      .filter((o) => !o.ok)
      .map((o) => ({ id: null, phoneNumber: o.phoneNumber, status: 'failed' as const, expiresAt: null, error: o.error }))
    if (!reserved.length) {
      throw new Conflict('NUMBER_NOT_AVAILABLE', 'None of the numbers can be reserved: they are sold, unknown or reserved by another account', {
        phoneNumbers: failedEntries,
      })
    }
    const group = newId('rsv', now)
    const at = new Date(now)
    const expiresAt = new Date(now + RESERVATION_TTL_MS)
    const rows: Row[] = reserved.map((o, i) => ({
      id: `${group}.${i + 1}`,
      userId,
      phoneNumber: o.phoneNumber,
      status: 'active',
      expiresAt,
      createdAt: at,
      updatedAt: at,
    }))
    const reservedPhones = reserved.map((o) => o.phoneNumber)
    await runBatch(this.db, [
      // A number reserved again by the same account: the new reservation supersedes the old row.
      this.db
        .update(numberReservations)
        .set({ status: 'released', updatedAt: at })
        .where(and(inArray(numberReservations.phoneNumber, reservedPhones), eq(numberReservations.status, 'active'), eq(numberReservations.userId, userId))),
      this.db.insert(numberReservations).values(rows),
    ])
    return viewOf(group, rows, now, failedEntries)
  }

  /** The account's reservations that still hold at least one number. */
  async list(userId: string): Promise<ReservationView[]> {
    const now = Date.now()
    const rows = await this.db
      .select()
      .from(numberReservations)
      .where(and(eq(numberReservations.userId, userId), eq(numberReservations.status, 'active'), gt(numberReservations.expiresAt, new Date(now))))
      .orderBy(desc(numberReservations.createdAt), asc(numberReservations.id))
      .limit(MAX_LISTED)
      .all()
    const groups = new Map<string, Row[]>()
    for (const r of rows) groups.set(groupOf(r.id), [...(groups.get(groupOf(r.id)) ?? []), r])
    return [...groups].map(([id, rs]) => viewOf(id, rs.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })), now))
  }

  async get(userId: string, id: string): Promise<ReservationView> {
    const { group, rows } = await this.rowsOf(userId, id)
    return viewOf(group, rows, Date.now())
  }

  /** Another 30 minutes from now for each still-held number of the reservation (or the one named). */
  async extend(userId: string, id: string): Promise<ReservationView> {
    const { group, rows, target } = await this.rowsOf(userId, id)
    const now = Date.now()
    const live = target.filter((r) => r.status === 'active' && r.expiresAt.getTime() > now)
    if (!live.length) throw new Conflict('RESERVATION_NOT_ACTIVE', 'The reservation has expired, been released or been purchased; reserve the numbers again')
    const results = await Promise.all(
      live.map(async (r) => {
        try {
          const res = await this.deps.locks.of(r.phoneNumber).reserve(userId, RESERVATION_TTL_MS)
          return { r, ok: res.ok && res.expiresAt !== null }
        } catch {
          return { r, ok: false }
        }
      }),
    )
    const at = new Date(now)
    const expiresAt = new Date(now + RESERVATION_TTL_MS)
    const kept = results.filter((x) => x.ok).map((x) => x.r)
    const lost = results.filter((x) => !x.ok).map((x) => x.r)
    const stmts: Stmt[] = []
    if (kept.length) stmts.push(this.db.update(numberReservations).set({ expiresAt, updatedAt: at }).where(inArray(numberReservations.id, kept.map((r) => r.id))))
    if (lost.length) stmts.push(this.db.update(numberReservations).set({ status: 'expired', updatedAt: at }).where(inArray(numberReservations.id, lost.map((r) => r.id))))
    await runBatch(this.db, stmts)
    for (const r of kept) Object.assign(r, { expiresAt, updatedAt: at })
    for (const r of lost) Object.assign(r, { status: 'expired', updatedAt: at })
    return viewOf(group, rows, now)
  }

  /** Lets the numbers go now. Releasing what is no longer held changes nothing. */
  async release(userId: string, id: string): Promise<ReservationView> {
    const { group, rows, target } = await this.rowsOf(userId, id)
    const now = Date.now()
    // Rows past their expiry already read as expired: the lock's alarm let those numbers go.
    const active = target.filter((r) => r.status === 'active' && r.expiresAt.getTime() > now)
    if (active.length) {
      await Promise.all(
        active
          .map((r) =>
            this.deps.locks
              .of(r.phoneNumber)
              .release(userId)
              .catch((e: unknown) => console.error(JSON.stringify({ level: 'error', message: 'reservation: lock release failed', phoneNumber: r.phoneNumber, error: errorText(e) }))),
          ),
      )
      const at = new Date(now)
      await this.db
        .update(numberReservations)
        .set({ status: 'released', updatedAt: at })
        .where(and(inArray(numberReservations.id, active.map((r) => r.id)), eq(numberReservations.status, 'active')))
      for (const r of active) Object.assign(r, { status: 'released', updatedAt: at })
    }
    return viewOf(group, rows, now)
  }

  /** The rows of the reservation `id` belongs to (a PK range), scoped to the account. */
  private async rowsOf(userId: string, id: string) {
    const group = groupOf(id)
    const rows = await this.db
      .select()
      .from(numberReservations)
      .where(and(eq(numberReservations.userId, userId), gte(numberReservations.id, `${group}.`), lt(numberReservations.id, `${group}/`)))
      .all()
    rows.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))
    const target = id === group ? rows : rows.filter((r) => r.id === id)
    if (!target.length) throw new NotFound('Reservation')
    return { group, rows, target }
  }
}

/**
 * Number reservations: a client holds numbers of the inventory for 30 minutes
 * (extendable) before buying them. The NumberLock of each number is the truth (holder = the
 * account); `number_reservations` is its account-scoped record.
 *
 * A reservation is the set of numbers of one request. Its id is `rsv_…`; each number's row has
 * the id `<reservation id>.<n>`, so the rows of a reservation are one primary-key range and every
 * route accepts either id (the reservation's: all its numbers; a number's: just that one).
 * A row is active until its `expires_at`; past it, it reads as expired (the lock's alarm has let
 * the number go), whatever its stored status says.
 */
import { and, asc, desc, eq, gt, gte, inArray, lt, sql } from 'drizzle-orm'
import { chunk } from '../../db/chunk'
import type { Db } from '../../db/client'
import { insertRowsWhere, rowsPerGuardedInsert } from '../../db/insert-where'
import { didInventory, numberReservations } from '../../db/schema'
import { Conflict, NotFound, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import type { NumberLockService } from '../number-locks/number-lock.service'
import type { WalletService } from '../wallet/wallet.service'
import { errorText, runBatch } from '../../db/batch'
import type { RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'
import { assertAffordable, heldQuery, limitReached, type Held } from './reservation-limits'
import type { z } from '@hono/zod-openapi'
import type { ReservationView } from './schemas'

export const RESERVATION_TTL_MS = 30 * 60_000
const MAX_LISTED = 200

type Row = typeof numberReservations.$inferSelect
export type ReservationRow = Row

const groupOf = (id: string) => id.split('.')[0]!

/**
 * A reservation as of `at`: the rows of its numbers (a row past its `expiresAt` reads as expired,
 * whatever its stored status), and for the verb that made it, the numbers it could not reserve
 * and the rows it could not extend. views.ts shapes the answer.
 */
export interface Reservation {
  id: string
  rows: Row[]
  at: number
  /** create: the numbers that could not be reserved, and why. */
  failed: { phoneNumber: string; error?: string }[]
  /** extend: ids of rows still held whose extensions are used up. */
  capped: ReadonlySet<string>
}

function reservation(id: string, rows: Row[], at: number, more: Partial<Pick<Reservation, 'failed' | 'capped'>> = {}): Reservation {
  return { id, rows, at, failed: more.failed ?? [], capped: more.capped ?? new Set() }
}

export interface ReservationLimits {
  /** Most numbers one account holds by reservation at a time. */
  maxNumbers: number
  /** Most extensions of one reserved number. */
  maxExtensions: number
}

export interface ReservationsDeps {
  db: Db
  locks: NumberLockService
  wallet: Pick<WalletService, 'balance'>
  limits: ReservationLimits
}

export class ReservationsService {
  constructor(private readonly deps: ReservationsDeps) {}

  private get db() {
    return this.deps.db
  }

  async create(ctx: RequestContext, phones: string[]): Promise<Reservation> {
    const userId = ctx.accountId
    const dup = phones.find((p, i) => phones.indexOf(p) !== i)
    if (dup) throw ValidationError.field('phoneNumbers', `${dup} is listed twice`)
    const now = Date.now()
    const [inv, heldRows] = await this.db.batch([
      this.db
        .select({ phoneNumber: didInventory.phoneNumber, status: didInventory.status, price: sql<number>`${didInventory.setupPrice} + ${didInventory.monthlyPrice}` })
        .from(didInventory)
        .where(inArray(didInventory.phoneNumber, phones)),
      heldQuery(this.db, userId, now),
    ])
    const held = new Map(heldRows.map((h) => [h.phoneNumber, h]))
    const priceOf = new Map(inv.filter((r) => r.status === 'available').map((r) => [r.phoneNumber, r.price]))
    // Limits, before any lock is taken: numbers held at once, and the money to buy all of them.
    const fresh = phones.filter((p) => priceOf.has(p) && !held.has(p))
    if (held.size + fresh.length > this.deps.limits.maxNumbers) throw limitReached(this.deps.limits.maxNumbers, held.size, fresh.length)
    if (priceOf.size) await assertAffordable(this.deps.wallet, userId, [...heldRows.map((h) => h.price), ...fresh.map((p) => priceOf.get(p)!)])

    const outcome = await Promise.all(
      phones.map(async (phoneNumber): Promise<{ phoneNumber: string; ok: boolean; error?: string }> => {
        if (!priceOf.has(phoneNumber)) return { phoneNumber, ok: false, error: 'NUMBER_NOT_AVAILABLE' }
        try {
          const r = await this.deps.locks.of(phoneNumber).reserve(userId, RESERVATION_TTL_MS)
          // A confirmed lock (expiresAt null) means the number is owned, not reservable.
          return r.ok && r.expiresAt !== null ? { phoneNumber, ok: true } : { phoneNumber, ok: false, error: 'NUMBER_NOT_AVAILABLE' }
        } catch (e) {
          logger.error('reservation: number lock unreachable', { phoneNumber, error: errorText(e) })
          return { phoneNumber, ok: false, error: 'NUMBER_NOT_AVAILABLE' }
        }
      }),
    )
    const reserved = outcome.filter((o) => o.ok)
    const failed = outcome.filter((o) => !o.ok).map((o) => ({ phoneNumber: o.phoneNumber, error: o.error }))
    if (!reserved.length) {
      throw new Conflict('NUMBER_NOT_AVAILABLE', 'None of the numbers can be reserved: they are sold, unknown or reserved by another account', {
        phoneNumbers: failed.map(failedReservationEntry),
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
      // Reserving a held number again keeps its extensions: a new reservation is not a way around the cap.
      extensions: held.get(o.phoneNumber)?.extensions ?? 0,
      createdAt: at,
      updatedAt: at,
    }))
    const reservedPhones = reserved.map((o) => o.phoneNumber)
    // The cap, exact under concurrency: every statement of the batch carries the same guard, which
    // none of them changes (it counts the account's other live rows), so all are written or none.
    const guard = sql`(select count(*) from ${numberReservations} where ${numberReservations.userId} = ${userId} and ${numberReservations.status} = 'active' and ${numberReservations.expiresAt} > ${now} and ${numberReservations.phoneNumber} not in ${reservedPhones} and not (${numberReservations.id} >= ${`${group}.`} and ${numberReservations.id} < ${`${group}/`})) + ${rows.length} <= ${this.deps.limits.maxNumbers}`
    const guardParams = 6 + reservedPhones.length
    let written: boolean
    try {
      const results = await runBatch(this.db, [
        // A number reserved again by the same account: the new reservation supersedes the old row.
        this.db
          .update(numberReservations)
          .set({ status: 'released', updatedAt: at })
          .where(and(inArray(numberReservations.phoneNumber, reservedPhones), eq(numberReservations.status, 'active'), eq(numberReservations.userId, userId), guard)),
        ...chunk(rows, rowsPerGuardedInsert(numberReservations, guardParams)).map((part) => insertRowsWhere(this.db, numberReservations, part, guard).returning({ id: numberReservations.id })),
      ])
      written = (results.slice(1) as { id: string }[][]).some((r) => r.length > 0)
    } catch (e) {
      // The batch may have committed before its error reached us: look before undoing anything.
      const present = await this.db
        .select({ id: numberReservations.id })
        .from(numberReservations)
        .where(and(eq(numberReservations.userId, userId), gte(numberReservations.id, `${group}.`), lt(numberReservations.id, `${group}/`)))
        .limit(1)
        .all()
        .catch(() => null)
      if (present?.length) written = true
      else {
        await this.undoLocks(userId, reservedPhones, held)
        throw e
      }
    }
    if (!written) {
      // Concurrent reservations of this account filled the cap between our check and our write.
      await this.undoLocks(userId, reservedPhones, held)
      const live = await heldQuery(this.db, userId, now).all()
      throw limitReached(this.deps.limits.maxNumbers, live.length, rows.filter((r) => !held.has(r.phoneNumber)).length)
    }
    return reservation(group, rows, now, { failed })
  }

  /** The account's reservations that still hold at least one number. */
  async list(ctx: RequestContext): Promise<Reservation[]> {
    const userId = ctx.accountId
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
    return [...groups].map(([id, rs]) =>
      reservation(
        id,
        rs.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })),
        now,
      ),
    )
  }

  async get(ctx: RequestContext, id: string): Promise<Reservation> {
    const userId = ctx.accountId
    const { group, rows } = await this.rowsOf(userId, id)
    return reservation(group, rows, Date.now())
  }

  /**
   * Another 30 minutes from now for each still-held number of the reservation (or the one named),
   * up to RESERVATION_MAX_EXTENSIONS times per number, while the wallet could pay for every number
   * the account holds.
   */
  async extend(ctx: RequestContext, id: string): Promise<Reservation> {
    const userId = ctx.accountId
    const { group, rows, target } = await this.rowsOf(userId, id)
    const now = Date.now()
    const live = target.filter((r) => r.status === 'active' && r.expiresAt.getTime() > now)
    if (!live.length) throw new Conflict('RESERVATION_NOT_ACTIVE', 'The reservation has expired, been released or been purchased; reserve the numbers again')
    const { maxExtensions } = this.deps.limits
    const extendable = live.filter((r) => r.extensions < maxExtensions)
    if (!extendable.length) {
      throw new Conflict('RESERVATION_EXTENSION_LIMIT', `A reserved number can be extended ${maxExtensions} time(s); buy it or let it go`, { maxExtensions })
    }
    await assertAffordable(
      this.deps.wallet,
      userId,
      (await heldQuery(this.db, userId, now).all()).map((h) => h.price),
    )

    const at = new Date(now)
    const expiresAt = new Date(now + RESERVATION_TTL_MS)
    // The extension is claimed in D1 first (a compare-and-set on the count), then taken on the lock.
    const claimed = await this.db
      .update(numberReservations)
      .set({ expiresAt, extensions: sql`${numberReservations.extensions} + 1`, updatedAt: at })
      .where(
        and(
          inArray(
            numberReservations.id,
            extendable.map((r) => r.id),
          ),
          eq(numberReservations.status, 'active'),
          gt(numberReservations.expiresAt, at),
          lt(numberReservations.extensions, maxExtensions),
        ),
      )
      .returning({ id: numberReservations.id, extensions: numberReservations.extensions })
      .all()
    const claimedIds = new Map(claimed.map((c) => [c.id, c.extensions]))
    const results = await Promise.all(
      extendable
        .filter((r) => claimedIds.has(r.id))
        .map(async (r) => {
          try {
            const res = await this.deps.locks.of(r.phoneNumber).reserve(userId, RESERVATION_TTL_MS)
            return { r, ok: res.ok && res.expiresAt !== null }
          } catch {
            return { r, ok: false }
          }
        }),
    )
    const kept = results.filter((x) => x.ok).map((x) => x.r)
    const lost = results.filter((x) => !x.ok).map((x) => x.r)
    if (lost.length)
      await this.db
        .update(numberReservations)
        .set({ status: 'expired', updatedAt: at })
        .where(
          inArray(
            numberReservations.id,
            lost.map((r) => r.id),
          ),
        )
    for (const r of kept) Object.assign(r, { expiresAt, extensions: claimedIds.get(r.id)!, updatedAt: at })
    for (const r of lost) Object.assign(r, { status: 'expired', updatedAt: at })
    const capped = new Set(live.filter((r) => !claimedIds.has(r.id)).map((r) => r.id))
    return reservation(group, rows, now, { capped })
  }

  /** Lets the numbers go now. Releasing what is no longer held changes nothing. */
  async release(ctx: RequestContext, id: string): Promise<Reservation> {
    const userId = ctx.accountId
    const { group, rows, target } = await this.rowsOf(userId, id)
    const now = Date.now()
    // Rows past their expiry already read as expired: the lock's alarm let those numbers go.
    const active = target.filter((r) => r.status === 'active' && r.expiresAt.getTime() > now)
    if (active.length) {
      await Promise.all(
        active.map((r) =>
          this.deps.locks
            .of(r.phoneNumber)
            .release(userId)
            .catch((e: unknown) => logger.error('reservation: lock release failed', { phoneNumber: r.phoneNumber, error: errorText(e) })),
        ),
      )
      const at = new Date(now)
      await this.db
        .update(numberReservations)
        .set({ status: 'released', updatedAt: at })
        .where(
          and(
            inArray(
              numberReservations.id,
              active.map((r) => r.id),
            ),
            eq(numberReservations.status, 'active'),
          ),
        )
      for (const r of active) Object.assign(r, { status: 'released', updatedAt: at })
    }
    return reservation(group, rows, now)
  }

  /**
   * Undoes the locks a failed create took: numbers it took fresh are let go; numbers the account
   * already held keep their earlier reservation, so their lock gets its earlier expiry back.
   */
  private async undoLocks(userId: string, phones: string[], held: Map<string, Held>) {
    const now = Date.now()
    await Promise.all(
      phones.map(async (phoneNumber) => {
        const lock = this.deps.locks.of(phoneNumber)
        const before = held.get(phoneNumber)
        try {
          if (before && before.expiresAt.getTime() > now) await lock.reserve(userId, before.expiresAt.getTime() - now)
          else await lock.release(userId)
        } catch (e) {
          logger.error('reservation: lock not undone; it lapses at its expiry', { phoneNumber, error: errorText(e) })
        }
      }),
    )
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

export type ReservedNumberView = z.infer<typeof ReservationView>['phoneNumbers'][number]

/** A number a reservation request named but could not hold (also the 409's `phoneNumbers`). */
export function failedReservationEntry(f: Reservation['failed'][number]): ReservedNumberView {
  return { id: null, phoneNumber: f.phoneNumber, status: 'failed' as const, expiresAt: null, error: f.error }
}

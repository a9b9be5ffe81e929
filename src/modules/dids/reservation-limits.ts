/**
 * What an account may hold by reservation (reservations.service.ts): the numbers it holds now
 * with what buying each would cost, the cap on how many it holds at once, and the wallet that
 * must cover buying them all.
 */
import { and, eq, gt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { didInventory, numberReservations } from '../../db/schema'
import { Conflict, InsufficientBalance } from '../../lib/errors'
import type { WalletService } from '../wallet/wallet.service'

/** A number the account holds by reservation now, with what buying it would cost. */
export interface Held {
  id: string
  phoneNumber: string
  expiresAt: Date
  extensions: number
  price: number
}

/** The account's live reserved numbers and what buying each would cost (setup + first month). */
export function heldQuery(db: Db, userId: string, now: number) {
  return db
    .select({
      id: numberReservations.id,
      phoneNumber: numberReservations.phoneNumber,
      expiresAt: numberReservations.expiresAt,
      extensions: numberReservations.extensions,
      price: sql<number>`coalesce(${didInventory.setupPrice} + ${didInventory.monthlyPrice}, 0)`,
    })
    .from(numberReservations)
    .leftJoin(didInventory, eq(didInventory.phoneNumber, numberReservations.phoneNumber))
    .where(and(eq(numberReservations.userId, userId), eq(numberReservations.status, 'active'), gt(numberReservations.expiresAt, new Date(now))))
    .$dynamic()
}

/** A hold is only granted while the wallet could pay for every number the account would hold. */
export async function assertAffordable(wallet: Pick<WalletService, 'balance'>, userId: string, prices: number[]) {
  const required = prices.reduce((a, b) => a + b, 0)
  if (required <= 0) return
  const { available } = await wallet.balance(userId)
  if (required > available) {
    throw new InsufficientBalance(required, available, { reason: 'Reserved numbers must be affordable: the wallet must cover buying every number the account holds' })
  }
}

/** 409 RESERVATION_LIMIT_REACHED: the account would hold more than `max` numbers. */
export function limitReached(max: number, held: number, requested: number) {
  return new Conflict('RESERVATION_LIMIT_REACHED', `An account can hold at most ${max} reserved numbers at a time; buy or release some first`, {
    limit: max,
    held,
    requested,
  })
}

/** The feature's services, built from the per-request Services (dependencies passed explicitly). */
import type { Services } from '../../services'
import { DidsService } from './dids.service'
import { ReservationsService } from './reservations.service'

export const didsOf = (s: Services) => new DidsService({ db: s.db, locks: s.numberLocks, providers: s.providers })
export const reservationsOf = (s: Services) =>
  new ReservationsService({
    db: s.db,
    locks: s.numberLocks,
    wallet: s.wallet,
    limits: { maxNumbers: s.config.RESERVATION_MAX_NUMBERS, maxExtensions: s.config.RESERVATION_MAX_EXTENSIONS },
  })

import type { Router } from '../../http/router'
import { registerConfigureNumber } from './configure-number'
import { registerCreateReservation } from './create-reservation'
import { registerExtendReservation } from './extend-reservation'
import { registerGetNumber } from './get-number'
import { registerGetReservation } from './get-reservation'
import { registerListNumbers } from './list-numbers'
import { registerListReservations } from './list-reservations'
import { registerPurchaseNumbers } from './purchase-numbers'
import { registerReleaseNumber } from './release-number'
import { registerReleaseReservation } from './release-reservation'
import { registerSearchNumbers } from './search-numbers'
import { registerUpdateNumber } from './update-number'

/** Fixed paths (search, purchase, reservations) first: `/api/v1/numbers/{id}` must not capture them. */
export function registerDids(r: Router) {
  registerSearchNumbers(r)
  registerPurchaseNumbers(r)
  registerCreateReservation(r)
  registerListReservations(r)
  registerGetReservation(r)
  registerExtendReservation(r)
  registerReleaseReservation(r)
  registerListNumbers(r)
  registerGetNumber(r)
  registerUpdateNumber(r)
  registerConfigureNumber(r)
  registerReleaseNumber(r)
}

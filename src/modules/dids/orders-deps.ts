/** The feature's services, built from the per-request Services (dependencies passed explicitly). */
import type { Services } from '../../services'
import { didsOf } from './deps'
import { OrdersService } from './orders.service'
import { PurchaseService } from './purchase.service'
import { TopUpService } from '../payments/top-up.service'

export const purchaseOf = (s: Services) =>
  new PurchaseService({
    db: s.db,
    wallet: s.wallet,
    locks: s.numberLocks,
    providers: s.providers,
    topUps: new TopUpService(s),
    appUrl: s.config.appUrl,
  })

export const ordersOf = (s: Services) => new OrdersService({ db: s.db, wallet: s.wallet, purchase: purchaseOf(s), dids: didsOf(s) })

import type { Router } from '../../http/router'
import { registerCancelOrder } from './cancel-order'
import { registerCreateOrder } from './create-order'
import { registerGetOrder } from './get-order'
import { registerListOrders } from './list-orders'
import { registerRetryPayment } from './retry-payment'

export function registerOrders(r: Router) {
  registerListOrders(r)
  registerCreateOrder(r)
  registerGetOrder(r)
  registerCancelOrder(r)
  registerRetryPayment(r)
}

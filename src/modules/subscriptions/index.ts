import type { Router } from '../../http/router'
import { registerCreateSubscription } from './create-subscription'
import { registerGetSubscription } from './get-subscription'
import { registerUpdateSubscription } from './update-subscription'

export function registerSubscriptions(r: Router): void {
  registerGetSubscription(r)
  registerCreateSubscription(r)
  registerUpdateSubscription(r)
}

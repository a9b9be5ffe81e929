import type { Router } from '../../http/router'
import { registerCancelNumber } from './cancel-number'
import { registerCompleteNumber } from './complete-number'
import { registerGetActivationSms } from './get-activation-sms'
import { registerGetNumber } from './get-number'
import { registerListMyNumbers } from './list-my-numbers'
import { registerPurchaseNumber } from './purchase-number'

export function registerActivations(r: Router) {
  registerPurchaseNumber(r)
  registerCancelNumber(r)
  // `/api/numbers/my` before `/api/numbers/{id}`, which would match it too.
  registerListMyNumbers(r)
  registerGetNumber(r)
  registerCompleteNumber(r)
  registerGetActivationSms(r)
}

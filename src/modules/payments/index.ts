import type { Router } from '../../http/router'
import { registerAddPaymentMethod } from './add-payment-method'
import { registerDeletePaymentMethod } from './delete-payment-method'
import { registerGetBillingAccount } from './get-billing-account'
import { registerListPaymentMethods } from './list-payment-methods'
import { registerSetDefaultPaymentMethod } from './set-default-payment-method'
import { registerTopUp } from './top-up'
import { registerUpdateBillingAccount } from './update-billing-account'

export function registerPayments(r: Router): void {
  registerGetBillingAccount(r)
  registerUpdateBillingAccount(r)
  registerListPaymentMethods(r)
  registerAddPaymentMethod(r)
  registerSetDefaultPaymentMethod(r)
  registerDeletePaymentMethod(r)
  registerTopUp(r)
}

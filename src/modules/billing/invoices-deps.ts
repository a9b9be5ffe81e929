/** The feature's services, built from the per-request Services (dependencies passed explicitly). */
import type { Services } from '../../services'
import { PaymentMethodsService } from '../payments/payment-methods.service'
import { InvoicePaymentsService } from './invoice-payments.service'
import { InvoicesService } from './invoices.service'

export const invoicesOf = (s: Services) => new InvoicesService({ db: s.db, taxRatePercent: s.config.BILLING_TAX_RATE_PERCENT })

export const invoicePaymentsOf = (s: Services) => {
  const methods = new PaymentMethodsService(s)
  return new InvoicePaymentsService({
    db: s.db,
    wallet: s.wallet,
    method: (userId, id) => methods.get(userId, id),
    // A claim names its method; a method deleted since still finishes the claim it began.
    charge: (userId, input) => methods.chargeRecorded(userId, input),
  })
}

import type { Router } from '../../http/router'
import { registerDownloadInvoice } from './download-invoice'
import { registerGenerateInvoice } from './generate-invoice'
import { registerGetInvoice } from './get-invoice'
import { registerListAccountInvoices } from './list-account-invoices'
import { registerListInvoices } from './list-invoices'
import { registerPayInvoice } from './pay-invoice'

export function registerInvoices(r: Router): void {
  // usage billing: /api/invoices
  registerGenerateInvoice(r)
  registerListAccountInvoices(r)
  // the DID API: /api/v1/billing/invoices
  registerListInvoices(r)
  registerGetInvoice(r)
  registerPayInvoice(r)
  registerDownloadInvoice(r)
}

import type { Router } from '../../lib/router'
import { registerDownloadInvoice } from './download-invoice'
import { registerGenerateInvoice } from './generate-invoice'
import { registerGetInvoice } from './get-invoice'
import { registerListAccountInvoices } from './list-account-invoices'
import { registerListInvoices } from './list-invoices'
import { registerPayInvoice } from './pay-invoice'

export function registerInvoices(r: Router): void {
  // seed 003
  registerGenerateInvoice(r)
  registerListAccountInvoices(r)
  // seed 001 §6.2
  registerListInvoices(r)
  registerGetInvoice(r)
  registerPayInvoice(r)
  registerDownloadInvoice(r)
}

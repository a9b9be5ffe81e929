import type { Router } from '../../http/router'
import { registerGetBillingUsage } from './get-billing-usage'
import { registerListUsage } from './list-usage'
import { registerReportUsage } from './report-usage'

export function registerUsage(r: Router): void {
  registerReportUsage(r)
  registerListUsage(r)
  registerGetBillingUsage(r)
}

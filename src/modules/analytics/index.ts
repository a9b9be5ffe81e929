import type { Router } from '../../http/router'
import { registerGetAdminOverview } from './get-admin-overview'
import { registerGetCalls } from './get-calls'
import { registerGetDashboard } from './get-dashboard'
import { registerGetStats } from './get-stats'

export function registerAnalytics(r: Router): void {
  registerGetStats(r)
  registerGetDashboard(r)
  registerGetCalls(r)
  registerGetAdminOverview(r)
}

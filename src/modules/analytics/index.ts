import type { Router } from '../../lib/router'
import { registerGetDashboard } from './get-dashboard'
import { registerGetStats } from './get-stats'

export function registerAnalytics(r: Router): void {
  registerGetStats(r)
  registerGetDashboard(r)
}

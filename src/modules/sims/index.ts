import type { Router } from '../../http/router'
import { registerAutoTopUp } from './auto-top-up'
import { registerBulkTopUp } from './bulk-top-up'
import { registerCreateSims } from './create-sims'
import { registerGetConnectivity } from './get-connectivity'
import { registerGetJob } from './get-job'
import { registerGetQuota } from './get-quota'
import { registerGetResetStatus } from './get-reset-status'
import { registerGetSim } from './get-sim'
import { registerGetSimStatus } from './get-sim-status'
import { registerGetSimUsage } from './get-sim-usage'
import { registerListSimEvents } from './list-sim-events'
import { registerListSims } from './list-sims'
import { registerResetSim } from './reset-sim'
import { registerTopUpSim } from './top-up-sim'
import { registerUpdateSim } from './update-sim'

/** Fixed paths (topup, auto-topup, limits) first: `/api/v1/sims/{iccid}` must not capture them. */
export function registerSims(r: Router) {
  registerListSims(r)
  registerCreateSims(r)
  registerBulkTopUp(r)
  registerAutoTopUp(r)
  registerGetSim(r)
  registerUpdateSim(r)
  registerGetSimStatus(r)
  registerGetConnectivity(r)
  registerResetSim(r)
  registerGetResetStatus(r)
  registerListSimEvents(r)
  registerGetSimUsage(r)
  registerGetQuota(r)
  registerTopUpSim(r)
  registerGetJob(r)
}

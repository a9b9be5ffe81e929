import type { Router } from '../../http/router'
import { registerAutoTopUp } from './auto-top-up'
import { registerBulkTopUp } from './bulk-top-up'
import { registerCancelSimSms } from './cancel-sim-sms'
import { registerCreateSims } from './create-sims'
import { registerGetConnectivity } from './get-connectivity'
import { registerGetJob } from './get-job'
import { registerGetQuota } from './get-quota'
import { registerGetResetStatus } from './get-reset-status'
import { registerGetSim } from './get-sim'
import { registerGetSimLimits } from './get-sim-limits'
import { registerGetSimSms } from './get-sim-sms'
import { registerGetSimStatus } from './get-sim-status'
import { registerGetSimUsage } from './get-sim-usage'
import { registerListSimEvents } from './list-sim-events'
import { registerListSimSms } from './list-sim-sms'
import { registerListSims } from './list-sims'
import { registerResetSim } from './reset-sim'
import { registerSendSimSms } from './send-sim-sms'
import { registerSetSimLimits } from './set-sim-limits'
import { registerTopUpSim } from './top-up-sim'
import { registerUpdateSim } from './update-sim'

/** Fixed paths (topup, auto-topup, limits) first: `/api/v1/sims/{iccid}` must not capture them. */
export function registerSims(r: Router) {
  registerListSims(r)
  registerCreateSims(r)
  registerBulkTopUp(r)
  registerAutoTopUp(r)
  registerGetSimLimits(r)
  registerSetSimLimits(r)
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
  registerListSimSms(r)
  registerSendSimSms(r)
  registerGetSimSms(r)
  registerCancelSimSms(r)
  registerGetJob(r)
}

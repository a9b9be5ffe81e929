import type { Router } from '../../lib/router'
import { registerHealthCheck } from './health'
import { registerLive } from './live'
import { registerReady } from './ready'
import { registerSystemHealth } from './system-health'

export function registerHealth(r: Router) {
  registerHealthCheck(r)
  registerLive(r)
  registerReady(r)
  registerSystemHealth(r)
}

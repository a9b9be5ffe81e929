import type { Router } from '../../http/router'
import { registerLive } from './live'
import { registerReady } from './ready'
import { registerSystemHealth } from './system-health'

/** The health routes but the liveness check, which src/app.ts registers ahead of the middleware. */
export function registerHealth(r: Router) {
  registerLive(r)
  registerReady(r)
  registerSystemHealth(r)
}

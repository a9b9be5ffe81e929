import type { Router } from '../../lib/router'
import { registerListProviders } from './list-providers'
import { registerSyncProvider } from './sync-provider'

export function registerProviders(r: Router) {
  registerListProviders(r)
  registerSyncProvider(r)
}

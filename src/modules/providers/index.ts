import type { Router } from '../../http/router'
import { registerListProviders } from './list-providers'
import { registerSyncProvider } from './sync-provider'

export function registerProviders(r: Router) {
  registerListProviders(r)
  registerSyncProvider(r)
}

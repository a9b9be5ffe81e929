import type { Router } from '../../http/router'
import { registerCreateApiKey } from './create-api-key'
import { registerGetApiKey } from './get-api-key'
import { registerListApiKeys } from './list-api-keys'
import { registerRevokeApiKey } from './revoke-api-key'

export function registerApiKeys(r: Router) {
  registerCreateApiKey(r)
  registerListApiKeys(r)
  registerGetApiKey(r)
  registerRevokeApiKey(r)
}

/**
 * Builds a provider row's adapters. The row's `adapter` names the upstream protocol; its
 * `config` carries settings (base URL, which secret holds the credentials) — never the
 * credentials themselves, which stay in Worker secrets.
 */
import type { Provider } from '../../db/schema'
import { UpstreamError } from '../../lib/errors'
import { SandboxActivations, SandboxConfig, SandboxDids } from './sandbox'
import type { ProviderAdapters, ProviderDeps } from './types'

export function numberAdapters(p: Provider, _deps: ProviderDeps): ProviderAdapters {
  switch (p.adapter) {
    case 'sandbox': {
      const config = SandboxConfig.parse(p.config)
      return { activation: new SandboxActivations(p.id, config.activation), did: new SandboxDids(config.did) }
    }
    default:
      throw new UpstreamError(p.code, `no adapter named '${p.adapter}'`)
  }
}

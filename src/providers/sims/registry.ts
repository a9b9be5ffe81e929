/**
 * Builds a provider row's SIM adapter. The row's `adapter` names the upstream protocol (`sandbox`,
 * `1nce`); its `config` carries settings (base URL, which Worker secrets hold the credentials) —
 * never the credentials themselves. A bad config or a missing secret is an `UpstreamError` naming
 * the provider.
 */
import type { Db } from '../../db/client'
import type { Provider } from '../../db/schema'
import { UpstreamError } from '../../lib/errors'
import { credential, parseConfig } from '../config'
import type { ProviderDeps } from '../numbers/types'
import { OnceConfig, OnceSims } from './once'
import { SandboxSimConfig, SandboxSims } from './sandbox'
import type { SimProvider } from './types'

export interface SimProviderDeps extends ProviderDeps {
  /** The sandbox keeps its upstream-side records (top-ups, SMS, resets) in D1. */
  db: Db
  now?: () => number
}

export function simAdapter(p: Provider, deps: SimProviderDeps): SimProvider {
  switch (p.adapter) {
    case 'sandbox':
      return new SandboxSims({ db: deps.db, config: parseConfig(SandboxSimConfig, p), now: deps.now })
    case '1nce': {
      const config = parseConfig(OnceConfig, p)
      return new OnceSims({
        provider: p.code,
        config,
        clientId: credential(p, deps, config.clientIdSecret),
        clientSecret: credential(p, deps, config.clientSecretSecret),
        fetch: deps.fetch,
        now: deps.now,
      })
    }
    default:
      throw new UpstreamError(p.code, `no SIM adapter named '${p.adapter}'`)
  }
}

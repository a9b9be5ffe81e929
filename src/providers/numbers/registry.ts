/**
 * Builds a provider row's adapters. The row's `adapter` names the upstream protocol; its
 * `config` carries settings (base URL, which secret holds the credentials) — never the
 * credentials themselves, which stay in Worker secrets. A bad config or a missing secret is an
 * `UpstreamError` naming the provider, so a purchase answers 502 and the sync marks it unhealthy.
 */
import type { Provider } from '../../db/schema'
import { UpstreamError } from '../../lib/errors'
import { credential, parseConfig } from '../config'
import { HeroSmsActivations, HeroSmsConfig } from './herosms'
import { SandboxActivations, SandboxConfig, SandboxDids } from './sandbox'
import { TwilioConfig, TwilioDids } from './twilio'
import type { ProviderAdapters, ProviderDeps } from './types'

export const ADAPTERS = ['sandbox', 'herosms', 'twilio'] as const

export function numberAdapters(p: Provider, deps: ProviderDeps): ProviderAdapters {
  switch (p.adapter) {
    case 'sandbox': {
      const config = parseConfig(SandboxConfig, p)
      return { activation: new SandboxActivations(p.id, config.activation), did: new SandboxDids(config.did) }
    }
    case 'herosms': {
      const config = parseConfig(HeroSmsConfig, p)
      const apiKey = credential(p, deps, config.apiKeySecret)
      return { activation: new HeroSmsActivations({ provider: p.code, config, apiKey, fetch: deps.fetch }) }
    }
    case 'twilio': {
      const config = parseConfig(TwilioConfig, p)
      const authToken = credential(p, deps, config.authTokenSecret)
      return { did: new TwilioDids({ provider: p.code, config, authToken, fetch: deps.fetch }) }
    }
    default:
      throw new UpstreamError(p.code, `no adapter named '${p.adapter}'`)
  }
}

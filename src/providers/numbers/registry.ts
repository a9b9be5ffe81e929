/**
 * Builds a provider row's adapters. The row's `adapter` names the upstream protocol; its
 * `config` carries settings (base URL, which secret holds the credentials) — never the
 * credentials themselves, which stay in Worker secrets. A bad config or a missing secret is an
 * `UpstreamError` naming the provider, so a purchase answers 502 and the sync marks it unhealthy.
 */
import type { z } from 'zod'
import type { Provider } from '../../db/schema'
import { UpstreamError } from '../../lib/errors'
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

function parseConfig<T extends z.ZodType>(schema: T, p: Provider): z.infer<T> {
  const parsed = schema.safeParse(p.config ?? {})
  if (parsed.success) return parsed.data
  // Paths and zod's messages only: a config value is never quoted.
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')
  throw new UpstreamError(p.code, `invalid provider config (${problems})`)
}

/** Secrets of Switchboard itself: a provider config naming one must not ship it upstream. */
const OWN_SECRETS = new Set(['JWT_SECRET', 'ENCRYPTION_KEY', 'PROVIDER_WEBHOOK_SECRET', 'METRICS_TOKEN'])

function credential(p: Provider, deps: ProviderDeps, secretName: string): string {
  if (!/^[A-Z][A-Z0-9_]*$/.test(secretName) || OWN_SECRETS.has(secretName)) {
    throw new UpstreamError(p.code, 'invalid provider config (the secret name is not allowed)')
  }
  const value: unknown = deps.secret(secretName)
  if (typeof value !== 'string' || !value) throw new UpstreamError(p.code, 'credentials not configured', { secret: secretName })
  return value
}

/**
 * A provider row's settings: its `config` parsed against the adapter's schema, and the Worker
 * secret its config names for credentials. A bad config or a missing secret is an `UpstreamError`
 * naming the provider (a purchase answers 502, the sync marks it unhealthy); neither message ever
 * quotes a config value or a secret.
 */
import type { z } from 'zod'
import type { Provider } from '../db/schema'
import { UpstreamError } from '../lib/errors'
import type { ProviderDeps } from './numbers/types'

export function parseConfig<T extends z.ZodType>(schema: T, p: Provider): z.infer<T> {
  const parsed = schema.safeParse(p.config ?? {})
  if (parsed.success) return parsed.data
  // Paths and zod's messages only: a config value is never quoted.
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')
  throw new UpstreamError(p.code, `invalid provider config (${problems})`)
}

/** Secrets of Switchboard itself: a provider config naming one must not ship it upstream. */
const OWN_SECRETS = new Set(['JWT_SECRET', 'ENCRYPTION_KEY', 'PROVIDER_WEBHOOK_SECRET', 'METRICS_TOKEN'])

export function credential(p: Provider, deps: ProviderDeps, secretName: string): string {
  if (!/^[A-Z][A-Z0-9_]*$/.test(secretName) || OWN_SECRETS.has(secretName)) {
    throw new UpstreamError(p.code, 'invalid provider config (the secret name is not allowed)')
  }
  const value: unknown = deps.secret(secretName)
  if (typeof value !== 'string' || !value) throw new UpstreamError(p.code, 'credentials not configured', { secret: secretName })
  return value
}

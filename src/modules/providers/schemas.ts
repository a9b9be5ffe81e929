import { z } from '@hono/zod-openapi'
import type { Provider } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import type { ProviderSyncResult } from './provider-sync.job'
import { Instant, money } from '../../lib/http'

/** `/api/admin/providers` (the activation API's admin path) and the `/api/v1/admin/…` alias every admin route has. */
export const PROVIDER_PREFIXES = ['/api/admin/providers', '/api/v1/admin/providers'] as const

export const ProviderIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, description: 'Provider id (`prv_…`) or code', example: 'prv_sandbox' }),
})

const Stock = z
  .object({
    offers: z.number().int().openapi({ description: 'Activation offers in stock' }),
    numbers: z.number().int().openapi({ description: 'DIDs available in the inventory' }),
  })
  .openapi('ProviderStock')

export const ProviderView = z
  .object({
    id: z.string().openapi({ example: 'prv_sandbox' }),
    code: z.string().openapi({ example: 'sandbox' }),
    name: z.string(),
    adapter: z.string().openapi({ example: 'herosms', description: '`sandbox`, `herosms` or `twilio`' }),
    kinds: z.array(z.string()).openapi({ example: ['activation', 'did'] }),
    status: z.enum(['active', 'disabled']),
    healthy: z.boolean(),
    health: z.enum(['healthy', 'unhealthy']),
    lastSyncAt: Instant.nullable().openapi({ description: 'Last successful sync' }),
    lastError: z.string().nullable().openapi({ description: 'Why the last sync failed; null once one succeeds' }),
    stock: Stock,
    priority: z.number().int().openapi({ description: 'Lower is tried first' }),
    margin: z.object({
      percent: z.number().openapi({ example: 20, description: 'Added to the upstream cost' }),
      fixed: z.number().openapi(money({ example: 0.05, description: 'Added after the percentage' })),
    }),
    config: z.record(z.string(), z.unknown()).openapi({ description: 'Adapter settings without anything named like a secret, key or token' }),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('Provider')

export function providerView(p: Provider): z.infer<typeof ProviderView> {
  return {
    id: p.id,
    code: p.code,
    name: p.name,
    adapter: p.adapter,
    kinds: p.kinds,
    status: p.status,
    healthy: p.healthy,
    health: p.healthy ? 'healthy' : 'unhealthy',
    lastSyncAt: iso(p.lastSyncAt),
    lastError: p.lastError,
    stock: { offers: p.stock?.offers ?? 0, numbers: p.stock?.numbers ?? 0 },
    priority: p.priority,
    margin: { percent: p.marginBps / 100, fixed: fromMicros(p.marginFixed) },
    config: redactConfig(p.config ?? {}) as Record<string, unknown>,
    createdAt: iso(p.createdAt)!,
    updatedAt: iso(p.updatedAt)!,
  }
}

const SECRET_LIKE = /secret|key|token|password|credential|auth/i

/** The config minus every entry whose name looks like it holds (or names) a credential, at any depth. */
export function redactConfig(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactConfig)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !SECRET_LIKE.test(k))
      .map(([k, v]) => [k, redactConfig(v)]),
  )
}

export const SyncResultView = z
  .object({
    providerId: z.string(),
    code: z.string(),
    healthy: z.boolean(),
    health: z.enum(['healthy', 'unhealthy']),
    error: z.string().nullable().openapi({ description: 'Why the sync failed (the provider is now unhealthy)' }),
    syncedAt: Instant,
    durationMs: z.number().int(),
    offers: z.object({
      listed: z.number().int().openapi({ description: 'Offers the upstream listed (service × country)' }),
      retired: z.number().int().openapi({ description: 'Offers no longer listed, set to stock 0' }),
    }),
    numbers: z.object({
      listed: z.number().int().openapi({ description: 'DIDs the upstream listed' }),
      gone: z.number().int().openapi({ description: 'DIDs no longer listed, marked gone' }),
    }),
    stock: Stock,
  })
  .openapi('ProviderSyncResult')

export function syncResultView(r: ProviderSyncResult): z.infer<typeof SyncResultView> {
  return { ...r, health: r.healthy ? 'healthy' : 'unhealthy' }
}

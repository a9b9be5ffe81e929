/**
 * Provider rows of any adapter (sandbox, herosms, twilio) and reads of what the provider sync
 * wrote: offers, DID inventory and the provider row itself.
 */
import { env } from 'cloudflare:test'
import { eq } from 'drizzle-orm'
import { createDb } from '../../src/db/client'
import { providers, type Provider } from '../../src/db/schema'
import { newId } from '../../src/lib/ids'

export interface ProviderRowInput {
  adapter: string
  kinds?: string[]
  config?: Record<string, unknown>
  status?: 'active' | 'disabled'
  healthy?: boolean
  priority?: number
  marginBps?: number
  marginFixed?: number
}

export async function insertProvider(input: ProviderRowInput): Promise<{ id: string; code: string }> {
  const id = newId('prv')
  const code = `${input.adapter}-${id.slice(-8)}`
  const now = Date.now()
  await env.DB.prepare(
    `INSERT INTO providers (id, code, name, adapter, kinds, status, healthy, priority, config, margin_bps, margin_fixed, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      id,
      code,
      `Test ${code}`,
      input.adapter,
      JSON.stringify(input.kinds ?? ['activation', 'did']),
      input.status ?? 'active',
      input.healthy === false ? 0 : 1,
      input.priority ?? 100,
      JSON.stringify(input.config ?? {}),
      input.marginBps ?? 2000,
      input.marginFixed ?? 0,
      now,
      now,
    )
    .run()
  return { id, code }
}

export interface ProviderRow {
  id: string
  code: string
  healthy: number
  status: string
  last_sync_at: number | null
  last_error: string | null
  stock: string
  config: string
}

export async function providerRow(id: string) {
  const row = await env.DB.prepare(`SELECT * FROM providers WHERE id = ?`).bind(id).first<ProviderRow>()
  if (!row) throw new Error(`provider ${id} missing`)
  return { ...row, stock: JSON.parse(row.stock) as { offers: number; numbers: number } }
}

export async function setProviderConfig(id: string, config: Record<string, unknown>) {
  await env.DB.prepare(`UPDATE providers SET config = ? WHERE id = ?`).bind(JSON.stringify(config), id).run()
}

export interface OfferRow {
  id: string
  service_code: string
  country_code: string
  upstream_country: string | null
  upstream_service: string | null
  cost: number
  price: number
  stock: number
  updated_at: number
}

export async function offersOf(providerId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM offers WHERE provider_id = ? ORDER BY service_code, country_code`).bind(providerId).all<OfferRow>()
  return results
}

export interface InventoryRow {
  id: string
  provider_id: string
  phone_number: string
  country_code: string
  area_code: string | null
  number_type: string
  capabilities: string
  setup_price: number
  monthly_price: number
  status: string
  updated_at: number
}

export async function inventoryOf(providerId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM did_inventory WHERE provider_id = ? ORDER BY phone_number`).bind(providerId).all<InventoryRow>()
  return results
}

/** The row as drizzle reads it (what `syncProvider` takes). */
export async function providerModel(id: string): Promise<Provider> {
  const row = await createDb(env.DB).select().from(providers).where(eq(providers.id, id)).get()
  if (!row) throw new Error(`provider ${id} missing`)
  return row
}

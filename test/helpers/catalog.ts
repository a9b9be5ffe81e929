/**
 * Test data for numbers and money: a sandbox provider row, its offers and DID inventory in D1
 * (what the provider sync writes), and money in a wallet (through the Wallet object itself).
 */
import { env } from 'cloudflare:test'
import { newId } from '../../src/lib/ids'
import { toMicros } from '../../src/lib/money'
import { priceFor } from '../../src/modules/providers/pricing'
import { SandboxActivations, SandboxConfig, sandboxInventory } from '../../src/providers/numbers/sandbox'

export interface TestProvider {
  id: string
  code: string
  marginBps: number
  marginFixed: number
  config: Record<string, unknown>
}

/** A sandbox provider row; `config` is the sandbox config (failures, offers, countries…). */
export async function sandboxProvider(config: Record<string, unknown> = {}, opts: { priority?: number; marginBps?: number; marginFixed?: number; healthy?: boolean } = {}): Promise<TestProvider> {
  const id = newId('prv')
  const code = `sandbox-${id.slice(-8)}`
  const now = Date.now()
  const p = { id, code, marginBps: opts.marginBps ?? 2000, marginFixed: opts.marginFixed ?? 0, config }
  await env.DB.prepare(
    `INSERT INTO providers (id, code, name, adapter, kinds, status, healthy, priority, config, margin_bps, margin_fixed, created_at, updated_at)
     VALUES (?, ?, ?, 'sandbox', '["activation","did"]', 'active', ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(id, code, `Sandbox ${code}`, opts.healthy === false ? 0 : 1, opts.priority ?? 100, JSON.stringify(config), p.marginBps, p.marginFixed, now, now)
    .run()
  return p
}

/** The provider's activation offers in D1, priced with its margin. Returns them. */
export async function seedOffers(p: TestProvider) {
  const config = SandboxConfig.parse(p.config)
  const offers = await new SandboxActivations(p.id, { ...config.activation, failure: undefined }).listOffers()
  const now = Date.now()
  const rows = offers.map((o) => ({ id: newId('ofr'), ...o, price: priceFor(o.cost, p) }))
  for (let i = 0; i < rows.length; i += 10) {
    await env.DB.batch(
      rows.slice(i, i + 10).map((o) =>
        env.DB.prepare(
          `INSERT OR REPLACE INTO offers (id, provider_id, service_code, service_name, country_code, country_name, cost, price, stock, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).bind(o.id, p.id, o.serviceCode, o.serviceName, o.countryCode, o.countryName, o.cost, o.price, o.stock, now),
      ),
    )
  }
  return rows
}

/** The provider's DID inventory in D1 (INSERT OR IGNORE: numbers are unique across providers). */
export async function seedInventory(p: TestProvider) {
  const config = SandboxConfig.parse(p.config)
  const numbers = sandboxInventory(config.did)
  const now = Date.now()
  for (let i = 0; i < numbers.length; i += 10) {
    await env.DB.batch(
      numbers.slice(i, i + 10).map((n) =>
        env.DB.prepare(
          `INSERT OR IGNORE INTO did_inventory (id, provider_id, phone_number, country_code, area_code, region, locality, number_type, capabilities, setup_price, monthly_price, restrictions, status, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'available', ?)`,
        ).bind(
          newId('inv'),
          p.id,
          n.phoneNumber,
          n.countryCode,
          n.areaCode,
          n.region,
          n.locality,
          n.numberType,
          JSON.stringify(n.capabilities),
          n.setupPrice,
          n.monthlyPrice,
          JSON.stringify(n.restrictions),
          now,
        ),
      ),
    )
  }
  return numbers
}

function wallet(userId: string) {
  return env.WALLET.get(env.WALLET.idFromName(userId))
}

/** Credits `usd` to the user's wallet. */
export async function fund(userId: string, usd: number) {
  const r = await wallet(userId).credit(userId, { opId: newId('op'), amount: toMicros(usd), description: 'test funding' })
  if (!r.ok) throw new Error(`funding failed: ${r.reason}`)
  return r
}

/** The wallet's invariant figures (balance, reserved, available, ledgerSum, activeHolds). */
export function walletAudit(userId: string) {
  return wallet(userId).audit()
}

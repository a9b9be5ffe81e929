/**
 * DID test data: inventory rows with numbers no other test of the file uses (the sandbox's own
 * inventory is the same for every sandbox provider, so two providers in one file would collide),
 * funded users, and direct reads of what a purchase wrote.
 */
import { env } from 'cloudflare:test'
import { newId } from '../../src/lib/ids'
import { toMicros } from '../../src/lib/money'
import { call, registerUser, type TestUser } from './api'
import { fund, type TestProvider } from './catalog'

let seq = 0
const base = Math.floor(Math.random() * 4_000_000)

/** A North American number (`+1<area>…`) unique within the test file. */
export function uniqueNumber(area = '415'): string {
  seq += 1
  return `+1${area}${String(2_000_000 + ((base + seq * 7) % 7_000_000)).padStart(7, '0')}`
}

export interface DidSpec {
  phoneNumber?: string
  countryCode?: string
  areaCode?: string | null
  region?: string | null
  locality?: string | null
  numberType?: 'LOCAL' | 'TOLL_FREE' | 'MOBILE' | 'NATIONAL'
  capabilities?: string[]
  /** USD */
  setup?: number
  /** USD */
  monthly?: number
  restrictions?: string[]
  status?: 'available' | 'sold' | 'gone'
}

/** Inventory rows of provider `p` (as the provider sync writes them). Returns their numbers. */
export async function seedDids(p: TestProvider, specs: DidSpec[]): Promise<string[]> {
  const now = Date.now()
  const rows = specs.map((s) => {
    const areaCode = s.areaCode === undefined ? '415' : s.areaCode
    return {
      phoneNumber: s.phoneNumber ?? uniqueNumber(areaCode ?? '800'),
      countryCode: s.countryCode ?? 'us',
      areaCode,
      region: s.region === undefined ? 'CA' : s.region,
      locality: s.locality === undefined ? 'San Francisco' : s.locality,
      numberType: s.numberType ?? 'LOCAL',
      capabilities: s.capabilities ?? ['VOICE', 'SMS'],
      setup: toMicros(s.setup ?? 1),
      monthly: toMicros(s.monthly ?? 1),
      restrictions: s.restrictions ?? [],
      status: s.status ?? 'available',
    }
  })
  for (let i = 0; i < rows.length; i += 10) {
    await env.DB.batch(
      rows.slice(i, i + 10).map((r) =>
        env.DB.prepare(
          `INSERT INTO did_inventory (id, provider_id, phone_number, country_code, area_code, region, locality, number_type, capabilities, setup_price, monthly_price, restrictions, status, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).bind(
          newId('inv'),
          p.id,
          r.phoneNumber,
          r.countryCode,
          r.areaCode,
          r.region,
          r.locality,
          r.numberType,
          JSON.stringify(r.capabilities),
          r.setup,
          r.monthly,
          JSON.stringify(r.restrictions),
          r.status,
          now,
        ),
      ),
    )
  }
  return rows.map((r) => r.phoneNumber)
}

/** A registered user with `usd` in the wallet. */
export async function fundedUser(usd = 100): Promise<TestUser> {
  const u = await registerUser()
  if (usd > 0) await fund(u.id, usd)
  return u
}

export function purchase(user: TestUser, phones: string[], extra: Record<string, unknown> = {}) {
  return call('/api/v1/numbers/purchase', { token: user.accessToken, body: { numbers: phones.map((phoneNumber) => ({ phoneNumber })), ...extra } })
}

/** Buys `phones` and insists on success; returns the numbers' ids by E.164 number. */
export async function buy(user: TestUser, phones: string[], extra: Record<string, unknown> = {}): Promise<Record<string, string>> {
  const res = await purchase(user, phones, extra)
  if (res.status !== 201) throw new Error(`purchase failed: ${res.status} ${res.text}`)
  const out: Record<string, string> = {}
  for (const r of res.body.data.results) {
    if (!r.numberId) throw new Error(`purchase of ${r.phoneNumber} did not succeed: ${res.text}`)
    out[r.phoneNumber] = r.numberId
  }
  return out
}

export interface NumberRow {
  id: string
  user_id: string
  phone_number: string
  status: string
  release_at: number | null
  released_at: number | null
  release_reason: string | null
  monthly_price: number
  setup_price: number | null
  next_renewal_at: number | null
  purchased_at: number
  voice_url: string | null
  order_id: string | null
  features: string
  tags: string
}

export async function numberRows(phoneNumber: string): Promise<NumberRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM phone_numbers WHERE phone_number = ? ORDER BY created_at, id`).bind(phoneNumber).all<NumberRow>()
  return results
}

export async function inventoryStatus(phoneNumber: string): Promise<string | null> {
  const r = await env.DB.prepare(`SELECT status FROM did_inventory WHERE phone_number = ?`).bind(phoneNumber).first<{ status: string }>()
  return r?.status ?? null
}

export async function outboxEvents(type: string, userId: string) {
  const { results } = await env.DB.prepare(`SELECT id, type, user_id, payload FROM outbox WHERE type = ? AND user_id = ? ORDER BY created_at, id`)
    .bind(type, userId)
    .all<{ id: string; type: string; user_id: string; payload: string }>()
  return results.map((r) => ({ ...r, payload: JSON.parse(r.payload) as Record<string, unknown> }))
}

export async function orderRow(id: string) {
  return env.DB.prepare(`SELECT * FROM orders WHERE id = ?`).bind(id).first<{
    id: string
    user_id: string
    status: string
    payment_status: string
    total: number
    charged: number
    refunded: number
    hold_id: string | null
    completed_at: number | null
  }>()
}

export async function holdOutcome(holdId: string) {
  return env.DB.prepare(`SELECT * FROM hold_outcomes WHERE hold_id = ?`).bind(holdId).first<{ outcome: string; amount: number }>()
}

/** The NumberLock's state for a number (null when free). */
export function lockState(phoneNumber: string) {
  return env.NUMBER_LOCK.get(env.NUMBER_LOCK.idFromName(phoneNumber)).state()
}

export const micros = toMicros

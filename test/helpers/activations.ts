/**
 * Test data for activations: sandbox providers selling one service made up for the test (so
 * tests in one file never see each other's offers), purchases, and direct reads of D1 rows.
 */
import { env } from 'cloudflare:test'
import { call, type CallOptions, type TestUser } from './api'
import { sandboxProvider, seedOffers, type TestProvider } from './catalog'

let n = 0
/** A service code no other test uses. */
export function uniqueService(tag = 'svc'): string {
  n += 1
  return `${tag}${Date.now().toString(36)}${n}${Math.random().toString(36).slice(2, 6)}`
}

export interface CatalogOffer {
  provider: TestProvider
  serviceCode: string
  countryCode: string
  /** Micro-units. */
  price: number
  offerId: string
}

/**
 * A sandbox provider selling `serviceCode` in `countryCode` at `costUsd` (+ its margin), with
 * its offer in D1. `activation` adds sandbox behaviour (failure, autoSmsSeconds…).
 */
export async function sellingProvider(opts: {
  serviceCode: string
  countryCode?: string
  countryName?: string
  serviceName?: string
  costUsd?: number
  stock?: number
  activation?: Record<string, unknown>
  priority?: number
  marginBps?: number
  healthy?: boolean
  config?: Record<string, unknown>
}): Promise<CatalogOffer> {
  const countryCode = opts.countryCode ?? 'us'
  const provider = await sandboxProvider(
    {
      ...opts.config,
      activation: {
        offers: [
          {
            service: opts.serviceCode,
            serviceName: opts.serviceName ?? `Service ${opts.serviceCode}`,
            country: countryCode,
            countryName: opts.countryName ?? 'United States',
            cost: opts.costUsd ?? 0.5,
            stock: opts.stock ?? 100,
          },
        ],
        ...opts.activation,
      },
    },
    { priority: opts.priority, marginBps: opts.marginBps ?? 0, healthy: opts.healthy },
  )
  const [offer] = await seedOffers(provider)
  return { provider, serviceCode: opts.serviceCode, countryCode, price: offer!.price, offerId: offer!.id }
}

export function purchase(user: TestUser, body: Record<string, unknown>, opts: CallOptions = {}) {
  return call('/api/numbers/purchase', { token: user.accessToken, body, ...opts })
}

export interface ActivationRow {
  id: string
  user_id: string
  provider_id: string
  upstream_id: string
  phone: string
  price: number
  status: string
  billing: string
  hold_id: string
  expires_at: number
  updated_at: number
}

export async function activationRow(id: string) {
  return env.DB.prepare(`SELECT * FROM activations WHERE id = ?`).bind(id).first<ActivationRow>()
}

export async function activationsOfUser(userId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM activations WHERE user_id = ? ORDER BY created_at, id`).bind(userId).all<ActivationRow>()
  return results
}

export async function smsRows(activationId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM sms_messages WHERE activation_id = ? ORDER BY received_at, id`)
    .bind(activationId)
    .all<{ id: string; code: string | null; text: string; sender: string | null; upstream_message_id: string; received_at: number }>()
  return results
}

export async function outboxRows(type: string, numberId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM outbox WHERE type = ? AND json_extract(payload, '$.numberId') = ? ORDER BY created_at, id`)
    .bind(type, numberId)
    .all<{ id: string; type: string; user_id: string; payload: string }>()
  return results.map((r) => ({ ...r, payload: JSON.parse(r.payload) as Record<string, unknown> }))
}

export async function holdOutcome(holdId: string) {
  return env.DB.prepare(`SELECT * FROM hold_outcomes WHERE hold_id = ?`).bind(holdId).first<{ hold_id: string; outcome: string; amount: number; user_id: string }>()
}

/** Moves an activation's expiry into the past, as if its 20 minutes were over. */
export async function expireNow(id: string, agoMs = 1000) {
  await env.DB.prepare(`UPDATE activations SET expires_at = ? WHERE id = ?`)
    .bind(Date.now() - agoMs, id)
    .run()
}

export function walletStub(userId: string) {
  return env.WALLET.get(env.WALLET.idFromName(userId))
}

/** The shared secret providers present by default (env PROVIDER_WEBHOOK_SECRET). */
export const WEBHOOK_SECRET: string = env.PROVIDER_WEBHOOK_SECRET

/** POST /api/v1/webhooks/sms as provider `code`, with the shared secret unless told otherwise. */
export function smsWebhook(code: string, body: unknown, opts: { secret?: string | null; via?: 'header' | 'query' } = {}) {
  const secret = opts.secret === undefined ? WEBHOOK_SECRET : opts.secret
  if (opts.via === 'query') {
    const qs = new URLSearchParams({ provider: code, ...(secret ? { token: secret } : {}) })
    return call(`/api/v1/webhooks/sms?${qs}`, { body })
  }
  return call(`/api/v1/webhooks/sms?provider=${encodeURIComponent(code)}`, { body, headers: secret ? { 'x-webhook-secret': secret } : {} })
}

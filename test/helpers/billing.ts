/**
 * Billing rows written straight to D1, the way the usage, subscription and DID renewal features
 * write them, so invoices can be tested on their own.
 */
import { env } from 'cloudflare:test'
import { createDb } from '../../src/db/client'
import { billingAccounts, phoneNumbers, subscriptionChanges, subscriptions, usageRecords, type UsageType } from '../../src/db/schema'
import { newId } from '../../src/lib/ids'
import { toMicros } from '../../src/lib/money'
import type { PlanCode } from '../../src/modules/subscriptions/plans'
import { monthPeriod } from '../../src/modules/billing/invoice-compose'
import { call, type TestUser } from './api'

export const db = () => createDb(env.DB)

const RATE: Record<string, number> = { call_minutes: 50_000, sms: 10_000, api_calls: 1_000 }
const UNIT: Record<string, string> = {
  call_minutes: 'minute',
  sms: 'message',
  api_calls: 'call',
  activation: 'activation',
  did_purchase: 'number',
  did_monthly: 'month',
  subscription_proration: 'subscription',
}

export interface UsageInput {
  type: UsageType
  quantity: number
  /** USD total; the bare rate × quantity for the metrics when omitted. */
  totalUsd?: number
  unitUsd?: number
  prepaid?: boolean
  resourceId?: string | null
  description?: string
  /** Inside the month by default (its 10th). */
  at?: number
}

/** Usage rows of `month` for the account. */
export async function addUsage(userId: string, month: string, rows: UsageInput[]) {
  const { start } = monthPeriod(month)
  const now = new Date()
  const values = rows.map((r) => {
    const unitPrice = r.unitUsd !== undefined ? toMicros(r.unitUsd) : (RATE[r.type] ?? 0)
    const totalCost = r.totalUsd !== undefined ? toMicros(r.totalUsd) : unitPrice * r.quantity
    return {
      id: newId('usg'),
      userId,
      resourceType: r.type,
      resourceId: r.resourceId ?? null,
      quantity: r.quantity,
      unit: UNIT[r.type]!,
      unitPrice,
      totalCost,
      currency: 'USD',
      prepaid: r.prepaid ?? ['activation', 'did_purchase', 'did_monthly'].includes(r.type),
      description: r.description ?? null,
      month,
      occurredAt: new Date(r.at ?? start + 9 * 86_400_000),
      transactionId: newId('txn'),
      createdAt: now,
      updatedAt: now,
    }
  })
  for (const v of values) await db().insert(usageRecords).values(v)
  return values
}

/** Usage billing's three metrics for a month. */
export const addMetrics = (userId: string, month: string, m: { callMinutes: number; smsCount: number; apiCalls: number }) =>
  addUsage(userId, month, [
    { type: 'call_minutes', quantity: m.callMinutes },
    { type: 'sms', quantity: m.smsCount },
    { type: 'api_calls', quantity: m.apiCalls },
  ])

export interface Change {
  plan: PlanCode
  status?: 'active' | 'cancelled' | 'past_due'
  at: number
}

/**
 * A subscription and its change history, as the subscriptions feature writes them: the first
 * change at startDate with fromPlan null; the row holds the latest plan and status.
 */
export async function subscribe(userId: string, changes: Change[]) {
  const id = newId('sub')
  const first = changes[0]!
  const last = changes[changes.length - 1]!
  const now = new Date()
  const status = last.status ?? 'active'
  await db()
    .insert(subscriptions)
    .values({
      id,
      userId,
      plan: last.plan,
      status,
      startDate: new Date(first.at),
      currentPeriodStart: new Date(first.at),
      currentPeriodEnd: new Date(first.at + 30 * 86_400_000),
      cancelledAt: status === 'cancelled' ? new Date(last.at) : null,
      updatedAt: now,
    })
  let prev: Change | null = null
  for (const c of changes) {
    await db()
      .insert(subscriptionChanges)
      .values({
        id: newId('subchg'),
        subscriptionId: id,
        userId,
        fromPlan: prev?.plan ?? null,
        toPlan: c.plan,
        fromStatus: prev ? (prev.status ?? 'active') : null,
        toStatus: c.status ?? 'active',
        at: new Date(c.at),
      })
    prev = c
  }
  return id
}

export async function setBillingAddress(userId: string, address: Record<string, unknown>) {
  await db()
    .insert(billingAccounts)
    .values({ userId, id: newId('bac'), billingAddress: address, updatedAt: new Date() })
}

let providerId: string | null = null
/** A live DID row (for DID fee descriptions). */
export async function addNumber(userId: string, phoneNumber: string, monthlyUsd = 1) {
  if (!providerId) {
    providerId = newId('prv')
    const now = Date.now()
    await env.DB.prepare(
      `INSERT INTO providers (id, code, name, adapter, kinds, status, healthy, priority, config, margin_bps, margin_fixed, created_at, updated_at)
       VALUES (?, ?, 'Sandbox', 'sandbox', '["did"]', 'active', 1, 100, '{}', 0, 0, ?, ?)`,
    )
      .bind(providerId, `sbx-${providerId.slice(-8)}`, now, now)
      .run()
  }
  const id = newId('pn')
  await db()
    .insert(phoneNumbers)
    .values({
      id,
      userId,
      providerId,
      phoneNumber,
      countryCode: 'US',
      numberType: 'LOCAL',
      capabilities: ['VOICE', 'SMS'],
      status: 'active',
      monthlyPrice: toMicros(monthlyUsd),
      purchasedAt: new Date(),
      updatedAt: new Date(),
    })
  return id
}

export const generate = (u: TestUser, month: string, extra: Record<string, unknown> = {}) => call('/api/invoices', { token: u.accessToken, body: { month, ...extra } })

/** A pro subscription from before `month`, with the pro plan's reference usage in `month`: 59.74 due. */
export async function workedExample(u: TestUser, month: string) {
  await subscribe(u.id, [{ plan: 'pro', at: Date.UTC(2024, 0, 1) }])
  await addMetrics(u.id, month, { callMinutes: 425, smsCount: 1150, apiCalls: 5900 })
  const res = await generate(u, month)
  if (res.status !== 201) throw new Error(`generate failed: ${res.status} ${res.text}`)
  return res.body.data as { id: string; amount: number; invoiceNumber: string }
}

export async function outboxOf(userId: string, type: string) {
  const { results } = await env.DB.prepare(`SELECT payload FROM outbox WHERE user_id = ? AND type = ? ORDER BY created_at, id`).bind(userId, type).all<{ payload: string }>()
  return results.map((r) => JSON.parse(r.payload) as Record<string, any>)
}

export async function paymentRows(invoiceId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM payments WHERE invoice_id = ? ORDER BY created_at, id`).bind(invoiceId).all<Record<string, any>>()
  return results
}

export async function invoiceRow(id: string) {
  return env.DB.prepare(`SELECT * FROM invoices WHERE id = ?`).bind(id).first<Record<string, any>>()
}

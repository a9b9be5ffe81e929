/**
 * Subscriptions (usage billing): lifecycle through the API (subscribe, read, upgrade, downgrade,
 * cancel, resume, re-subscribe), the change log and events the invoice engineer reads, exact
 * upgrade proration with a pinned clock, period roll-forward, ownership and permissions.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { PLANS } from '../../../src/modules/subscriptions/plans'
import { periodOf, prorate } from '../../../src/lib/periods'
import { SubscriptionsService } from '../../../src/modules/subscriptions/subscriptions.service'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser, type TestUser } from '../../helpers/api'
import { ctxFor } from '../../helpers/context'

const service = () => new SubscriptionsService({ db: createDb(env.DB) })

interface ChangeRow {
  id: string
  subscription_id: string
  user_id: string
  from_plan: string | null
  to_plan: string
  from_status: string | null
  to_status: string
  proration: number
  at: number
}

async function changes(subscriptionId: string): Promise<ChangeRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM subscription_changes WHERE subscription_id = ? ORDER BY at, id`).bind(subscriptionId).all<ChangeRow>()
  return results
}

async function prorations(userId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM usage_records WHERE user_id = ? AND resource_type = 'subscription_proration' ORDER BY occurred_at, id`)
    .bind(userId)
    .all<{ id: string; resource_id: string; quantity: number; unit: string; unit_price: number; total_cost: number; prepaid: number; month: string; transaction_id: string; currency: string }>()
  return results
}

async function events(userId: string, type = 'subscription.updated') {
  const { results } = await env.DB.prepare(`SELECT * FROM outbox WHERE user_id = ? AND type = ? ORDER BY created_at, id`).bind(userId, type).all<{ payload: string }>()
  return results.map((r) => JSON.parse(r.payload) as Record<string, unknown>)
}

const subscribe = (u: TestUser, plan: string, extra: Record<string, unknown> = {}) => call('/api/subscription', { token: u.accessToken, body: { plan, ...extra } })
const patch = (u: TestUser, body: Record<string, unknown>) => call('/api/subscription', { method: 'PATCH', token: u.accessToken, body })
const read = (u: TestUser, query = '') => call(`/api/subscription${query}`, { token: u.accessToken })

/** What the service must charge, computed independently from the change's instant. */
function expectedProration(fromPlan: keyof typeof PLANS, toPlan: keyof typeof PLANS, at: number): number {
  const d = new Date(at)
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
  const diffCents = (PLANS[toPlan].monthlyFee - PLANS[fromPlan].monthlyFee) / 10_000
  const exact = (diffCents * (end - at)) / (end - start)
  return Math.floor(exact + 0.5) * 10_000
}

describe('subscription lifecycle through the API', () => {
  it('GET is 404 before the account subscribes', async () => {
    const u = await registerUser()
    expectErrorEnvelope(await read(u), 404, 'NOT_FOUND')
  })

  it("subscribes (201, usage billing's shape, message), logs the first change at startDate and emits subscription.updated", async () => {
    const u = await registerUser()
    const before = Date.now()
    const res = await subscribe(u, 'basic')
    expect(res.status, res.text).toBe(201)
    expect(res.body.message, res.text).toBe('Subscription created successfully')
    const d = res.body.data
    expect(d, res.text).toMatchObject({ userId: u.id, plan: 'basic', status: 'active', monthlyFee: 9.99, proration: 0, cancelledAt: null })
    expect(d.id, res.text).toMatch(/^sub_/)
    const start = Date.parse(d.startDate)
    expect(start).toBeGreaterThanOrEqual(before - 5)
    const period = periodOf(start)
    expect(d.currentPeriodStart).toBe(period.start.toISOString())
    // Shown as the last day of the month at 00:00 UTC.
    expect(d.currentPeriodEnd).toBe(period.displayEnd.toISOString())
    expect(d.currentPeriodEnd).toMatch(/T00:00:00\.000Z$/)

    const log = await changes(d.id)
    expect(log, JSON.stringify(log)).toHaveLength(1)
    expect(log[0]).toMatchObject({ user_id: u.id, from_plan: null, to_plan: 'basic', from_status: null, to_status: 'active', proration: 0, at: start })
    const ev = await events(u.id)
    expect(ev).toHaveLength(1)
    expect(ev[0]).toMatchObject({ subscriptionId: d.id, plan: 'basic', status: 'active', previousPlan: null })

    const got = await read(u)
    expect(got.status, got.text).toBe(200)
    expect(got.body.data, got.text).toMatchObject({ id: d.id, userId: u.id, plan: 'basic', status: 'active', startDate: d.startDate, currentPeriodEnd: d.currentPeriodEnd, monthlyFee: 9.99 })
    expect(Object.keys(got.body.data)).toEqual(expect.arrayContaining(['id', 'userId', 'plan', 'status', 'startDate', 'currentPeriodEnd', 'monthlyFee']))
  })

  it('refuses a second subscription while one is in force (409 CONFLICT)', async () => {
    const u = await registerUser()
    expect((await subscribe(u, 'pro')).status).toBe(201)
    expectErrorEnvelope(await subscribe(u, 'enterprise'), 409, 'CONFLICT')
  })

  it('upgrades with the exact proration as a non-prepaid usage row, in the same change', async () => {
    const u = await registerUser()
    const sub = (await subscribe(u, 'basic')).body.data
    const res = await patch(u, { subscriptionId: sub.id, plan: 'pro' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.message).toBe('Subscription updated successfully')
    expect(res.body.data, res.text).toMatchObject({ id: sub.id, plan: 'pro', status: 'active', monthlyFee: 29.99 })

    const log = await changes(sub.id)
    expect(log).toHaveLength(2)
    const up = log[1]!
    expect(up).toMatchObject({ from_plan: 'basic', to_plan: 'pro', from_status: 'active', to_status: 'active' })
    const expected = expectedProration('basic', 'pro', up.at)
    expect(expected).toBeGreaterThan(0)
    expect(up.proration).toBe(expected)
    expect(res.body.data.proration).toBe(expected / 1_000_000)

    const rows = await prorations(u.id)
    expect(rows, JSON.stringify(rows)).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      resource_id: sub.id,
      quantity: 1,
      unit: 'proration',
      unit_price: expected,
      total_cost: expected,
      prepaid: 0,
      currency: 'USD',
      month: periodOf(up.at).month,
      transaction_id: `proration:${up.id}`,
    })
    const ev = await events(u.id)
    expect(ev.at(-1)).toMatchObject({ plan: 'pro', previousPlan: 'basic', proration: expected / 1_000_000 })
  })

  it('downgrades at once with no credit and no usage row', async () => {
    const u = await registerUser()
    const sub = (await subscribe(u, 'enterprise')).body.data
    const res = await patch(u, { subscriptionId: sub.id, plan: 'basic' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ plan: 'basic', monthlyFee: 9.99, proration: 0 })
    const log = await changes(sub.id)
    expect(log.at(-1)).toMatchObject({ from_plan: 'enterprise', to_plan: 'basic', proration: 0 })
    expect(await prorations(u.id)).toHaveLength(0)
  })

  it('cancels, resumes with status active, and re-subscribing after a cancel reuses the row', async () => {
    const u = await registerUser()
    const sub = (await subscribe(u, 'pro')).body.data

    const cancelled = await patch(u, { subscriptionId: sub.id, status: 'cancelled' })
    expect(cancelled.status, cancelled.text).toBe(200)
    expect(cancelled.body.data).toMatchObject({ id: sub.id, status: 'cancelled', plan: 'pro' })
    expect(typeof cancelled.body.data.cancelledAt).toBe('string')

    const resumed = await patch(u, { subscriptionId: sub.id, status: 'active' })
    expect(resumed.status, resumed.text).toBe(200)
    expect(resumed.body.data).toMatchObject({ id: sub.id, status: 'active', cancelledAt: null })

    expect((await patch(u, { subscriptionId: sub.id, status: 'cancelled' })).status).toBe(200)
    const again = await subscribe(u, 'basic')
    expect(again.status, again.text).toBe(201)
    expect(again.body.data).toMatchObject({ id: sub.id, plan: 'basic', status: 'active', startDate: sub.startDate, proration: 0 })

    const { results } = await env.DB.prepare(`SELECT count(*) AS n FROM subscriptions WHERE user_id = ?`).bind(u.id).all<{ n: number }>()
    expect(results[0]!.n).toBe(1)
    const log = await changes(sub.id)
    expect(log.map((c) => [c.from_plan, c.to_plan, c.from_status, c.to_status])).toEqual([
      [null, 'pro', null, 'active'],
      ['pro', 'pro', 'active', 'cancelled'],
      ['pro', 'pro', 'cancelled', 'active'],
      ['pro', 'pro', 'active', 'cancelled'],
      ['pro', 'basic', 'cancelled', 'active'],
    ])
    expect(await events(u.id)).toHaveLength(5)
  })

  it('a PATCH that changes nothing writes nothing', async () => {
    const u = await registerUser()
    const sub = (await subscribe(u, 'pro')).body.data
    const res = await patch(u, { subscriptionId: sub.id, plan: 'pro', status: 'active' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ plan: 'pro', status: 'active', proration: 0 })
    expect(await changes(sub.id)).toHaveLength(1)
    expect(await events(u.id)).toHaveLength(1)
  })
})

describe('PATCH validation, ownership and permissions', () => {
  it('400 without subscriptionId, with neither plan nor status, or with a status clients cannot set', async () => {
    const u = await registerUser()
    const sub = (await subscribe(u, 'basic')).body.data
    expectErrorEnvelope(await patch(u, { plan: 'pro' }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await patch(u, { subscriptionId: sub.id }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await patch(u, { subscriptionId: sub.id, status: 'past_due' }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await patch(u, { subscriptionId: sub.id, plan: 'platinum' }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await subscribe(u, 'platinum'), 400, 'VALIDATION_ERROR')
  })

  it("404 for an unknown subscription and for another account's — which stays unchanged", async () => {
    const owner = await registerUser()
    const other = await registerUser()
    const sub = (await subscribe(owner, 'basic')).body.data
    expectErrorEnvelope(await patch(other, { subscriptionId: 'sub_unknown', status: 'cancelled' }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await patch(other, { subscriptionId: sub.id, status: 'cancelled' }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await read(other, `?userId=${owner.id}`), 404, 'NOT_FOUND')
    expectErrorEnvelope(await subscribe(other, 'pro', { userId: owner.id }), 404, 'NOT_FOUND')
    expect((await read(owner)).body.data).toMatchObject({ status: 'active', plan: 'basic' })
    expect(await changes(sub.id)).toHaveLength(1)
  })

  it("an admin reads, changes and creates other accounts' subscriptions via userId", async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const created = await subscribe(admin, 'pro', { userId: u.id })
    expect(created.status, created.text).toBe(201)
    expect(created.body.data.userId).toBe(u.id)
    const got = await read(admin, `?userId=${u.id}`)
    expect(got.status, got.text).toBe(200)
    expect(got.body.data).toMatchObject({ userId: u.id, plan: 'pro' })
    const changed = await patch(admin, { subscriptionId: created.body.data.id, status: 'cancelled' })
    expect(changed.status, changed.text).toBe(200)
    expect((await read(u)).body.data.status).toBe('cancelled')
    expect(await events(u.id)).toHaveLength(2)
    expectErrorEnvelope(await read(admin, '?userId=usr_nobody'), 404, 'NOT_FOUND')

    // An admin's API key without the `admin` permission acts for its own account only.
    const key = await createApiKey(admin, ['billing:read', 'billing:write'])
    expectErrorEnvelope(await call(`/api/subscription?userId=${u.id}`, { apiKey: key.key }), 404, 'NOT_FOUND')
    const foreign = await call('/api/subscription', { method: 'PATCH', apiKey: key.key, body: { subscriptionId: created.body.data.id, status: 'active' } })
    expectErrorEnvelope(foreign, 404, 'NOT_FOUND')
    expect((await read(u)).body.data.status).toBe('cancelled')
  })

  it('GET needs billing:read, writes need billing:write; no credentials is 401', async () => {
    const u = await registerUser()
    const sub = (await subscribe(u, 'basic')).body.data
    const reader = await createApiKey(u, ['billing:read'])
    const ok = await call('/api/subscription', { apiKey: reader.key })
    expect(ok.status, ok.text).toBe(200)
    expectErrorEnvelope(await call('/api/subscription', { method: 'PATCH', apiKey: reader.key, body: { subscriptionId: sub.id, status: 'cancelled' } }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/subscription', { apiKey: reader.key, body: { plan: 'pro' } }), 403, 'FORBIDDEN')
    const writer = await createApiKey(u, ['billing:write'])
    expectErrorEnvelope(await call('/api/subscription', { apiKey: writer.key }), 403, 'FORBIDDEN')
    expect((await call('/api/subscription', { method: 'PATCH', apiKey: writer.key, body: { subscriptionId: sub.id, plan: 'pro' } })).status).toBe(200)
    expectErrorEnvelope(await call('/api/subscription'), 401, 'UNAUTHORIZED')
  })
})

describe('proration with a pinned clock', () => {
  it('charges (new − old) × remaining / period, rounded half-up to whole cents', async () => {
    const u = await registerUser()
    const s = service()
    // April 2026 has 30 days. 1,296,648,000 ms before May 1st: pro − basic = 2000 cents × 2001/4000 = 1000.5 cents → 10.01.
    const subscribedAt = new Date(Date.UTC(2026, 3, 1))
    const at = new Date(Date.UTC(2026, 4, 1) - 1_296_648_000)
    const { subscription } = await s.subscribe(ctxFor(u.id), 'basic', subscribedAt)
    const up = await s.change(subscription, { plan: 'pro' }, at)
    expect(up.proration).toBe(10_010_000)
    expect(prorate(20_000_000, 1_296_648_000, 30 * 86_400_000)).toBe(10_010_000)
    const rows = await prorations(u.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ total_cost: 10_010_000, month: '2026-04' })

    // Pro → enterprise asked at the same instant takes effect 1 ms later (changes are strictly ordered):
    // 7000 cents × (2001/4000 − 1 ms/period) ≈ 3501.75 → 3502 cents.
    const up2 = await s.change(up.subscription, { plan: 'enterprise' }, at)
    expect(up2.proration).toBe(35_020_000)
    const log = await changes(subscription.id)
    expect(log.map((c) => c.proration)).toEqual([0, 10_010_000, 35_020_000])
    expect(log[0]!.at).toBe(subscribedAt.getTime())
  })

  it('charges the whole difference at the first instant of the period and nothing once it has ended', async () => {
    const u = await registerUser()
    const s = service()
    const start = new Date(Date.UTC(2026, 1, 1)) // February 2026
    const { subscription } = await s.subscribe(ctxFor(u.id), 'basic', start)
    const up = await s.change(subscription, { plan: 'enterprise' }, start)
    expect(up.proration).toBe(90_000_000)
    expect(prorate(90_000_000, 0, 28 * 86_400_000)).toBe(0)
  })

  it('no proration for a resume when the cancel was in an earlier period; proration when it was in this one', async () => {
    const s = service()
    const a = await registerUser()
    const subA = (await s.subscribe(ctxFor(a.id), 'basic', new Date(Date.UTC(2026, 0, 10)))).subscription
    const cancelledA = (await s.change(subA, { status: 'cancelled' }, new Date(Date.UTC(2026, 0, 20)))).subscription
    const resumedA = await s.change(cancelledA, { status: 'active', plan: 'pro' }, new Date(Date.UTC(2026, 2, 15)))
    expect(resumedA.proration).toBe(0)

    const b = await registerUser()
    const subB = (await s.subscribe(ctxFor(b.id), 'basic', new Date(Date.UTC(2026, 2, 1)))).subscription
    const cancelledB = (await s.change(subB, { status: 'cancelled' }, new Date(Date.UTC(2026, 2, 5)))).subscription
    const at = new Date(Date.UTC(2026, 2, 16, 12)) // March: 15.5 of 31 days left → 2000 × 0.5 = 1000 cents
    const resumedB = await s.change(cancelledB, { status: 'active', plan: 'pro' }, at)
    expect(resumedB.proration).toBe(10_000_000)
  })

  it('a change decided on a stale read writes nothing for it: it is re-decided against the current row', async () => {
    const u = await registerUser()
    const s = service()
    const at = new Date(Date.UTC(2026, 3, 16)) // April: 15 of 30 days left
    const { subscription: stale } = await s.subscribe(ctxFor(u.id), 'basic', new Date(Date.UTC(2026, 3, 1)))
    const first = await s.change(stale, { plan: 'pro' }, at)
    expect(first.proration).toBe(10_000_000)
    // The same upgrade from the stale row: already done, so nothing at all is written.
    const twin = await s.change(stale, { plan: 'pro' }, at)
    expect(twin).toMatchObject({ changed: false, proration: 0 })
    // Another upgrade from the stale row prorates from the plan really in force (pro), not basic.
    const second = await s.change(stale, { plan: 'enterprise' }, at)
    expect(second.proration).toBe(35_000_000)
    const log = await changes(stale.id)
    expect(log.map((c) => [c.from_plan, c.to_plan, c.proration])).toEqual([
      [null, 'basic', 0],
      ['basic', 'pro', 10_000_000],
      ['pro', 'enterprise', 35_000_000],
    ])
    expect((await prorations(u.id)).map((r) => r.total_cost)).toEqual([10_000_000, 35_000_000])
    expect(await events(u.id)).toHaveLength(3)
  })

  it('two concurrent upgrades charge the proration once and log one change', async () => {
    const u = await registerUser()
    const sub = (await subscribe(u, 'basic')).body.data
    const results = await Promise.all([
      patch(u, { subscriptionId: sub.id, plan: 'enterprise' }),
      patch(u, { subscriptionId: sub.id, plan: 'enterprise' }),
      patch(u, { subscriptionId: sub.id, plan: 'enterprise' }),
    ])
    for (const r of results) expect(r.status, r.text).toBe(200)
    expect(await prorations(u.id)).toHaveLength(1)
    const log = await changes(sub.id)
    expect(log.filter((c) => c.to_plan === 'enterprise')).toHaveLength(1)
    expect(await events(u.id)).toHaveLength(2)
  })
})

describe('periods', () => {
  it('rolls an active subscription forward to the current month when read after its period ended', async () => {
    const u = await registerUser()
    const s = service()
    const { subscription } = await s.subscribe(ctxFor(u.id), 'pro', new Date(Date.UTC(2025, 10, 5)))
    expect(subscription.currentPeriodEnd.toISOString()).toBe('2025-11-30T00:00:00.000Z')
    const res = await read(u)
    expect(res.status, res.text).toBe(200)
    const now = periodOf(Date.now())
    expect(res.body.data).toMatchObject({ startDate: '2025-11-05T00:00:00.000Z', currentPeriodStart: now.start.toISOString(), currentPeriodEnd: now.displayEnd.toISOString() })
    const row = await env.DB.prepare(`SELECT current_period_start, current_period_end FROM subscriptions WHERE id = ?`)
      .bind(subscription.id)
      .first<{ current_period_start: number; current_period_end: number }>()
    expect(row).toEqual({ current_period_start: now.start.getTime(), current_period_end: now.displayEnd.getTime() })
    expect(await changes(subscription.id)).toHaveLength(1)
  })

  it('shows the last day of a 31-, 30- and 28-day month as the period end', () => {
    expect(periodOf(Date.UTC(2024, 9, 15)).displayEnd.toISOString()).toBe('2024-10-31T00:00:00.000Z')
    expect(periodOf(Date.UTC(2025, 10, 30, 23, 59)).displayEnd.toISOString()).toBe('2025-11-30T00:00:00.000Z')
    expect(periodOf(Date.UTC(2026, 1, 1)).displayEnd.toISOString()).toBe('2026-02-28T00:00:00.000Z')
    expect(periodOf(Date.UTC(2025, 11, 31, 12)).month).toBe('2025-12')
  })
})

/**
 * Subscriptions (usage billing's /api/subscription): one row per account, plans and fees from
 * plans.ts, calendar-month periods (UTC).
 *
 * Invariants:
 * - One subscription row per account (unique index); subscribing again after a cancel reuses it
 *   and keeps its `startDate`.
 * - Every change — subscribe, plan change, cancel, resume — writes exactly one
 *   `subscription_changes` row (from/to plan and status, proration, at) and one
 *   `subscription.updated` event in the same batch as the row's update; the first change of a
 *   subscription has fromPlan null, toPlan = plan and at = startDate. Invoices read the plan in
 *   force at any instant from these rows, so a change that did not happen leaves none.
 * - A change is a compare-and-set on (plan, status, updated_at) as they were read: the change
 *   row, the proration usage row and the event are inserted only if the row is still in that
 *   state (guarded inserts before the UPDATE, in one batch). Of two concurrent changes one
 *   applies; the other is re-evaluated against the new state (and usually becomes a no-op).
 * - Upgrade proration: moving to a dearer plan while the subscription is in force this period
 *   charges (newFee − oldFee) × (rest of the period / whole period), rounded half-up to whole
 *   cents, as a `subscription_proration` usage row (not prepaid) of the current month, which the
 *   monthly invoice bills. A downgrade takes effect at once with no credit. "In force this
 *   period": not cancelled, or cancelled during the current period (so cancel-then-resume on a
 *   dearer plan still pays the difference).
 */
import { newEventId } from '../events/outbox'
import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { outbox, subscriptionChanges, subscriptions, usageRecords } from '../../db/schema'
import { Conflict, NotFound } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import { accountFor } from '../../db/account-for'
import { PLANS, type PlanCode } from './plans'
import { runBatch, type Stmt } from '../../db/batch'
import { isUniqueViolation } from '../../db/errors'
import { insertWhere } from '../../db/insert-where'
import { periodOf, prorate } from '../../lib/periods'
import { actorCan, type RequestContext } from '../../lib/context'

export type Subscription = typeof subscriptions.$inferSelect
export type SubscriptionStatus = Subscription['status']

export interface ChangeOutcome {
  subscription: Subscription
  /** Micro-units charged for the rest of the period by this change (0 if none). */
  proration: number
  changed: boolean
}

/** How often a change is re-evaluated after losing a race before answering 409. */
const MAX_ATTEMPTS = 3

export class SubscriptionsService {
  constructor(private readonly deps: { db: Db }) {}

  private get db() {
    return this.deps.db
  }

  /**
   * Whose subscription the caller means: their own (no userId, or their own id), or — for an
   * admin — anyone's. Another user's id from a non-admin is a 404, like every foreign id.
   */
  async owner(ctx: RequestContext, userId: string | undefined, what = 'Subscription'): Promise<RequestContext> {
    return accountFor(this.db, ctx, userId, what)
  }

  /** The account's subscription with its period rolled forward to `now` (persisted). 404 when none. */
  async get(ctx: RequestContext, now = new Date()): Promise<Subscription> {
    const userId = ctx.accountId
    const row = await this.db.select().from(subscriptions).where(eq(subscriptions.userId, userId)).get()
    if (!row) throw new NotFound('Subscription')
    return this.rolled(row, now)
  }

  /** Subscribes the account to `plan`: a new row, or the cancelled one reused. 409 when one is in force. */
  async subscribe(ctx: RequestContext, plan: PlanCode, now = new Date()): Promise<ChangeOutcome> {
    const userId = ctx.accountId
    for (let attempt = 1; ; attempt++) {
      const row = await this.db.select().from(subscriptions).where(eq(subscriptions.userId, userId)).get()
      if (row) {
        if (row.status !== 'cancelled') {
          throw new Conflict('CONFLICT', 'The account already has a subscription in force; change its plan with PATCH /api/subscription', {
            subscriptionId: row.id,
            plan: row.plan,
            status: row.status,
          })
        }
        return this.change(row, { plan, status: 'active' }, now)
      }
      const id = newId('sub', now.getTime())
      const period = periodOf(now)
      const sub: Subscription = {
        id,
        userId,
        plan,
        status: 'active',
        startDate: now,
        currentPeriodStart: period.start,
        currentPeriodEnd: period.displayEnd,
        cancelledAt: null,
        createdAt: now,
        updatedAt: now,
      }
      try {
        await this.db.batch([
          this.db.insert(subscriptions).values(sub),
          this.db.insert(subscriptionChanges).values({
            id: newId('subchg', now.getTime()),
            subscriptionId: id,
            userId,
            fromPlan: null,
            toPlan: plan,
            fromStatus: null,
            toStatus: 'active',
            proration: 0,
            at: now,
          }),
          this.db.insert(outbox).values(eventRow(sub, null, null, 0, now)),
        ])
        return { subscription: sub, proration: 0, changed: true }
      } catch (e) {
        // A concurrent subscribe created the row first: decide again against it.
        if (!isUniqueViolation(e) || attempt >= MAX_ATTEMPTS) throw e
      }
    }
  }

  /** PATCH: the subscription by id, the caller's own (an admin: anyone's). 404 for another account's. */
  async update(ctx: RequestContext, input: { subscriptionId: string; plan?: PlanCode; status?: 'active' | 'cancelled' }, now = new Date()): Promise<ChangeOutcome> {
    const scope = actorCan(ctx, 'admin') ? eq(subscriptions.id, input.subscriptionId) : and(eq(subscriptions.id, input.subscriptionId), eq(subscriptions.userId, ctx.accountId))
    const row = await this.db.select().from(subscriptions).where(scope).get()
    if (!row) throw new NotFound('Subscription')
    return this.change(row, { plan: input.plan, status: input.status }, now)
  }

  /**
   * Applies a change to `row` as read. Compare-and-set on (plan, status, updated_at); a lost race
   * re-reads and decides again. No difference from the current state: nothing is written.
   */
  async change(row: Subscription, to: { plan?: PlanCode; status?: SubscriptionStatus }, now = new Date()): Promise<ChangeOutcome> {
    let current = row
    for (let attempt = 1; ; attempt++) {
      const toPlan = to.plan ?? current.plan
      const toStatus = to.status ?? current.status
      if (toPlan === current.plan && toStatus === current.status) {
        return { subscription: await this.rolled(current, now), proration: 0, changed: false }
      }
      // The change's instant: strictly after the row's last change, so the change log orders by `at`
      // even for changes in one millisecond; the next compare-and-set never mistakes this state for the old one.
      const at = new Date(Math.max(now.getTime(), current.updatedAt.getTime() + 1))
      const period = periodOf(at)
      const inForce = current.status !== 'cancelled' || (current.cancelledAt !== null && current.cancelledAt.getTime() >= period.start.getTime())
      const difference = PLANS[toPlan].monthlyFee - PLANS[current.plan].monthlyFee
      const proration = toStatus !== 'cancelled' && inForce && difference > 0 ? prorate(difference, period.end.getTime() - at.getTime(), period.end.getTime() - period.start.getTime()) : 0

      const next: Subscription = {
        ...current,
        plan: toPlan,
        status: toStatus,
        cancelledAt: toStatus === 'cancelled' ? (current.status === 'cancelled' ? current.cancelledAt : at) : null,
        currentPeriodStart: period.start,
        currentPeriodEnd: period.displayEnd,
        updatedAt: at,
      }
      const asRead = and(eq(subscriptions.id, current.id), eq(subscriptions.plan, current.plan), eq(subscriptions.status, current.status), eq(subscriptions.updatedAt, current.updatedAt))!
      const guard = sql`exists (select 1 from ${subscriptions} where ${asRead})`
      const changeId = newId('subchg', at.getTime())
      const stmts: Stmt[] = [
        insertWhere(
          this.db,
          subscriptionChanges,
          {
            id: changeId,
            subscriptionId: current.id,
            userId: current.userId,
            fromPlan: current.plan,
            toPlan,
            fromStatus: current.status,
            toStatus,
            proration,
            at,
          },
          guard,
        ),
        insertWhere(this.db, outbox, eventRow(next, current.plan, current.status, proration, at), guard),
      ]
      if (proration > 0) {
        stmts.push(
          insertWhere(
            this.db,
            usageRecords,
            {
              id: newId('use', at.getTime()),
              userId: current.userId,
              resourceType: 'subscription_proration',
              resourceId: current.id,
              quantity: 1,
              unit: 'proration',
              unitPrice: proration,
              totalCost: proration,
              currency: 'USD',
              prepaid: false,
              description: `Upgrade ${PLANS[current.plan].name} → ${PLANS[toPlan].name}, prorated for the rest of ${period.month}`,
              month: period.month,
              occurredAt: at,
              transactionId: `proration:${changeId}`,
              reportId: null,
              createdAt: at,
              updatedAt: at,
            },
            guard,
          ),
        )
      }
      const update = this.db
        .update(subscriptions)
        .set({
          plan: next.plan,
          status: next.status,
          cancelledAt: next.cancelledAt,
          currentPeriodStart: next.currentPeriodStart,
          currentPeriodEnd: next.currentPeriodEnd,
          updatedAt: next.updatedAt,
        })
        .where(asRead)
      const results = await runBatch(this.db, [...stmts, update])
      const applied = ((results.at(-1) as D1Result | undefined)?.meta?.changes ?? 0) === 1
      if (applied) return { subscription: next, proration, changed: true }

      const fresh = await this.db.select().from(subscriptions).where(eq(subscriptions.id, current.id)).get()
      if (!fresh) throw new NotFound('Subscription')
      if (attempt >= MAX_ATTEMPTS) throw new Conflict('CONFLICT', 'The subscription is being changed by another request; retry')
      current = fresh
    }
  }

  /** An active (or past-due) subscription whose period has ended moves to the period of `now`. */
  private async rolled(row: Subscription, now: Date): Promise<Subscription> {
    if (row.status === 'cancelled' || now.getTime() < periodOf(row.currentPeriodStart).end.getTime()) return row
    const period = periodOf(now)
    // Not a change of plan or status: no change row, and updated_at stays (it is the change marker).
    await this.db
      .update(subscriptions)
      .set({ currentPeriodStart: period.start, currentPeriodEnd: period.displayEnd })
      .where(and(eq(subscriptions.id, row.id), eq(subscriptions.currentPeriodStart, row.currentPeriodStart)))
      .run()
    return { ...row, currentPeriodStart: period.start, currentPeriodEnd: period.displayEnd }
  }
}

function eventRow(s: Subscription, fromPlan: PlanCode | null, fromStatus: string | null, proration: number, now: Date) {
  return {
    id: newEventId(now),
    type: 'subscription.updated',
    userId: s.userId,
    payload: {
      subscriptionId: s.id,
      userId: s.userId,
      plan: s.plan,
      status: s.status,
      previousPlan: fromPlan,
      previousStatus: fromStatus,
      monthlyFee: fromMicros(PLANS[s.plan].monthlyFee),
      proration: fromMicros(proration),
      currentPeriodEnd: iso(periodOf(s.currentPeriodStart).displayEnd),
      changedAt: now.toISOString(),
    } as Record<string, unknown>,
    createdAt: now,
  }
}

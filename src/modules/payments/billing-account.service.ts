/**
 * The billing account (/api/v1/billing/account): one row per account, created on first use with the
 * defaults (monthly cycle, USD, auto-pay off, automatic top-up off). Its balance is the wallet's;
 * its default payment method is the payment method marked default; its active/suspended state is
 * the user's.
 *
 * Automatic top-up (`autoTopUp`): with `enabled`, the daily billing run tops the wallet up by
 * `amount` from `paymentMethodId` (null: the default method) when its available balance is below
 * `threshold` — at most once per account and UTC day (billing/auto-top-up.ts). Enabling needs a
 * threshold, an amount and a method to charge; a named method must be a live one of the account.
 */
import { and, desc, eq, gte, isNull, lt } from 'drizzle-orm'
import { billingAccounts, paymentMethods, payments, users } from '../../db/schema'
import { ValidationError, NotFound } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { toMicros } from '../../lib/money'
import type { Db } from '../../db/client'
import type { WalletService } from '../wallet/wallet.service'
import { effectiveStatus, type AccountState } from '../auth/account-status'
import { nextMonthStart } from '../../lib/periods'
import type { PaymentProcessor } from '../../providers/payments/types'
import { BILLING_CYCLES, type UpdateBillingAccountBody } from './schemas'
import { AUTO_TOP_UP_KEY_PREFIX } from './auto-top-up-key'
import type { RequestContext } from '../../lib/context'

export type BillingAccount = typeof billingAccounts.$inferSelect

/** The billing account with the facts its answer shows (billingAccountView in views.ts shapes it). */
export interface BillingAccountSummary {
  account: BillingAccount
  /** The wallet balance, micro-units. */
  balance: number
  defaultPaymentMethodId: string | null
  /** The latest automatic top-up: its UTC day and its payment. */
  lastAutoTopUp: { day: string; payment: typeof payments.$inferSelect } | null
  /** The user's status as of now (a suspension whose end has passed is over). */
  status: AccountState['status']
  statusReason: string | null
  nextBillingDate: Date
}

export class BillingAccountService {
  constructor(private readonly deps: { db: Db; wallet: Pick<WalletService, 'balance'> }) {}

  private get db() {
    return this.deps.db
  }

  /** The account's billing row, created with the defaults when missing (a concurrent creation is fine). */
  async ensure(userId: string): Promise<BillingAccount> {
    const found = await this.db.select().from(billingAccounts).where(eq(billingAccounts.userId, userId)).get()
    if (found) return found
    const now = new Date()
    await this.db
      .insert(billingAccounts)
      .values({ userId, id: newId('ba', now.getTime()), billingAddress: {}, currency: 'USD', autoPayEnabled: false, billingCycle: 'MONTHLY', createdAt: now, updatedAt: now })
      .onConflictDoNothing({ target: billingAccounts.userId })
      .run()
    const row = await this.db.select().from(billingAccounts).where(eq(billingAccounts.userId, userId)).get()
    if (!row) throw new NotFound('Billing account')
    return row
  }

  async summary(ctx: RequestContext, now = new Date()): Promise<BillingAccountSummary> {
    const userId = ctx.accountId
    const account = await this.ensure(userId)
    // Automatic top-ups' attempt keys: `autotopup_<userId>_<day>`, a range of payments_attempt_uq; the last is the latest day.
    const autoKeys = `${AUTO_TOP_UP_KEY_PREFIX}${userId}_`
    const [[user, defaultMethod, lastAuto], balance] = await Promise.all([
      this.db.batch([
        this.db.select({ status: users.status, statusReason: users.statusReason, suspendedUntil: users.suspendedUntil }).from(users).where(eq(users.id, userId)),
        this.db
          .select({ id: paymentMethods.id })
          .from(paymentMethods)
          .where(and(eq(paymentMethods.userId, userId), eq(paymentMethods.isDefault, true), isNull(paymentMethods.deletedAt))),
        this.db
          .select()
          .from(payments)
          .where(and(gte(payments.attemptKey, autoKeys), lt(payments.attemptKey, `${autoKeys}\uffff`), eq(payments.userId, userId)))
          .orderBy(desc(payments.attemptKey))
          .limit(1),
      ]),
      this.deps.wallet.balance(userId),
    ])
    const u = user[0]
    if (!u) throw new NotFound('User')
    const last = lastAuto[0]
    return {
      account,
      balance: balance.balance,
      defaultPaymentMethodId: defaultMethod[0]?.id ?? null,
      lastAutoTopUp: last ? { day: last.attemptKey.slice(autoKeys.length), payment: last } : null,
      status: effectiveStatus(u, now.getTime()),
      statusReason: u.statusReason,
      nextBillingDate: nextMonthStart(now),
    }
  }

  /** Only company, taxId, billingAddress, autoPayEnabled, autoTopUp and billingCycle are writable. */
  async update(ctx: RequestContext, body: UpdateBillingAccountBody): Promise<void> {
    const userId = ctx.accountId
    const account = await this.ensure(userId)
    const set: Partial<typeof billingAccounts.$inferInsert> = { updatedAt: new Date() }
    if (body.autoTopUp !== undefined) Object.assign(set, await this.autoTopUpChange(userId, account, body.autoTopUp))
    if (body.company !== undefined) set.company = body.company || null
    if (body.taxId !== undefined) set.taxId = body.taxId || null
    if (body.billingAddress !== undefined) set.billingAddress = body.billingAddress
    if (body.autoPayEnabled !== undefined) set.autoPayEnabled = body.autoPayEnabled
    if (body.billingCycle !== undefined) {
      const cycle = body.billingCycle.trim().toUpperCase()
      if (!(BILLING_CYCLES as readonly string[]).includes(cycle)) {
        throw ValidationError.field('billingCycle', `billingCycle must be one of ${BILLING_CYCLES.join(', ')}: invoices are monthly`)
      }
      set.billingCycle = cycle
    }
    await this.db.update(billingAccounts).set(set).where(eq(billingAccounts.userId, userId)).run()
  }

  /** The columns an autoTopUp change writes, checked on the settings that result from it. */
  private async autoTopUpChange(userId: string, account: BillingAccount, a: NonNullable<UpdateBillingAccountBody['autoTopUp']>) {
    const next = {
      autoTopUpEnabled: a.enabled ?? account.autoTopUpEnabled,
      autoTopUpThreshold: a.threshold !== undefined ? toMicros(a.threshold) : account.autoTopUpThreshold,
      autoTopUpAmount: a.amount !== undefined ? toMicros(a.amount) : account.autoTopUpAmount,
      autoTopUpPaymentMethodId: a.paymentMethodId !== undefined ? a.paymentMethodId : account.autoTopUpPaymentMethodId,
    }
    const liveMethod = (id?: string) =>
      this.db
        .select({ id: paymentMethods.id })
        .from(paymentMethods)
        .where(and(eq(paymentMethods.userId, userId), isNull(paymentMethods.deletedAt), id ? eq(paymentMethods.id, id) : undefined))
        .get()
    if (a.paymentMethodId && !(await liveMethod(a.paymentMethodId))) {
      throw ValidationError.field('autoTopUp.paymentMethodId', 'No such payment method on this account (GET /api/v1/billing/payment-methods lists yours)')
    }
    if (next.autoTopUpEnabled) {
      if (next.autoTopUpThreshold === null) throw ValidationError.field('autoTopUp.threshold', 'Set a threshold to enable the automatic top-up')
      if (next.autoTopUpAmount === null) throw ValidationError.field('autoTopUp.amount', 'Set an amount to enable the automatic top-up')
      if (!(await liveMethod(next.autoTopUpPaymentMethodId ?? undefined))) {
        throw ValidationError.field(
          'autoTopUp.paymentMethodId',
          next.autoTopUpPaymentMethodId
            ? "The automatic top-up's payment method was deleted; name another one"
            : 'The account has no payment method for the automatic top-up; add one with POST /api/v1/billing/payment-methods',
        )
      }
    }
    return next
  }

  /**
   * The processor's customer for the account, created once and kept on the billing account
   * (`stripeCustomerId` for Stripe). Creation is idempotent at the processor by the account id,
   * so two concurrent first uses end with one customer.
   */
  async customerRef(userId: string, processor: PaymentProcessor): Promise<string | null> {
    if (processor.name !== 'stripe') return null
    const account = await this.ensure(userId)
    if (account.stripeCustomerId) return account.stripeCustomerId
    const u = await this.db.select({ email: users.email }).from(users).where(eq(users.id, userId)).get()
    if (!u) throw new NotFound('User')
    const ref = await processor.createCustomer({ userId, email: u.email })
    await this.db
      .update(billingAccounts)
      .set({ stripeCustomerId: ref, updatedAt: new Date() })
      .where(and(eq(billingAccounts.userId, userId), isNull(billingAccounts.stripeCustomerId)))
      .run()
    const after = await this.db.select({ ref: billingAccounts.stripeCustomerId }).from(billingAccounts).where(eq(billingAccounts.userId, userId)).get()
    return after?.ref ?? ref
  }

  /** The customer already on file (charges never create one). */
  async existingCustomerRef(userId: string, processor: string): Promise<string | null> {
    if (processor !== 'stripe') return null
    const row = await this.db.select({ ref: billingAccounts.stripeCustomerId }).from(billingAccounts).where(eq(billingAccounts.userId, userId)).get()
    return row?.ref ?? null
  }
}

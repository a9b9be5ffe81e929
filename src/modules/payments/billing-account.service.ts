/**
 * The billing account (seed 001 §6.1): one row per account, created on first use with the
 * defaults (monthly cycle, USD, auto-pay off). Its balance is the wallet's; its default payment
 * method is the payment method marked default; its active/suspended state is the user's.
 */
import { and, eq, isNull } from 'drizzle-orm'
import type { z } from '@hono/zod-openapi'
import { billingAccounts, paymentMethods, users } from '../../db/schema'
import { ValidationError, NotFound } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import type { CoreServices } from '../../services'
import { effectiveStatus } from '../auth/account-status'
import { nextMonthStart } from '../subscriptions/periods'
import type { PaymentProcessor } from '../../providers/payments/types'
import { BILLING_CYCLES, type BillingAccountView, type UpdateBillingAccountBody } from './schemas'

export type BillingAccount = typeof billingAccounts.$inferSelect

export class BillingAccountService {
  constructor(private readonly services: Pick<CoreServices, 'db' | 'wallet'>) {}

  private get db() {
    return this.services.db
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

  async view(userId: string, now = new Date()): Promise<z.infer<typeof BillingAccountView>> {
    const account = await this.ensure(userId)
    const [[user, defaultMethod], balance] = await Promise.all([
      this.db.batch([
        this.db.select({ status: users.status, statusReason: users.statusReason, suspendedUntil: users.suspendedUntil }).from(users).where(eq(users.id, userId)),
        this.db
          .select({ id: paymentMethods.id })
          .from(paymentMethods)
          .where(and(eq(paymentMethods.userId, userId), eq(paymentMethods.isDefault, true), isNull(paymentMethods.deletedAt))),
      ]),
      this.services.wallet.balance(userId),
    ])
    const u = user[0]
    if (!u) throw new NotFound('User')
    const status = effectiveStatus(u, now.getTime())
    const suspended = status === 'suspended' || status === 'banned'
    return {
      id: account.id,
      company: account.company,
      taxId: account.taxId,
      billingAddress: account.billingAddress as Record<string, string>,
      accountBalance: fromMicros(balance.balance),
      creditLimit: account.creditLimit === null ? null : fromMicros(account.creditLimit),
      currency: account.currency,
      autoPayEnabled: account.autoPayEnabled,
      defaultPaymentMethod: defaultMethod[0]?.id ?? null,
      billingCycle: account.billingCycle as (typeof BILLING_CYCLES)[number],
      nextBillingDate: iso(nextMonthStart(now)),
      isActive: status === 'active',
      isSuspended: suspended,
      suspensionReason: suspended ? u.statusReason : null,
      stripeCustomerId: account.stripeCustomerId,
      paypalCustomerId: account.paypalCustomerId,
      createdAt: iso(account.createdAt)!,
      updatedAt: iso(account.updatedAt)!,
    }
  }

  /** Only company, taxId, billingAddress, autoPayEnabled and billingCycle are writable. */
  async update(userId: string, body: UpdateBillingAccountBody): Promise<void> {
    await this.ensure(userId)
    const set: Partial<typeof billingAccounts.$inferInsert> = { updatedAt: new Date() }
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

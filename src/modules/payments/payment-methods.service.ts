/**
 * Payment methods (/api/v1/billing/payment-methods) and the one way to charge them.
 *
 * Invariants:
 * - Every query is scoped by `user_id`; another account's method is a 404.
 * - At most one default per account (partial unique index) and, while the account has an active
 *   method, exactly one: the first method added becomes the default (decided inside the INSERT,
 *   so two concurrent first adds cannot both or neither be default); making one default clears
 *   the others in the same batch; deleting the default promotes the newest remaining method in
 *   the same batch.
 * - Deleting is soft (`deleted_at`, `is_active` false) after detaching at the processor; a
 *   deleted method is never charged and reads as not found.
 * - `charge` is idempotent by `attemptKey` (the processor's idempotency key). It writes nothing:
 *   callers record the attempt in `payments` under the same key.
 */
import { and, desc, eq, isNull, ne, sql, count } from 'drizzle-orm'
import { paymentMethods } from '../../db/schema'
import { AppError, NotFound, UpstreamError, ValidationError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import type { Db } from '../../db/client'
import { processorName } from '../../providers/payments/registry'
import type { PaymentProcessor } from '../../providers/payments/types'
import { runBatch, type Stmt } from '../../db/batch'
import type { BillingAccountService } from './billing-account.service'
import { PAYMENT_METHOD_TYPES, type AddPaymentMethodBody, type PaymentMethodType } from './schemas'
import type { RequestContext } from '../../lib/context'

export type PaymentMethodRow = typeof paymentMethods.$inferSelect

export type ChargeResult = { ok: true; processor: string; processorRef: string; paymentMethodId: string } | { ok: false; processor: string; paymentMethodId: string; failureReason: string }

export interface ChargeInput {
  paymentMethodId?: string
  /** Micro-units, whole cents. */
  amount: number
  currency: string
  attemptKey: string
  description: string
}

/** `charge` with what the processor said beyond the ChargeResult (its codes) and the method charged. */
export interface DetailedCharge {
  result: ChargeResult
  method: PaymentMethodRow
  code?: string
  declineCode?: string
}

const TYPE_ALIASES: Record<string, PaymentMethodType> = { card: 'credit_card' }

const live = (userId: string) => and(eq(paymentMethods.userId, userId), isNull(paymentMethods.deletedAt))

export interface PaymentMethodsDeps {
  db: Db
  accounts: Pick<BillingAccountService, 'customerRef' | 'existingCustomerRef'>
  /** The payment processor of that name (providers/payments/registry.ts). */
  processor: (name: string) => PaymentProcessor
}

export class PaymentMethodsService {
  private readonly accounts: PaymentMethodsDeps['accounts']

  constructor(private readonly deps: PaymentMethodsDeps) {
    this.accounts = deps.accounts
  }

  private get db() {
    return this.deps.db
  }

  private processor(name: string): PaymentProcessor {
    return this.deps.processor(name)
  }

  /** The account's active methods: the default first, then newest first. */
  async list(ctx: RequestContext, page: number, limit: number): Promise<{ rows: PaymentMethodRow[]; total: number }> {
    const userId = ctx.accountId
    const [rows, totals] = await this.db.batch([
      this.db
        .select()
        .from(paymentMethods)
        .where(live(userId))
        .orderBy(desc(paymentMethods.isDefault), desc(paymentMethods.createdAt), desc(paymentMethods.id))
        .limit(limit)
        .offset((page - 1) * limit),
      this.db.select({ n: count() }).from(paymentMethods).where(live(userId)),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  async get(userId: string, id: string): Promise<PaymentMethodRow> {
    const row = await this.db
      .select()
      .from(paymentMethods)
      .where(and(live(userId), eq(paymentMethods.id, id)))
      .get()
    if (!row) throw new NotFound('Payment method')
    return row
  }

  async add(ctx: RequestContext, body: AddPaymentMethodBody): Promise<PaymentMethodRow> {
    const userId = ctx.accountId
    const requested = body.type.trim().toLowerCase()
    const type = TYPE_ALIASES[requested] ?? (PAYMENT_METHOD_TYPES as readonly string[]).find((t) => t === requested)
    if (!type) throw ValidationError.field('type', `type must be one of ${[...PAYMENT_METHOD_TYPES, 'card'].join(', ')}`)
    const name = processorName(body.processor)
    const processor = this.processor(name)
    const customer = await this.accounts.customerRef(userId, processor)
    const details = await processor.createMethod(body.token.trim(), customer)
    if ((details.type === 'bank_account') !== (type === 'bank_account')) {
      throw ValidationError.field('type', `The token is for a ${details.type === 'card' ? 'card' : 'bank account'}, not a ${type}`)
    }

    const now = new Date()
    const id = newId('pm', now.getTime())
    const noDefault = sql`not exists (select 1 from ${paymentMethods} where ${and(live(userId), eq(paymentMethods.isDefault, true))})`
    const stmts: Stmt[] = []
    if (body.makeDefault) {
      stmts.push(
        this.db
          .update(paymentMethods)
          .set({ isDefault: false, updatedAt: now })
          .where(and(live(userId), eq(paymentMethods.isDefault, true))),
      )
    }
    stmts.push(
      this.db.insert(paymentMethods).values({
        id,
        userId,
        type,
        processor: name,
        processorRef: details.processorRef,
        last4: details.last4,
        brand: details.brand,
        expiryMonth: details.expiryMonth,
        expiryYear: details.expiryYear,
        bankName: details.bankName,
        accountType: details.accountType,
        billingAddress: body.billingAddress ?? null,
        // The first method of the account is its default, decided when the row is written.
        isDefault: body.makeDefault ? true : sql`(${noDefault})`,
        isVerified: details.verified,
        isActive: true,
        createdAt: now,
        updatedAt: now,
      }),
    )
    await runBatch(this.db, stmts)
    return this.get(userId, id)
  }

  /** Makes `id` the default; the previous default stops being one in the same batch. */
  async setDefault(ctx: RequestContext, id: string): Promise<PaymentMethodRow> {
    const userId = ctx.accountId
    await this.get(userId, id)
    const now = new Date()
    const targetLive = sql`exists (select 1 from ${paymentMethods} where ${and(live(userId), eq(paymentMethods.id, id))})`
    await runBatch(this.db, [
      this.db
        .update(paymentMethods)
        .set({ isDefault: false, updatedAt: now })
        .where(and(live(userId), eq(paymentMethods.isDefault, true), ne(paymentMethods.id, id), targetLive)),
      this.db
        .update(paymentMethods)
        .set({ isDefault: true, updatedAt: now })
        .where(and(live(userId), eq(paymentMethods.id, id))),
    ])
    return this.get(userId, id)
  }

  /**
   * Detaches the method at its processor, then deletes it (soft). When it was the default, the
   * newest remaining method becomes the default. Returns the default afterwards.
   */
  async remove(ctx: RequestContext, id: string): Promise<{ defaultPaymentMethod: string | null }> {
    const userId = ctx.accountId
    const method = await this.get(userId, id)
    await this.processorFor(method).detach(method.processorRef)
    const now = new Date()
    const newest = sql`(select ${paymentMethods.id} from ${paymentMethods} where ${and(live(userId), ne(paymentMethods.id, id))} order by ${paymentMethods.createdAt} desc, ${paymentMethods.id} desc limit 1)`
    const noDefault = sql`not exists (select 1 from ${paymentMethods} where ${and(live(userId), eq(paymentMethods.isDefault, true))})`
    await runBatch(this.db, [
      this.db
        .update(paymentMethods)
        .set({ deletedAt: now, isActive: false, isDefault: false, updatedAt: now })
        .where(and(live(userId), eq(paymentMethods.id, id))),
      this.db
        .update(paymentMethods)
        .set({ isDefault: true, updatedAt: now })
        .where(and(live(userId), eq(paymentMethods.id, newest), noDefault)),
    ])
    const d = await this.db
      .select({ id: paymentMethods.id })
      .from(paymentMethods)
      .where(and(live(userId), eq(paymentMethods.isDefault, true)))
      .get()
    return { defaultPaymentMethod: d?.id ?? null }
  }

  /**
   * The method a charge uses: `paymentMethodId` (404 when unknown, another account's or
   * deleted), else the default (else the newest). 400 when the account has no method at all.
   */
  async resolve(userId: string, paymentMethodId?: string): Promise<PaymentMethodRow> {
    if (paymentMethodId) return this.get(userId, paymentMethodId)
    const row = await this.db.select().from(paymentMethods).where(live(userId)).orderBy(desc(paymentMethods.isDefault), desc(paymentMethods.createdAt), desc(paymentMethods.id)).limit(1).get()
    if (!row) throw ValidationError.field('paymentMethodId', 'The account has no payment method; add one with POST /api/v1/billing/payment-methods')
    return row
  }

  /** Charges a payment method of the account (its default when paymentMethodId is omitted). Idempotent by attemptKey. Throws NotFound('Payment method') for an unknown/foreign/deleted id, ValidationError when there is no method at all. */
  async charge(userId: string, input: ChargeInput): Promise<ChargeResult> {
    return (await this.chargeDetailed(userId, input)).result
  }

  /**
   * Charges the account's method `paymentMethodId` even if it was deleted since: finishing an
   * attempt that began with it (same key, so the processor answers with the first charge).
   */
  async chargeRecorded(userId: string, input: ChargeInput & { paymentMethodId: string }): Promise<ChargeResult> {
    const m = await this.db
      .select()
      .from(paymentMethods)
      .where(and(eq(paymentMethods.userId, userId), eq(paymentMethods.id, input.paymentMethodId)))
      .get()
    if (!m) throw new NotFound('Payment method')
    return (await this.chargeDetailed(userId, input, m)).result
  }

  async chargeDetailed(userId: string, input: ChargeInput, method?: PaymentMethodRow): Promise<DetailedCharge> {
    const m = method ?? (await this.resolve(userId, input.paymentMethodId))
    const processor = this.processorFor(m)
    const customerRef = await this.accounts.existingCustomerRef(userId, m.processor)
    const outcome = await processor.charge({
      processorRef: m.processorRef,
      customerRef,
      amount: input.amount,
      currency: input.currency,
      idempotencyKey: input.attemptKey,
      description: input.description,
    })
    if (outcome.ok) return { result: { ok: true, processor: m.processor, processorRef: outcome.ref, paymentMethodId: m.id }, method: m }
    return {
      result: { ok: false, processor: m.processor, paymentMethodId: m.id, failureReason: outcome.reason },
      method: m,
      code: outcome.code,
      ...(outcome.declineCode ? { declineCode: outcome.declineCode } : {}),
    }
  }

  /** The processor of a stored method. A stripe method with Stripe no longer configured is a server fault, not the client's. */
  private processorFor(m: PaymentMethodRow): PaymentProcessor {
    try {
      return this.processor(m.processor)
    } catch (e) {
      if (e instanceof AppError && e.status === 400) throw new UpstreamError(m.processor, 'the payment processor is not configured on this server')
      throw e
    }
  }
}

/**
 * Invoices: generation for an account and month (usage billing), listing and details (the DID API),
 * overdue marking (billing cron).
 *
 * Invariants:
 * - One invoice per account and month: `invoices_user_month_uq`. Generating again returns the
 *   existing invoice and writes nothing; two concurrent generations both compute, one batch lands,
 *   the other hits the unique index and returns the winner's invoice.
 * - An invoice is written whole in one D1 batch: its row, its line items, the payment row of the
 *   prepaid lines (`prepaid_<invoiceId>`) and its events. Nothing else ever changes its lines.
 * - Prepaid usage (activations, DID purchases and DID monthly fees, taken from the wallet when they
 *   happened) is on the invoice and counted as paid from the start: `amountPaid` = their sum.
 * - Every query is scoped by `user_id`; another account's invoice is a 404.
 */
import { and, asc, count, desc, eq, gte, inArray, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { billingAccounts, invoiceLineItems, invoices, payments, phoneNumbers, subscriptionChanges, subscriptions, usageRecords } from '../../db/schema'
import { rangeEnd, rangeStart } from '../../lib/dates'
import { NotFound } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { errorText, insertChunks, runBatch, type Stmt } from '../../db/batch'
import { outboxInsert } from '../events/outbox'
import { composeInvoice, monthPeriod, type UsageGroup } from './invoice-compose'
import type { ListInvoicesQuery } from './schemas'
import { usageInvoiceView, type Invoice, type InvoiceLineRow, type InvoiceTotals, type Payment } from './invoice-views'
import type { RequestContext } from '../../lib/context'
import { DAY_MS } from '../../lib/time'

export interface InvoicesDeps {
  db: Db
  /** Tax added to every invoice's subtotal (BILLING_TAX_RATE_PERCENT; 0 = none). */
  taxRatePercent: number
}

const NUMBER_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'

/** `INV-YYYY-MM-XXXXXX`, six random characters without look-alikes. */
export function invoiceNumber(month: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6))
  return `INV-${month}-${[...bytes].map((b) => NUMBER_ALPHABET[b & 31]).join('')}`
}

/** An invoice becomes overdue the day after its due date. */
export const overdueFrom = (dueDate: number) => dueDate + DAY_MS

export type { InvoiceTotals }

export class InvoicesService {
  constructor(private readonly deps: InvoicesDeps) {}

  private get db() {
    return this.deps.db
  }

  async find(userId: string, month: string): Promise<Invoice | undefined> {
    return this.db
      .select()
      .from(invoices)
      .where(and(eq(invoices.userId, userId), eq(invoices.month, month)))
      .get()
  }

  // ---- generation ---------------------------------------------------------------------------

  /** The month's invoice, generated now unless it exists. 404 when there is nothing to invoice. */
  async generate(ctx: RequestContext, month: string, now = new Date()): Promise<{ invoice: Invoice; created: boolean }> {
    const userId = ctx.accountId
    const existing = await this.find(userId, month)
    if (existing) return { invoice: existing, created: false }

    const period = monthPeriod(month)
    const key = sql<
      string | null
    >`case when ${usageRecords.resourceType} = 'did_monthly' then ${usageRecords.resourceId} when ${usageRecords.resourceType} = 'subscription_proration' then ${usageRecords.id} end`
    const ofMonth = and(eq(usageRecords.userId, userId), eq(usageRecords.month, month))
    const [usage, subs, changes, accounts, numbers] = await this.db.batch([
      this.db
        .select({
          resourceType: usageRecords.resourceType,
          key,
          quantity: sql<number>`sum(${usageRecords.quantity})`,
          totalCost: sql<number>`sum(${usageRecords.totalCost})`,
          prepaidCost: sql<number>`sum(case when ${usageRecords.prepaid} then ${usageRecords.totalCost} else 0 end)`,
          unitPrice: sql<number>`max(${usageRecords.unitPrice})`,
          description: sql<string | null>`max(${usageRecords.description})`,
          occurredAt: sql<number>`min(${usageRecords.occurredAt})`,
        })
        .from(usageRecords)
        .where(ofMonth)
        .groupBy(usageRecords.resourceType, key),
      this.db.select().from(subscriptions).where(eq(subscriptions.userId, userId)),
      this.db.select().from(subscriptionChanges).where(eq(subscriptionChanges.userId, userId)).orderBy(asc(subscriptionChanges.at), asc(subscriptionChanges.id)),
      this.db.select({ billingAddress: billingAccounts.billingAddress }).from(billingAccounts).where(eq(billingAccounts.userId, userId)),
      this.db
        .select({ id: phoneNumbers.id, phoneNumber: phoneNumbers.phoneNumber })
        .from(phoneNumbers)
        .where(
          and(
            eq(phoneNumbers.userId, userId),
            inArray(
              phoneNumbers.id,
              this.db
                .select({ id: sql<string>`${usageRecords.resourceId}` })
                .from(usageRecords)
                .where(and(ofMonth, eq(usageRecords.resourceType, 'did_monthly'))),
            ),
          ),
        ),
    ])
    const sub = subs[0] ?? null
    const composed = composeInvoice({
      period,
      subscription: sub,
      changes: sub ? changes.filter((c) => c.subscriptionId === sub.id) : [],
      usage: usage.map(
        (g): UsageGroup => ({
          resourceType: g.resourceType,
          key: g.key,
          quantity: Number(g.quantity),
          totalCost: Number(g.totalCost),
          prepaidCost: Number(g.prepaidCost),
          unitPrice: Number(g.unitPrice),
          description: g.description,
          occurredAt: Number(g.occurredAt),
        }),
      ),
      numbers: new Map(numbers.map((n) => [n.id, n.phoneNumber])),
      taxRatePercent: this.deps.taxRatePercent,
    })
    if (composed.empty) throw new NotFound(`Usage data or a subscription for ${month}`)

    const id = newId('inv', now.getTime())
    const paid = composed.total - composed.prepaid <= 0
    const base: Invoice = {
      id,
      userId,
      invoiceNumber: '',
      month,
      status: paid ? 'paid' : 'pending',
      currency: 'USD',
      subtotal: composed.subtotal,
      tax: composed.tax,
      discount: 0,
      total: composed.total,
      amountPaid: composed.prepaid,
      paymentSeq: 0,
      subscriptionFee: composed.subscriptionFee,
      usageFee: composed.usageFee,
      breakdown: composed.breakdown,
      billingAddress: accounts[0]?.billingAddress ?? {},
      periodStart: new Date(period.start),
      periodEnd: new Date(period.lastDay),
      issueDate: now,
      dueDate: new Date(period.due),
      paidAt: paid ? now : null,
      createdAt: now,
      updatedAt: now,
    }
    const lineRows = composed.lines.map((l, position) => ({
      id: newId('inl', now.getTime()),
      invoiceId: id,
      userId,
      position,
      type: l.type,
      description: l.description,
      quantity: l.quantity,
      unitPrice: l.unitPrice,
      totalPrice: l.totalPrice,
      periodStart: new Date(period.start),
      periodEnd: new Date(period.lastDay),
      details: l.details,
    }))

    // A clash of invoice numbers (1 in ~10⁹) gets a new number; a clash of months is the other generation winning.
    for (let attempt = 1; ; attempt++) {
      const invoice = { ...base, invoiceNumber: invoiceNumber(month) }
      const stmts: Stmt[] = [this.db.insert(invoices).values(invoice)]
      for (const part of insertChunks(invoiceLineItems, lineRows)) stmts.push(this.db.insert(invoiceLineItems).values(part))
      if (composed.prepaid !== 0) {
        // Negative when the month's refunds of earlier purchases exceed its purchases: money already returned to the wallet.
        stmts.push(
          this.db.insert(payments).values({
            id: newId('pay', now.getTime()),
            userId,
            purpose: 'invoice',
            invoiceId: id,
            amount: composed.prepaid,
            currency: 'USD',
            status: 'succeeded',
            processor: 'wallet',
            paymentMethodId: 'wallet',
            attemptKey: `prepaid_${id}`,
            processedAt: now,
            createdAt: now,
            updatedAt: now,
          }),
        )
      }
      stmts.push(outboxInsert(this.db, { type: 'invoice.generated', userId, data: usageInvoiceView(invoice) }, now))
      if (paid) stmts.push(outboxInsert(this.db, { type: 'invoice.paid', userId, data: usageInvoiceView(invoice) }, now))
      try {
        await runBatch(this.db, stmts)
        return { invoice, created: true }
      } catch (e) {
        const winner = await this.find(userId, month)
        if (winner) return { invoice: winner, created: false }
        if (attempt < 3 && /invoice_number/.test(errorText(e))) continue
        throw e
      }
    }
  }

  // ---- reads --------------------------------------------------------------------------------

  /** GET /api/invoices: every invoice of the account, newest first. */
  async listAll(ctx: RequestContext): Promise<Invoice[]> {
    const userId = ctx.accountId
    return this.db.select().from(invoices).where(eq(invoices.userId, userId)).orderBy(desc(invoices.createdAt), desc(invoices.id)).all()
  }

  private listWhere(userId: string, q: ListInvoicesQuery): SQL {
    const conds: (SQL | undefined)[] = [eq(invoices.userId, userId)]
    if (q.status?.length) conds.push(inArray(invoices.status, q.status))
    if (q.dateFrom) conds.push(gte(invoices.issueDate, new Date(rangeStart(q.dateFrom))))
    if (q.dateTo) conds.push(lt(invoices.issueDate, new Date(rangeEnd(q.dateTo))))
    return and(...conds)!
  }

  /** GET /api/v1/billing/invoices: a page, the filtered count and the summary of the filtered set. */
  async list(ctx: RequestContext, q: ListInvoicesQuery, now = Date.now()): Promise<{ rows: Invoice[]; total: number; totals: InvoiceTotals }> {
    const userId = ctx.accountId
    const where = this.listWhere(userId, q)
    const dir = q.sortOrder === 'asc' ? asc : desc
    const column = { issueDate: invoices.issueDate, dueDate: invoices.dueDate, totalAmount: invoices.total }[q.sortBy]
    const open = sql`${invoices.status} in ('pending', 'partially_paid', 'overdue')`
    const late = sql`(${invoices.status} = 'overdue' or (${invoices.status} in ('pending', 'partially_paid') and ${invoices.dueDate} + ${DAY_MS} <= ${now}))`
    const [rows, totals] = await this.db.batch([
      this.db
        .select()
        .from(invoices)
        .where(where)
        .orderBy(dir(column), dir(invoices.id))
        .limit(q.limit)
        .offset((q.page - 1) * q.limit),
      this.db
        .select({
          n: count(),
          total: sql<number>`coalesce(sum(case when ${invoices.status} <> 'void' then ${invoices.total} else 0 end), 0)`,
          paid: sql<number>`coalesce(sum(case when ${invoices.status} <> 'void' then ${invoices.amountPaid} else 0 end), 0)`,
          outstanding: sql<number>`coalesce(sum(case when ${open} then max(${invoices.total} - ${invoices.amountPaid}, 0) else 0 end), 0)`,
          overdue: sql<number>`coalesce(sum(case when ${late} then max(${invoices.total} - ${invoices.amountPaid}, 0) else 0 end), 0)`,
        })
        .from(invoices)
        .where(where),
    ])
    const t = totals[0]
    return {
      rows,
      total: t?.n ?? 0,
      totals: {
        count: t?.n ?? 0,
        total: Number(t?.total ?? 0),
        paid: Number(t?.paid ?? 0),
        outstanding: Number(t?.outstanding ?? 0),
        overdue: Number(t?.overdue ?? 0),
      },
    }
  }

  /** The invoice with its lines and payments; 404 unless it is the caller's. */
  async load(ctx: RequestContext, id: string): Promise<{ invoice: Invoice; lines: InvoiceLineRow[]; payments: Payment[] }> {
    const userId = ctx.accountId
    const [rows, lines, pays] = await this.db.batch([
      this.db
        .select()
        .from(invoices)
        .where(and(eq(invoices.id, id), eq(invoices.userId, userId))),
      this.db
        .select()
        .from(invoiceLineItems)
        .where(and(eq(invoiceLineItems.invoiceId, id), eq(invoiceLineItems.userId, userId)))
        .orderBy(asc(invoiceLineItems.position)),
      this.db
        .select()
        .from(payments)
        .where(and(eq(payments.invoiceId, id), eq(payments.userId, userId)))
        .orderBy(asc(payments.createdAt), asc(payments.id)),
    ])
    const invoice = rows[0]
    if (!invoice) throw new NotFound('Invoice')
    return { invoice, lines, payments: pays }
  }

  // ---- cron ---------------------------------------------------------------------------------

  /** Open invoices past their due date become `overdue` (one UPDATE; a rerun finds none left). */
  async markOverdue(now: number): Promise<number> {
    const r = await this.db
      .update(invoices)
      .set({ status: 'overdue', updatedAt: new Date(now) })
      .where(and(inArray(invoices.status, ['pending', 'partially_paid']), lte(invoices.dueDate, new Date(now - DAY_MS))))
      .run()
    return r.meta.changes
  }
}

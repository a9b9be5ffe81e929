/** Orders as the DID API shows them: the list's summaries and one order's details. Money leaves as decimals. */
import type { z } from '@hono/zod-openapi'
import type { OrderItem } from '../../db/schema'
import { fromMicros, usd } from '../../lib/money'
import { iso } from '../../lib/time'
import { ITEM_TYPE, orderTotal, type OrderDetails, type OrdersSummary, type OrderSummary } from './order-schemas'
import type { ListedOrder, OrderRecord, OrderStats } from './orders.service'
import { splitItemError, type PlacedOrder } from './purchase.service'
import type { PurchaseResult } from './schemas'

function itemLine(i: { phoneNumber: string; setup: number; monthly: number }) {
  const unit = i.setup + i.monthly
  return {
    type: ITEM_TYPE,
    description: `Phone number ${i.phoneNumber} — setup ${usd(i.setup)} + first month ${usd(i.monthly)}`,
    quantity: 1,
    unitPrice: fromMicros(unit),
    totalPrice: fromMicros(unit),
  }
}

export function orderSummaryView({ order: o, items: list }: ListedOrder): z.infer<typeof OrderSummary> {
  return {
    id: o.id,
    orderNumber: o.orderNumber,
    type: o.type,
    status: o.status,
    totalAmount: orderTotal(o),
    chargedAmount: fromMicros(o.charged),
    refundedAmount: fromMicros(o.refunded),
    currency: o.currency,
    itemCount: list.length,
    paymentStatus: o.paymentStatus,
    createdAt: iso(o.createdAt)!,
    completedAt: iso(o.completedAt),
    items: list.map((i) => ({ ...itemLine(i), phoneNumber: i.phoneNumber, status: i.status })),
  }
}

export function ordersSummaryView(s: OrderStats): z.infer<typeof OrdersSummary> {
  return { totalOrders: s.orders, totalSpent: fromMicros(s.spent), pendingOrders: s.open, currency: 'USD' }
}

export function orderDetailsView(r: OrderRecord): OrderDetails {
  const { order: o, items, events, numbers } = r
  const method = (o.billing as { paymentMethodId?: unknown }).paymentMethodId
  const byMethod = typeof method === 'string' && method !== '' && method !== 'wallet'
  const total = orderTotal(o)
  const cancelled = [...events].reverse().find((e) => e.status === 'cancelled')
  return {
    id: o.id,
    orderNumber: o.orderNumber,
    type: o.type,
    status: o.status,
    subtotalAmount: total,
    taxAmount: 0,
    discountAmount: 0,
    totalAmount: total,
    chargedAmount: fromMicros(o.charged),
    refundedAmount: fromMicros(o.refunded),
    currency: o.currency,
    paymentStatus: o.paymentStatus,
    paymentMethod: byMethod ? method : 'wallet',
    paymentProcessor: byMethod ? r.methodProcessor : 'wallet',
    items: items.map((i) => ({ id: i.id, ...itemLine({ phoneNumber: i.phoneNumber, setup: i.setupPrice, monthly: i.monthlyPrice }), metadata: itemMetadata(i) })),
    numbers: numbers.map((n) => ({ id: n.id, phoneNumber: n.phoneNumber, status: n.status, activatedAt: n.status === 'pending' ? null : iso(n.purchasedAt) })),
    billingAddress: ((o.billing as { billingAddress?: Record<string, unknown> }).billingAddress ?? {}) as Record<string, unknown>,
    timeline: events.map((e) => ({ status: e.status, timestamp: iso(e.createdAt)!, note: e.message })),
    notes: o.notes,
    createdAt: iso(o.createdAt)!,
    updatedAt: iso(o.updatedAt)!,
    completedAt: iso(o.completedAt),
    cancelledAt: cancelled ? iso(cancelled.createdAt) : null,
  }
}

function itemMetadata(i: OrderItem): Record<string, unknown> {
  const req = i.request as { friendlyName?: string; metadata?: Record<string, unknown> }
  return {
    phoneNumber: i.phoneNumber,
    status: i.status,
    phoneNumberId: i.phoneNumberId,
    setupPrice: fromMicros(i.setupPrice),
    monthlyPrice: fromMicros(i.monthlyPrice),
    ...(req.friendlyName ? { friendlyName: req.friendlyName } : {}),
    ...splitItemError(i.error),
    ...(req.metadata ?? {}),
  }
}

/** A purchase's answer: the order with its total in dollars, each number's outcome, the counts, and where to go next. */
export function purchaseResultView(p: PlacedOrder, appUrl: string): PurchaseResult {
  const { order, results } = p
  const count = (s: PurchaseResult['results'][number]['status']) => results.filter((r) => r.status === s).length
  const firstId = results.find((r) => r.numberId)?.numberId
  return {
    order: { id: order.id, orderNumber: order.orderNumber, status: order.status, totalAmount: fromMicros(order.total), currency: order.currency },
    results,
    summary: { totalRequested: results.length, successful: count('SUCCESS'), failed: count('FAILED'), pending: count('PENDING') },
    nextSteps: {
      configurationUrl: `${appUrl}/api/v1/numbers${firstId ? `/${firstId}/configure` : ''}`,
      documentationUrl: `${appUrl}/docs`,
    },
  }
}

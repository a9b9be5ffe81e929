/**
 * Orders of the DID API. Amounts are decimals. `totalAmount` is what the order costs: the amount
 * held or due while it is open (pending, processing, payment_failed), the amount charged once it
 * is settled (only the numbers that were bought are charged). `chargedAmount` and
 * `refundedAmount` say what moved.
 */
import { z } from '@hono/zod-openapi'
import { type Order, orderItems } from '../../db/schema'
import { dateParam } from '../../lib/dates'
import { fromMicros } from '../../lib/money'
import { displayText } from '../../lib/text'
import { BillingAddress } from '../payments/schemas'
import { Billing, FriendlyName, listParam, NUMBER_STATUSES, NumberRouting, paymentMethodRef } from './schemas'
import { Instant, Money, money } from '../../lib/http'

export const ORDER_STATUSES = ['pending', 'processing', 'completed', 'partially_completed', 'failed', 'cancelled', 'payment_failed'] as const
export const PAYMENT_STATUSES = ['pending', 'held', 'paid', 'partially_refunded', 'refunded', 'failed'] as const
export const ORDER_TYPES = ['number_purchase'] as const
/** The item type of a DID; the aliases are accepted on input. */
export const ITEM_TYPE = 'number_purchase'
const ITEM_TYPE_ALIASES = ['number_purchase', 'number', 'phone_number', 'did', 'PHONE_NUMBER', 'NUMBER', 'DID', 'NUMBER_PURCHASE'] as const

const OPEN: ReadonlyArray<Order['status']> = ['pending', 'processing', 'payment_failed']
export const isOpen = (status: Order['status']) => OPEN.includes(status)
export const orderTotal = (o: Pick<Order, 'status' | 'total' | 'charged'>) => fromMicros(isOpen(o.status) ? o.total : o.charged)

export const ListOrdersQuery = z.object({
  page: z.coerce.number().int().min(1).default(1).openapi({ description: 'Page number, from 1' }),
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: 'Items per page (max 100)' }),
  status: listParam(ORDER_STATUSES, (s) => s.toLowerCase()),
  type: listParam(ORDER_TYPES, (s) => s.toLowerCase()),
  dateFrom: dateParam('Created at or after (a date means its start).').optional(),
  dateTo: dateParam('Created at or before (a date means its whole day).', '2026-11-30').optional(),
  sortBy: z.enum(['createdAt', 'totalAmount', 'status']).default('createdAt').openapi({ description: 'The field to sort by' }),
  sortOrder: z.enum(['asc', 'desc']).default('desc').openapi({ description: 'Ascending or descending' }),
})
export type ListOrdersQuery = z.infer<typeof ListOrdersQuery>

export const OrderIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'ord_01jd6q0000a1b2c3d4e5f6g7h8', description: 'The order id' }),
})

const ItemLine = z.object({
  type: z.string(),
  description: z.string(),
  quantity: z.number().int(),
  unitPrice: Money,
  totalPrice: Money,
})

export const OrderSummary = z
  .object({
    id: z.string(),
    orderNumber: z.string(),
    type: z.string(),
    status: z.enum(ORDER_STATUSES),
    totalAmount: Money,
    chargedAmount: Money,
    refundedAmount: Money,
    currency: z.string(),
    itemCount: z.number().int(),
    paymentStatus: z.enum(PAYMENT_STATUSES),
    createdAt: Instant,
    completedAt: Instant.nullable(),
    items: z.array(ItemLine.extend({ phoneNumber: z.string(), status: z.enum(orderItems.status.enumValues) })),
  })
  .openapi('OrderSummary')

export const OrdersSummary = z.object({ totalOrders: z.number().int(), totalSpent: Money, pendingOrders: z.number().int(), currency: z.string() }).openapi('OrdersSummary')

export const OrderDetails = z
  .object({
    id: z.string(),
    orderNumber: z.string(),
    type: z.string(),
    status: z.enum(ORDER_STATUSES),
    subtotalAmount: Money,
    taxAmount: Money,
    discountAmount: Money,
    totalAmount: Money,
    chargedAmount: Money,
    refundedAmount: Money,
    currency: z.string(),
    paymentStatus: z.enum(PAYMENT_STATUSES),
    paymentMethod: z.string().nullable(),
    paymentProcessor: z.string().nullable(),
    items: z.array(ItemLine.extend({ id: z.string(), metadata: z.record(z.string(), z.unknown()) })),
    numbers: z.array(z.object({ id: z.string(), phoneNumber: z.string(), status: z.enum(NUMBER_STATUSES), activatedAt: Instant.nullable() })),
    billingAddress: z.record(z.string(), z.unknown()),
    timeline: z.array(z.object({ status: z.string(), timestamp: Instant, note: z.string().optional() })),
    notes: z.string().nullable(),
    createdAt: Instant,
    updatedAt: Instant,
    completedAt: Instant.nullable(),
    cancelledAt: Instant.nullable(),
  })
  .openapi('OrderDetailsResponse')
export type OrderDetails = z.infer<typeof OrderDetails>

export const CreateOrderBody = z
  .object({
    items: z
      .array(
        z.object({
          type: z.enum(ITEM_TYPE_ALIASES).openapi({ description: 'A DID purchase: `number_purchase` (aliases: number, phone_number, did)' }),
          itemId: z.string().trim().min(1).max(64).optional().openapi({ description: 'The E.164 number, or its inventory id (`inv_…`). Required for number purchases.' }),
          quantity: z.number().int().min(1).max(1).default(1).openapi({ description: 'Always 1: each item is one specific number' }),
          customPrice: z
            .number()
            .positive()
            .max(100_000)
            .optional()
            .openapi(money({ description: 'Admins only: the whole first charge (setup + first month), USD' })),
          metadata: z.object({ friendlyName: FriendlyName.optional(), configuration: NumberRouting.optional() }).catchall(z.unknown()).optional(),
        }),
      )
      .min(1)
      .max(20),
    billing: Billing.extend({ billingAddress: BillingAddress.optional() }).optional(),
    autoComplete: z.boolean().optional().openapi({ description: 'true (default): pay and buy now. false: create a pending order; pay it with retry-payment.' }),
  })
  .openapi('CreateOrderRequest')
export type CreateOrderBody = z.infer<typeof CreateOrderBody>

export const CancelOrderBody = z.object({ reason: displayText({ min: 1, max: 500, multiline: true }), refundRequested: z.boolean().optional() }).openapi('CancelOrderRequest')

export const RetryPaymentBody = z
  .object({
    paymentMethodId: paymentMethodRef(
      'One of your payment methods, charged the total and added to the wallet before the order is paid from it. Default: the ' +
        'method the order was placed with, if any. `wallet`: the wallet alone.',
    ),
  })
  .openapi('RetryPaymentRequest')

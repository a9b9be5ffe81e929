import { z } from '@hono/zod-openapi'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import type { Balance, LedgerEntry } from './wallet.do'
import { Instant, money } from '../../lib/http'

/**
 * A user session or an API key. Typed wide on purpose: as an inferred literal it joins the route's
 * type, and with a nested list item schema TypeScript gives up and types `c.req.valid` as never.
 */
export const WalletBalance = z
  .object({
    balance: z.number().openapi(
      money({
        example: 25.5,
        description: 'Ledger balance in `currency`, including the money reserved by pending purchases (`reserved`)',
      }),
    ),
    currency: z.literal('USD'),
    reserved: z.number().openapi(money({ example: 1.5, description: 'Held for purchases in progress; captured or released when they end' })),
    available: z.number().openapi(money({ example: 24, description: '`balance − reserved`: what a new purchase can spend' })),
  })
  .openapi('WalletBalance')

export function balanceView(b: Balance): z.infer<typeof WalletBalance> {
  return { balance: fromMicros(b.balance), currency: b.currency, reserved: fromMicros(b.reserved), available: fromMicros(b.available) }
}

export const WalletTransaction = z
  .object({
    id: z.string().openapi({ example: 'txn_01jd6q0000a1b2c3d4e5f6g7h8' }),
    type: z.enum(['credit', 'debit', 'capture']).openapi({ description: "`credit` adds money; `debit` and `capture` (a purchase's hold charged) take it" }),
    amount: z.number().openapi(money({ example: -0.5, description: 'Signed: positive adds to the balance, negative takes from it' })),
    balanceAfter: z.number().openapi(money({ example: 25 })),
    reference: z
      .object({ type: z.string().openapi({ example: 'activation' }), id: z.string() })
      .nullable()
      .openapi({ description: 'What the money was for (an activation, an order, …), when known' }),
    description: z.string().nullable(),
    createdAt: Instant.openapi({ example: '2026-11-22T10:30:00.000Z' }),
  })
  .openapi('WalletTransaction')

export function transactionView(e: LedgerEntry): z.infer<typeof WalletTransaction> {
  return {
    id: e.id,
    type: e.type,
    amount: fromMicros(e.amount),
    balanceAfter: fromMicros(e.balanceAfter),
    reference: e.referenceType && e.referenceId ? { type: e.referenceType, id: e.referenceId } : null,
    description: e.description,
    createdAt: iso(e.createdAt)!,
  }
}

import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, money, ok } from '../../lib/http'
import { fromMicros, toMicros } from '../../lib/money'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { displayText } from '../../lib/text'
import { requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, IdempotencyKeyHeader } from '../../http/idempotency'
import { contextOf } from '../../http/authenticate'
import { balanceView, transactionView, WalletBalance, WalletTransaction } from './schemas'
import { topUp } from './wallet.service'

/** The largest single top-up, in currency units. */
const MAX_TOP_UP = 1_000_000

const Body = z
  .object({
    userId: z.string().min(1).max(64).openapi({ example: 'usr_01jd6q0000a1b2c3d4e5f6g7h8' }),
    amount: z
      .number()
      .positive()
      .max(MAX_TOP_UP)
      // Exactly representable in micro-units: 0.001 stays 0.001, 0.0000001 is refused rather than rounded away.
      .refine((x) => fromMicros(toMicros(x)) === x, { message: 'amount has at most 6 decimal places' })
      .openapi(money({ example: 25.5, description: `> 0, at most ${MAX_TOP_UP}` })),
    reason: displayText({ min: 3, max: 500, multiline: true }).openapi({ example: 'Bank transfer 2026-11-22' }),
  })
  .openapi('WalletTopUpRequest')

const TopUpResult = z.object({ userId: z.string(), transaction: WalletTransaction, balance: WalletBalance }).openapi('WalletTopUpResult')

const route = createRoute({
  method: 'post',
  path: '/api/wallet/topup',
  operationId: 'creditWallet',
  tags: ['wallet', 'admin'],
  summary: "Credit a user's wallet (admin)",
  description:
    'Admins only. Recorded in the audit log (`wallet.topup`, target the user, ' +
    'details `{amount, reason, entryId}`). Send an `Idempotency-Key`: a retry with the same key and body answers the ' +
    'first response (`Idempotent-Replayed: true`) and never credits twice; without one every call is a new credit. ' +
    'The credit is made before the audit entry is written (the wallet is not in D1, so they cannot share a ' +
    'transaction); a retry with the same key writes an entry that a failure left missing.',
  middleware: [rateClass('general'), idempotent(), requireAuth({ admin: true })] as const,
  security: [{ bearerAuth: [] }],
  request: { headers: IdempotencyKeyHeader, body: jsonBody(Body) },
  responses: { 200: ok(TopUpResult, 'The credit and the new balance'), ...errorResponses, ...idempotencyErrorResponses },
})

export const registerTopUpWallet = (r: Router) =>
  r.openapi(route, async (c) => {
    const body = c.req.valid('json')
    const { entry, balance } = await topUp(c.var.services, contextOf(c), {
      userId: body.userId,
      amount: toMicros(body.amount),
      reason: body.reason,
      idempotencyKey: c.req.valid('header')['idempotency-key'],
    })
    return c.json(envelope(c, { userId: body.userId, transaction: transactionView(entry), balance: balanceView(balance) }), 200)
  })

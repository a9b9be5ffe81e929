/**
 * The purchase flow's steps outside D1, which purchase.service.ts runs in order: the NumberLocks
 * (reserve before paying, keep what was bought, let go of the rest), the money (a payment
 * method's top-up, the wallet hold and its capture or void) and each number's upstream purchase.
 */
import { and, eq, inArray, ne } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { errorText } from '../../db/batch'
import { phoneNumbers, type Provider } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import { AppError, InsufficientBalance, UpstreamError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import type { RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'
import { usd } from '../../lib/money'
import { MICROS_PER_CENT } from '../../providers/payments/types'
import type { DidProvider } from '../../providers/numbers/types'
import type { NumberLockService } from '../number-locks/number-lock.service'
import type { TopUpService } from '../payments/top-up.service'
import type { ProvidersService } from '../providers/providers.service'
import { orThrow, type WalletService } from '../wallet/wallet.service'
import { failed, type Line } from './purchase-lines'

/** How long a purchase holds each number's lock: long enough for the upstream calls. */
export const PURCHASE_LOCK_MS = 5 * 60_000
/** The wallet hold outlives the locks; if the flow dies, the alarm settles it from hold_outcomes. */
export const PURCHASE_HOLD_TTL_MS = 15 * 60_000
/** What a PENDING number's `estimatedActivation` promises. */
const PENDING_ACTIVATION_MS = 24 * 3_600_000

// ---- NumberLocks ---------------------------------------------------------------------------

/** NumberLock reserve for every available line, all at once (one object per number). */
export async function reserveAll(locks: NumberLockService, userId: string, lines: Line[]) {
  await Promise.all(
    lines
      .filter((l) => l.inv)
      .map(async (l) => {
        try {
          // An own reservation may have more than 5 minutes left; renewing keeps the longer of the two.
          const state = l.ownReservation ? await locks.of(l.req.phoneNumber).state() : null
          const left = state && state.holder === userId && state.expiresAt ? state.expiresAt - Date.now() : 0
          const r = await locks.of(l.req.phoneNumber).reserve(userId, Math.max(PURCHASE_LOCK_MS, left))
          if (r.ok) l.reserved = true
          else {
            l.ownReservation = false
            l.result = failed(l.req.phoneNumber, 'NUMBER_NOT_AVAILABLE', 'The number is reserved by another account')
          }
        } catch (e) {
          logger.error('purchase: number lock unreachable', { phoneNumber: l.req.phoneNumber, error: errorText(e) })
          l.result = failed(l.req.phoneNumber, 'NUMBER_NOT_AVAILABLE', 'The number could not be reserved; try again')
        }
      }),
  )
}

/** Bought numbers stay held for good; the others are let go, unless still the account's (own reservation, or live in D1). */
export async function settleLocks(db: Db, locks: NumberLockService, userId: string, buying: Line[]) {
  const bought = buying.filter((l) => l.result?.status !== 'FAILED')
  let toRelease = buying.filter((l) => l.result?.status === 'FAILED' && !l.ownReservation && !l.conflict)
  if (toRelease.length) {
    const live = await db
      .select({ phoneNumber: phoneNumbers.phoneNumber })
      .from(phoneNumbers)
      .where(
        and(
          eq(phoneNumbers.userId, userId),
          inArray(
            phoneNumbers.phoneNumber,
            toRelease.map((l) => l.req.phoneNumber),
          ),
          ne(phoneNumbers.status, 'released'),
        ),
      )
      .all()
    const owned = new Set(live.map((r) => r.phoneNumber))
    toRelease = toRelease.filter((l) => !owned.has(l.req.phoneNumber))
  }
  await Promise.all([
    ...bought.map(async (l) => {
      const lock = locks.of(l.req.phoneNumber)
      try {
        let r = await lock.confirm(userId)
        // The 5-minute hold ran out during a slow purchase: take it again, then keep it.
        if (!r.ok && r.reason === 'NOT_HELD') {
          const again = await lock.reserve(userId, PURCHASE_LOCK_MS)
          if (again.ok) r = await lock.confirm(userId)
        }
        if (!r.ok) logger.error('purchase: bought number lock not confirmed', { phoneNumber: l.req.phoneNumber, reason: r.reason })
      } catch (e) {
        logger.error('purchase: number lock unreachable', { phoneNumber: l.req.phoneNumber, error: errorText(e) })
      }
    }),
    releaseLocks(locks, userId, toRelease),
  ])
}

/** Lets go of the lines' NumberLocks; a failure is logged (the timed lock lapses by itself). */
export async function releaseLocks(locks: NumberLockService, userId: string, lines: Line[]) {
  await Promise.all(
    lines.map((l) =>
      locks
        .of(l.req.phoneNumber)
        .release(userId)
        .catch((e: unknown) => logger.error('purchase: lock release failed', { phoneNumber: l.req.phoneNumber, error: errorText(e) })),
    ),
  )
}

// ---- the upstream ----------------------------------------------------------------------------

/**
 * Buys each reserved line from its provider, one after the other, and sets its outcome: SUCCESS
 * or PENDING (the upstream accepted it), PENDING and `unconfirmed` (no answer: it may have bought
 * it), FAILED otherwise (`goneUpstream` when the provider no longer has the number).
 */
export async function buyUpstream(deps: { providers: ProvidersService; appUrl: string }, buying: Line[], providerRows: Provider[]) {
  const byId = new Map(providerRows.map((p) => [p.id, p]))
  const adapters = new Map<string, DidProvider | undefined>()
  for (const l of buying) {
    const p = byId.get(l.inv!.providerId)
    if (p?.status !== 'active') {
      l.result = failed(l.req.phoneNumber, 'PROVIDER_UNAVAILABLE', "The number's provider is not available")
      continue
    }
    try {
      if (!adapters.has(p.id)) adapters.set(p.id, deps.providers.adapters(p).did)
      const did = adapters.get(p.id)
      if (!did) throw new UpstreamError(p.code, 'provider sells no DIDs')
      const routing = { ...l.req.defaultRouting, ...l.req.configuration }
      // The upstream sends the number's SMS to us (stored, billed, turned into events); the
      // customer's own smsUrl is reached from there, by the webhook fan-out.
      const inbound = `${deps.appUrl}/api/v1/webhooks/sms?provider=${encodeURIComponent(p.code)}`
      const r = await did.purchase(l.req.phoneNumber, { smsUrl: inbound, voiceUrl: routing.voiceUrl, friendlyName: l.req.friendlyName })
      l.upstreamId = r.upstreamId
      l.numberId = newId('pn')
      l.result =
        r.status === 'active'
          ? { phoneNumber: l.req.phoneNumber, status: 'SUCCESS', numberId: l.numberId }
          : { phoneNumber: l.req.phoneNumber, status: 'PENDING', numberId: l.numberId, estimatedActivation: new Date(Date.now() + PENDING_ACTIVATION_MS).toISOString() }
    } catch (e) {
      if (outcomeUnknown(e)) {
        // Not a refusal: the purchase may have gone through. The number stays ours and its price
        // held until the sweeper looks it up (confirm-purchases.job.ts): captured if bought, released if not.
        l.unconfirmed = true
        l.numberId = newId('pn')
        l.result = { phoneNumber: l.req.phoneNumber, status: 'PENDING', numberId: l.numberId, message: UNCONFIRMED_MESSAGE }
        continue
      }
      const gone = e instanceof AppError && e.code === 'NO_NUMBERS_AVAILABLE'
      l.goneUpstream = gone
      l.result = failed(l.req.phoneNumber, gone ? 'NUMBER_NOT_AVAILABLE' : 'UPSTREAM_ERROR', e instanceof AppError ? e.message : 'The provider failed')
    }
  }
}

/** What a number whose purchase got no answer says in the order's results. */
export const UNCONFIRMED_MESSAGE = 'The provider did not answer in time; the purchase is being confirmed with it, and the price stays held until then'

/** A failure after which the upstream may still have done it: no answer (timeout) or a broken connection. */
export function outcomeUnknown(e: unknown): boolean {
  const reason = e instanceof AppError && e.code === 'UPSTREAM_ERROR' ? (e.details as { reason?: unknown } | undefined)?.reason : undefined
  return reason === 'timeout' || reason === 'network'
}

// ---- money ---------------------------------------------------------------------------------

/**
 * An order paid by a payment method: the method is charged `total` (rounded up to whole cents,
 * which processors need) as a wallet top-up — its own `payments` row, the processor's
 * idempotency key, the wallet credit — so the hold that follows finds the money. `attempt` names
 * the payment (from the request's Idempotency-Key when it has one), so a retried request finds
 * the payment it made and never charges twice — even when the total changed in between (a
 * number sold or freed since the first try, which ended in a 5xx): the earlier payment counts,
 * and only a larger total charges the difference (TopUpService.topUpAtLeast). Nothing to do
 * without a method, for `wallet` or for a free order. Throws 402 PAYMENT_FAILED (declined), 404 (not one of the account's methods),
 * 502 (processor unreachable: the payment stays pending until a retry or the sweeper ends it).
 */
export async function payByMethod(topUps: Pick<TopUpService, 'topUpAtLeast'>, ctx: RequestContext, o: { total: number; paymentMethodId?: string; attempt: string }) {
  if (!o.paymentMethodId || o.paymentMethodId === WALLET || o.total <= 0) return
  const amount = Math.ceil(o.total / MICROS_PER_CENT) * MICROS_PER_CENT
  await topUps.topUpAtLeast(ctx, { amount, paymentMethodId: o.paymentMethodId, attemptKey: `orderpay_${o.attempt}` })
}

/** Reserves an order's total in the wallet (nothing for a free order). Throws INSUFFICIENT_BALANCE. */
export async function holdFor(wallet: WalletService, userId: string, o: { orderId: string; orderNumber: string; holdId: string; total: number; count: number }) {
  if (o.total <= 0) return
  const r = await wallet.hold(userId, {
    opId: o.holdId,
    amount: o.total,
    ttlMs: PURCHASE_HOLD_TTL_MS,
    reference: { type: 'order', id: o.orderId },
    description: `Order ${o.orderNumber}: ${o.count} number(s)`,
  })
  orThrow(r, o.total, 'The payment could not be reserved')
}

/** Capture what was bought, or release the whole hold. Failures are logged: the alarm settles from hold_outcomes. */
export async function settleHold(wallet: WalletService, userId: string, holdId: string, charged: number) {
  try {
    const r = charged > 0 ? await wallet.capture(userId, { opId: `capture_${holdId}`, holdId, amount: charged }) : await wallet.void(userId, { opId: `void_${holdId}`, holdId })
    if (!r.ok) logger.error('purchase: hold not settled', { holdId, reason: r.reason })
  } catch (e) {
    logger.error('purchase: wallet unreachable while settling', { holdId, error: errorText(e) })
  }
}

/** `billing.paymentMethodId` of a request or an order: paying by a payment method instead of the wallet. */
const WALLET = 'wallet'
export function methodOf(billing: Record<string, unknown> | undefined): string | undefined {
  const id = billing?.paymentMethodId
  return typeof id === 'string' && id ? id : undefined
}

/** A payment attempt's name derived from the request's Idempotency-Key (the same key, the same attempt). */
export async function derivedKey(scope: string, key: string, what: string): Promise<string> {
  return (await sha256Hex(`${scope}\n${key}\n${what}`)).slice(0, 40)
}

/** The timeline's words for a declined charge. */
export function declinedNote(e: AppError, total: number): string {
  const reason = (e.details as { failureReason?: unknown } | undefined)?.failureReason
  return `the payment method was declined for ${usd(total)}${typeof reason === 'string' && reason ? ` (${reason})` : ''}`
}

/** A declined payment's 402, naming the order that waits for the money. */
export function withOrder(e: AppError, extra: Record<string, unknown>): AppError {
  return new AppError(e.status, e.code, e.message, { ...(e.details as Record<string, unknown> | undefined), ...extra })
}

/** 400 INSUFFICIENT_BALANCE (amounts shown as decimals) and the order that waits for the money. */
export function insufficient(required: number, available: number, extra: Record<string, unknown>) {
  return new InsufficientBalance(required, available, extra)
}

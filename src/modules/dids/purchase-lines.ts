/**
 * The lines of a DID order: one requested number on its way through the purchase flow
 * (purchase.service.ts) — what it costs, whether it was reserved and bought, its outcome — and the
 * pure helpers the flow's files share (order numbers, the first renewal date).
 */
import type { DidInventory, OrderItem } from '../../db/schema'
import { newId } from '../../lib/ids'
import type { PurchaseResult } from './schemas'

export interface NumberRequest {
  phoneNumber: string
  friendlyName?: string
  configuration?: { voiceUrl?: string; voiceMethod?: string; smsUrl?: string; statusCallback?: string }
  /** Admin-only price of the whole first charge (setup + first month), micro-units. */
  customPrice?: number
  metadata?: Record<string, unknown>
  /** The order's defaultRouting, kept with each item so that a payment retry applies it too. */
  defaultRouting?: DefaultRouting
}

export interface DefaultRouting {
  voiceUrl: string
  voiceMethod: string
  voiceFallbackUrl?: string
  statusCallback?: string
  recordCalls?: boolean
  transcribeCalls?: boolean
  callScreening?: boolean
}

export type ResultStatus = 'SUCCESS' | 'FAILED' | 'PENDING'
export type Outcome = PurchaseResult['results'][number]

/** One requested number on its way through the flow. */
export interface Line {
  itemId: string
  req: NumberRequest
  inv: DidInventory | null
  /** What this order charges for it: setup + first month (a customPrice is all setup). */
  setup: number
  monthly: number
  ownReservation: boolean
  reserved: boolean
  /** Bought upstream but refused by D1 (another live row holds it): never released upstream. */
  conflict: boolean
  goneUpstream: boolean
  /** The upstream never answered (timeout, network): it may have bought the number. PENDING until looked up. */
  unconfirmed: boolean
  upstreamId?: string
  numberId?: string
  result?: Outcome
}

export interface OrderRef {
  id: string
  orderNumber: string
  holdId: string
  /** False when nothing had to be paid (a zero total): there is no hold to settle. */
  held: boolean
  currency: string
}

export const failed = (phoneNumber: string, error: string, message: string): Outcome => ({ phoneNumber, status: 'FAILED', error, message })
export const price = (l: Line) => l.setup + l.monthly

/** The same day next month (the month's last day when it has fewer days): the first renewal. */
export function addMonth(now: number): Date {
  const d = new Date(now)
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()))
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate()
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay))
  return target
}

export function newOrderNumber(now: number): string {
  const d = new Date(now).toISOString().slice(0, 10).replace(/-/g, '')
  return `ORD-${d}-${newId('x', now).slice(-8).toUpperCase()}`
}

/** A line per requested number, priced from its order item (a retry) or its inventory row; FAILED when it is not for sale. */
export function linesOf(entries: { req: NumberRequest; item: OrderItem | null }[], inv: DidInventory[], own: Set<string>): Line[] {
  const byPhone = new Map(inv.map((r) => [r.phoneNumber, r]))
  const t = Date.now()
  // Item ids carry increasing times, so the order's items sort as they were requested.
  return entries.map(({ req, item }, i) => {
    const row = byPhone.get(req.phoneNumber)
    const available = row && row.status === 'available' ? row : null
    const custom = req.customPrice
    const line: Line = {
      itemId: item?.id ?? newId('oit', t + i),
      req,
      inv: available,
      setup: item ? item.setupPrice : custom !== undefined ? custom : (available?.setupPrice ?? 0),
      monthly: item ? item.monthlyPrice : custom !== undefined ? 0 : (available?.monthlyPrice ?? 0),
      ownReservation: own.has(req.phoneNumber),
      reserved: false,
      conflict: false,
      goneUpstream: false,
      unconfirmed: false,
    }
    if (!available) line.result = failed(req.phoneNumber, 'NUMBER_NOT_AVAILABLE', row ? 'The number has already been sold' : 'The number is not in the inventory')
    return line
  })
}

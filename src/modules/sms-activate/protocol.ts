/**
 * The words and formats of the handler_api.php protocol: how a refusal or an engine error reads,
 * how money and instants print. Clients parse these answers literally (`WORD` or `WORD:arg`, a
 * dot and two decimals, ids and phones as bare digits), so they live in one place.
 */
import { InsufficientBalance, NoNumbersAvailable, NotFound, Unauthorized, UpstreamError } from '../../lib/errors'

/** A refusal the protocol names: `word`, or `word:arg`. */
export class Refusal extends Error {
  constructor(
    readonly word: string,
    readonly arg?: string | number,
  ) {
    super(word)
    this.name = 'Refusal'
  }

  get answer(): string {
    return this.arg === undefined ? this.word : `${this.word}:${typeof this.arg === 'number' ? cost(this.arg) : this.arg}`
  }
}

/** The protocol's answer to a server-side failure ("sql-server error"). */
export const SERVER_ERROR = 'ERROR_SQL'

/**
 * The protocol's answer to an error: a refusal's own word; the engine's refusals by their
 * meaning; anything unexpected is ERROR_SQL, the protocol's server error.
 */
export function wordOf(e: unknown): string {
  if (e instanceof Refusal) return e.answer
  if (e instanceof InsufficientBalance) return 'NO_BALANCE'
  if (e instanceof NoNumbersAvailable) return 'NO_NUMBERS'
  // No offer for the service in the country: nothing to sell, as the protocol says it.
  if (e instanceof NotFound) return 'NO_NUMBERS'
  if (e instanceof UpstreamError) {
    // An upstream of the same protocol that refuses an early cancel: its word, unchanged.
    const upstream = (e.details as { upstreamCode?: unknown } | undefined)?.upstreamCode
    if (upstream === 'EARLY_CANCEL_DENIED') return 'EARLY_CANCEL_DENIED'
    return SERVER_ERROR
  }
  if (e instanceof Unauthorized) return 'BAD_KEY'
  return SERVER_ERROR
}

/** A price: dollars with a dot and two decimals, rounded to the nearest cent. */
export function cost(micros: number): string {
  return (Math.round(micros / 10_000) / 100).toFixed(2)
}

/** A price as a JSON number (two decimals at most). */
export function costNumber(micros: number): number {
  return Math.round(micros / 10_000) / 100
}

/** A balance: dollars with a dot and two decimals, rounded down — never more than the wallet holds. */
export function balance(micros: number): string {
  return (Math.floor(Math.max(0, micros) / 10_000) / 100).toFixed(2)
}

/** An instant as the protocol prints it (`2022-06-01 17:30:57`), in UTC. */
export function instant(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ')
}

/** The protocol's ban date format (`YYYY-m-d H-i-s`, as documented), in UTC. */
export function banUntil(d: Date): string {
  const iso = d.toISOString()
  return `${iso.slice(0, 10)} ${iso.slice(11, 19).replaceAll(':', '-')}`
}

/** A phone as the protocol prints it: digits only, no `+`. */
export function digits(phone: string): string {
  return phone.replace(/\D/g, '')
}

/** ISO 4217 numeric code of the wallet's currency (USD), which the protocol's JSON answers carry as `currency`. */
export const CURRENCY_USD = 840

/**
 * Money is stored as integer micro-units (1 USD = 1,000,000) so prices like $0.001 stay exact.
 * The API shows decimals (`"balance": 25.50`).
 */
export const MICROS_PER_UNIT = 1_000_000

export function toMicros(amount: number): number {
  return Math.round(amount * MICROS_PER_UNIT)
}

export function fromMicros(micros: number): number {
  return micros / MICROS_PER_UNIT
}

/** Micro-units as dollars for messages and descriptions: `1_500_000` → `"$1.50"`. */
export const usd = (micros: number) => `$${fromMicros(micros).toFixed(2)}`

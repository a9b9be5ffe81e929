/**
 * Calendar-month periods (UTC). A period runs from the 1st at 00:00 up to (not including) the 1st
 * of the next month; the API shows its end as the last day of the month at 00:00
 * (`"currentPeriodEnd": "2025-11-30T00:00:00.000Z"`), which is what `displayEnd` is.
 */
export interface Period {
  /** The 1st of the month, 00:00 UTC. */
  start: Date
  /** The 1st of the next month, 00:00 UTC: the first instant after the period. */
  end: Date
  /** The last day of the month at 00:00 UTC (the `currentPeriodEnd` shown). */
  displayEnd: Date
  /** `YYYY-MM`. */
  month: string
}

/** `YYYY-MM`, the UTC month of an instant. */
export const monthOf = (at: Date | number) => new Date(at).toISOString().slice(0, 7)

/** The `YYYY-MM` before `month` (`2025-01` → `2024-12`). */
export function previousMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return monthOf(Date.UTC(y, m - 2, 1))
}

export function periodOf(at: Date | number): Period {
  const d = new Date(at)
  const y = d.getUTCFullYear()
  const m = d.getUTCMonth()
  return {
    start: new Date(Date.UTC(y, m, 1)),
    end: new Date(Date.UTC(y, m + 1, 1)),
    displayEnd: new Date(Date.UTC(y, m + 1, 0)),
    month: `${y}-${String(m + 1).padStart(2, '0')}`,
  }
}

/** The 1st of the month after `at`, 00:00 UTC. */
export function nextMonthStart(at: Date | number): Date {
  return periodOf(at).end
}

/**
 * `amount` (micro-units) × `remainingMs` / `periodMs`, rounded half-up to whole cents, in
 * micro-units. Exact: the product can exceed 2^53, so it is computed with BigInt.
 */
export function prorate(amount: number, remainingMs: number, periodMs: number): number {
  if (amount <= 0 || remainingMs <= 0 || periodMs <= 0) return 0
  const num = BigInt(amount) * BigInt(Math.min(remainingMs, periodMs))
  const den = BigInt(periodMs) * 10_000n
  const cents = (2n * num + den) / (2n * den)
  return Number(cents) * 10_000
}

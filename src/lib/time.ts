export const MINUTE_MS = 60_000
export const DAY_MS = 86_400_000

/** ISO-8601 text for an instant (Date or epoch ms); null stays null. */
export function iso(value: Date | number | null | undefined): string | null {
  if (value === null || value === undefined) return null
  return new Date(value).toISOString()
}

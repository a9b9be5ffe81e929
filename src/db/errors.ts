/** What a failed D1 statement says about its cause. */

/**
 * True when `e`, or an error it was caused by, is a UNIQUE constraint failure. Drizzle wraps the
 * D1 error, so the message may sit a few `cause`s down.
 */
export function isUniqueViolation(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    if (/UNIQUE constraint failed/i.test(String((x as Error).message ?? ''))) return true
  }
  return false
}

/**
 * The one-time code in an SMS: the first run of 4–8 digits that is not part of a longer number,
 * or a `123-456` split code (joined: `123456`). Longer digit runs and dashed numbers (phone
 * numbers like 1-800-555-0100) are skipped, so "Call 1-800-555-0100, code 4821" finds 4821;
 * a letter prefix is fine ("G-482913").
 */
const CODE = /(?<!\d-?)(?:(\d{3})-(\d{3})(?!-?\d)|(\d{4,8})(?!-?\d))/g

export function extractCode(text: string): string | null {
  for (const m of text.matchAll(CODE)) {
    if (m[1] && m[2]) return m[1] + m[2]
    if (m[3]) return m[3]
  }
  return null
}

/** A code the provider sent along (HeroSMS' `code`): digits kept, `123-456` joined; else from its text. */
export function normalizeCode(code: unknown): string | null {
  if (code === null || code === undefined) return null
  const s = String(code).trim()
  if (!s) return null
  return extractCode(s) ?? (/^[0-9A-Za-z-]{3,12}$/.test(s) ? s.replace(/-/g, '') : null)
}

/**
 * The one date schema of query parameters: list filters (`dateFrom`/`dateTo`) and analytics ranges
 * (`startDate`/`endDate`).
 *
 * Accepted: a calendar date `YYYY-MM-DD` (a whole UTC day), or an ISO 8601 date-time
 * `YYYY-MM-DDTHH:mm[:ss[.fraction]][Z|±HH:mm|±HHmm]` (no offset means UTC). Every part is checked
 * against the calendar and the clock — month 01–12, the days of that month (leap years counted),
 * hours 00–23, minutes and seconds 00–59, offsets up to ±23:59 — so `2026-13-45`, `2026-02-30`
 * and `T24:00` are refused, never turned into another day or into a filter that matches nothing.
 * Fractions beyond milliseconds are truncated.
 */
import { z } from '@hono/zod-openapi'
import { DAY_MS } from './time'

const FORMAT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/

export interface ParsedDate {
  /** The first instant (epoch ms) the text names: the day's midnight UTC, or the date-time itself. */
  instant: number
  /** True for a bare `YYYY-MM-DD`. */
  isDay: boolean
}

const daysInMonth = (y: number, m: number) => (m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31)

/** The date or date-time, or null when it is not one (malformed, or not on the calendar or clock). */
export function parseDate(text: string): ParsedDate | null {
  const m = FORMAT.exec(text)
  if (!m) return null
  const [, ys, mos, ds, hs, mis, ss, frac, offset] = m
  const y = Number(ys)
  const mo = Number(mos)
  const d = Number(ds)
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return null
  const h = hs === undefined ? 0 : Number(hs)
  const mi = mis === undefined ? 0 : Number(mis)
  const s = ss === undefined ? 0 : Number(ss)
  if (h > 23 || mi > 59 || s > 59) return null
  let offsetMin = 0
  if (offset && offset !== 'Z') {
    const oh = Number(offset.slice(1, 3))
    const om = Number(offset.slice(-2))
    if (oh > 23 || om > 59) return null
    offsetMin = (offset[0] === '-' ? -1 : 1) * (oh * 60 + om)
  }
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'))
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  const t = new Date(0)
  t.setUTCFullYear(y, mo - 1, d)
  t.setUTCHours(h, mi, s, ms)
  return { instant: t.getTime() - offsetMin * 60_000, isDay: hs === undefined }
}

const MESSAGE = 'Expected a real calendar date (YYYY-MM-DD) or an ISO 8601 date-time such as 2026-03-01T10:00:00Z'

/** A date query parameter (required; add `.optional()` for a filter). */
export const dateParam = (description: string, example = '2026-11-01') =>
  z
    .string()
    .refine((s) => parseDate(s) !== null, { message: MESSAGE })
    .openapi({ example, description: `${description} A date (YYYY-MM-DD, UTC) or an ISO 8601 date-time (no offset means UTC).` })

/** First instant (ms) a validated date parameter covers: a date's midnight UTC, or the date-time. */
export function rangeStart(text: string): number {
  return parseDate(text)!.instant
}

/** The instant (ms) just after what a validated date parameter covers: a date's whole day, a date-time itself (inclusive). */
export function rangeEnd(text: string): number {
  const p = parseDate(text)!
  return p.instant + (p.isDay ? DAY_MS : 1)
}

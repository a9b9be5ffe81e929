import { describe, expect, it } from 'vitest'
import { parseDate, rangeEnd, rangeStart } from '../../src/lib/dates'

describe('parseDate', () => {
  it('reads dates and date-times to the instant they name', () => {
    expect(parseDate('2026-03-01')).toEqual({ instant: Date.UTC(2026, 2, 1), isDay: true })
    expect(parseDate('2024-02-29')).toEqual({ instant: Date.UTC(2024, 1, 29), isDay: true })
    expect(parseDate('2000-02-29')?.instant).toBe(Date.UTC(2000, 1, 29))
    expect(parseDate('2026-03-01T10:00:00Z')).toEqual({ instant: Date.UTC(2026, 2, 1, 10), isDay: false })
    expect(parseDate('2026-03-01T10:00')?.instant).toBe(Date.UTC(2026, 2, 1, 10))
    expect(parseDate('2026-03-01T10:00:00+02:00')?.instant).toBe(Date.UTC(2026, 2, 1, 8))
    expect(parseDate('2026-03-01T10:00:00-0130')?.instant).toBe(Date.UTC(2026, 2, 1, 11, 30))
    expect(parseDate('2026-03-01T10:00:00.1234567Z')?.instant).toBe(Date.UTC(2026, 2, 1, 10, 0, 0, 123))
    expect(parseDate('2026-03-01T10:00:00.5Z')?.instant).toBe(Date.UTC(2026, 2, 1, 10, 0, 0, 500))
    // Years below 100 stay themselves (not 19xx).
    expect(new Date(parseDate('0050-01-01')!.instant).getUTCFullYear()).toBe(50)
  })

  it('refuses what is not on the calendar or the clock', () => {
    for (const s of [
      '2026-13-45',
      '2026-02-29',
      '1900-02-29',
      '2026-06-31',
      '2026-00-01',
      '2026-01-00',
      '2026-03-01T24:00:00Z',
      '2026-03-01T23:60Z',
      '2026-03-01T10:00:00+24:00',
      '2026-03-01T10:00:00+02:60',
      '2026-03-01 10:00:00',
      '2026-03-01T10Z',
      '+02026-03-01',
      '',
    ]) {
      expect(parseDate(s), s).toBeNull()
    }
  })

  it('range bounds: a date covers its whole day, a date-time is inclusive', () => {
    expect(rangeStart('2026-03-01')).toBe(Date.UTC(2026, 2, 1))
    expect(rangeEnd('2026-03-01')).toBe(Date.UTC(2026, 2, 2))
    expect(rangeEnd('2026-03-01T10:00:00Z')).toBe(Date.UTC(2026, 2, 1, 10) + 1)
  })
})

/**
 * Every date query parameter (list filters and analytics ranges) takes a real calendar date
 * (`YYYY-MM-DD`) or an ISO 8601 date-time; anything else — month 13, day 45, Feb 30, hour 25 — is a
 * 400 VALIDATION_ERROR naming the parameter, never a filter that silently matches nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../helpers/api'

/** Each date parameter, with the other parameters its route needs. */
const PARAMS = [
  { path: '/api/v1/orders', param: 'dateFrom', rest: '' },
  { path: '/api/v1/orders', param: 'dateTo', rest: '' },
  { path: '/api/v1/billing/invoices', param: 'dateFrom', rest: '' },
  { path: '/api/v1/billing/invoices', param: 'dateTo', rest: '' },
  { path: '/api/v1/billing/usage', param: 'startDate', rest: 'endDate=2026-12-31' },
  { path: '/api/v1/billing/usage', param: 'endDate', rest: 'startDate=2020-01-01' },
  { path: '/api/v1/analytics/calls', param: 'startDate', rest: 'endDate=2026-12-31' },
  { path: '/api/v1/analytics/calls', param: 'endDate', rest: 'startDate=2020-01-01' },
] as const

/** One user per parameter: the requests of one stay under the general rate limit (100 a minute). */
const users: TestUser[] = []
beforeAll(async () => {
  for (let i = 0; i < PARAMS.length; i++) users.push(await registerUser())
})

const url = (p: (typeof PARAMS)[number], value: string) =>
  `${p.path}?${[p.rest, `${p.param}=${encodeURIComponent(value)}`, p.path.includes('usage') || p.path.includes('calls') ? 'groupBy=month' : ''].filter(Boolean).join('&')}`

const INVALID = [
  '2026-13-45',
  '2026-13-01',
  '2026-00-10',
  '2026-02-30',
  '2026-02-29', // 2026 is not a leap year
  '2100-02-29', // nor is 2100
  '2026-04-31',
  '2026-01-32',
  '2026-02-30T10:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-03-01T24:00:00Z',
  '2026-03-01T25:00:00Z',
  '2026-03-01T10:60:00Z',
  '2026-03-01T10:00:60Z',
  '2026-03-01T10:00:00+25:00',
  '2026-3-1',
  '20260301',
  '1',
  'March 7, 2026',
  'yesterday',
  '',
]

const VALID = ['2024-02-29', '2026-03-01', '2026-03-01T10:00:00Z', '2026-03-01T10:00Z', '2026-03-01T10:00:00.123Z', '2026-03-01T10:00:00+02:00', '2026-03-01T10:00:00']

describe('date query parameters', () => {
  for (const [i, p] of PARAMS.entries()) {
    it(`${p.path} ${p.param}: a calendar-invalid or malformed date is a 400 VALIDATION_ERROR naming it, as a date and as a date-time`, async () => {
      const accepted: string[] = []
      for (const value of INVALID) {
        const res = await call(url(p, value), { token: users[i]!.accessToken })
        if (res.status !== 400) {
          accepted.push(`${value} → ${res.status}`)
          continue
        }
        expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
        expect(
          res.body.error.details.map((d: { field: string }) => d.field),
          `${p.path} ${p.param}=${value}: ${res.text}`,
        ).toContain(p.param)
      }
      expect(accepted).toEqual([])
    })

    it(`${p.path} ${p.param}: real dates and date-times are accepted (leap days included)`, async () => {
      for (const value of VALID) {
        const res = await call(url(p, value), { token: users[i]!.accessToken })
        expect(res.status, `${p.path} ${p.param}=${value}: ${res.text}`).toBe(200)
      }
    })
  }
})

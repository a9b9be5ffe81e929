/** What every SIM route shares: its tag, its error answers and its rate-limit declarations. */
import { err, errorResponses } from '../../lib/http'
import { alsoLimit } from '../../http/policy'

export const SIM_TAG = 'sims'

/** The error answers of a route that names a SIM by ICCID. */
export const simErrors = {
  ...errorResponses,
  400: err('Invalid input (`VALIDATION_ERROR`) or ICCID (`INVALID_ICCID`, `details: {field, reason}`: 19 digits, or 20 whose last is the Luhn check digit)'),
  404: err("No such SIM on your account (`NOT_FOUND`), also for another account's SIM"),
} as const

/** The error answers of a route that reaches the SIM's provider. */
export const upstreamErrors = {
  502: err('The SIM provider failed (`UPSTREAM_ERROR`)'),
  503: err('The SIM provider asks to wait (`UPSTREAM_ERROR` with `Retry-After`), or no SIM provider is configured (`SERVICE_UNAVAILABLE`)', { retryAfter: true }),
} as const

/** The SIM API's second limit, on every SIM route: 1,000 requests an hour per API key (limits.ts). */
export const simHourly = alsoLimit('sims_hourly')

/**
 * HeroSMS — and any upstream speaking the sms-activate `handler_api.php` protocol — as an
 * ActivationProvider.
 *
 *   GET {baseUrl}/stubs/handler_api.php?api_key=…&action=…
 *     getPrices                  → JSON {"<country id>": {"<service>": {"cost": 0.5, "count": 120}}}
 *     getNumber                  → ACCESS_NUMBER:<id>:<phone>   (getNumberV2's JSON is read too)
 *     getStatus                  → STATUS_WAIT_CODE | STATUS_WAIT_RESEND | STATUS_WAIT_RETRY:<code> | STATUS_OK:<code> | STATUS_CANCEL
 *     setStatus status=8 cancel  → ACCESS_CANCEL
 *               status=6 done    → ACCESS_ACTIVATION
 *               status=3 retry   → ACCESS_RETRY_GET
 *   Errors come back as bare words (NO_NUMBERS, NO_BALANCE, BAD_KEY, BAD_ACTION, BAD_SERVICE,
 *   ERROR_SQL, NO_ACTIVATION, BAD_STATUS, EARLY_CANCEL_DENIED, WRONG_MAX_PRICE:<min>, BANNED:<until>…),
 *   usually with HTTP 200, sometimes as JSON {"status":"error","message":"…"}.
 *
 * NO_NUMBERS is `NoNumbersAvailable` (503); everything else that is not the expected answer is
 * an `UpstreamError` (502) whose message and details carry the upstream's error word and the
 * action — never the API key, which travels only in the query string of the request itself.
 * Costs are in the account's currency, taken as USD. Upstream countries are numeric ids and
 * services short codes; protocol-codes.ts maps them to ours (ISO alpha-2, lower case; lower-case
 * service names) and offers for anything else are skipped.
 */
import { z } from 'zod'
import { NoNumbersAvailable, UpstreamError } from '../../lib/errors'
import { isRecord } from '../../lib/json'
import { toMicros } from '../../lib/money'
import { DEFAULT_TIMEOUT_MS, parseJson, quote, upstreamRequest } from './http'
import { PROTOCOL_COUNTRIES, PROTOCOL_SERVICES } from './protocol-codes'
import type { ActivationOffer, ActivationProvider, ActivationStatus, BoughtActivation } from './types'

export const HeroSmsConfig = z.object({
  /** `https://hero-sms.com`; a URL that already ends in `handler_api.php` is used as it is. */
  baseUrl: z.url().default('https://hero-sms.com'),
  /** Name of the Worker secret holding the API key. */
  apiKeySecret: z.string().min(1).default('HEROSMS_API_KEY'),
  timeoutMs: z.number().int().min(100).max(60_000).default(DEFAULT_TIMEOUT_MS),
})
export type HeroSmsConfig = z.infer<typeof HeroSmsConfig>

const COUNTRY_TO_UPSTREAM = new Map(Object.entries(PROTOCOL_COUNTRIES).map(([id, [iso]]) => [iso, id]))
const SERVICE_TO_UPSTREAM = new Map(Object.entries(PROTOCOL_SERVICES).map(([id, [code]]) => [code, id]))

/** What each error word means, for the message. NO_NUMBERS is handled apart (503). */
const ERRORS: Record<string, string> = {
  NO_BALANCE: 'the provider account has no balance left',
  NO_BALANCE_FORWARD: 'the provider account has no balance left for call forwarding',
  BAD_KEY: 'the API key was refused',
  NO_KEY: 'no API key was sent',
  BAD_ACTION: 'the action is not supported',
  BAD_SERVICE: 'unknown service',
  WRONG_SERVICE: 'unknown service',
  BAD_COUNTRY: 'unknown country',
  WRONG_COUNTRY: 'unknown country',
  ERROR_SQL: 'upstream database error',
  NO_ACTIVATION: 'unknown activation id',
  WRONG_ACTIVATION_ID: 'unknown activation id',
  BAD_STATUS: 'the status change was refused',
  EARLY_CANCEL_DENIED: 'an activation cannot be cancelled in its first minutes',
  WRONG_MAX_PRICE: 'the price is above the maximum price sent',
  BANNED: 'the provider account is blocked',
  CHANNELS_LIMIT: 'too many activations at once',
  WRONG_EXCEPTION_PHONE: 'invalid excluded prefixes',
  SERVER_ERROR: 'upstream server error',
}

/** `WORD` or `WORD:arg` — the shape of every protocol answer that is not JSON. */
const WORD = /^([A-Z][A-Z0-9_]*)(?::(.*))?$/s

export class HeroSmsActivations implements ActivationProvider {
  private readonly endpoint: string

  constructor(private readonly opts: { provider: string; config: HeroSmsConfig; apiKey: string; fetch: typeof fetch }) {
    const base = opts.config.baseUrl.replace(/\/+$/, '')
    this.endpoint = /handler_api\.php$/.test(base) ? base : `${base}/stubs/handler_api.php`
  }

  async listOffers(): Promise<ActivationOffer[]> {
    const body = await this.call('getPrices', {})
    const prices = parseJson(body)
    if (!isRecord(prices)) throw this.unexpected('getPrices', body)
    const out: ActivationOffer[] = []
    for (const [countryId, services] of Object.entries(prices)) {
      const country = PROTOCOL_COUNTRIES[countryId]
      if (!country || !isRecord(services)) continue
      for (const [serviceId, entry] of Object.entries(services)) {
        const service = PROTOCOL_SERVICES[serviceId]
        if (!service || !isRecord(entry)) continue
        const cost = Number(entry.cost)
        const count = Number(entry.count)
        if (!Number.isFinite(cost) || cost < 0) continue
        out.push({
          serviceCode: service[0],
          serviceName: service[1],
          countryCode: country[0],
          countryName: country[1],
          upstreamCountry: countryId,
          upstreamService: serviceId,
          cost: toMicros(cost),
          stock: Number.isFinite(count) && count > 0 ? Math.floor(count) : 0,
        })
      }
    }
    return out
  }

  async buy(req: { serviceCode: string; countryCode: string; upstreamService?: string; upstreamCountry?: string; maxCost?: number }): Promise<BoughtActivation> {
    const service = req.upstreamService ?? SERVICE_TO_UPSTREAM.get(req.serviceCode)
    const country = req.upstreamCountry ?? COUNTRY_TO_UPSTREAM.get(req.countryCode)
    if (!service || !country) {
      throw new NoNumbersAvailable(`${this.opts.provider}: ${req.serviceCode} numbers in '${req.countryCode}' are not offered`, {
        provider: this.opts.provider,
      })
    }
    const params: Record<string, string> = { service, country }
    if (req.maxCost !== undefined) params.maxPrice = (req.maxCost / 1_000_000).toFixed(4).replace(/\.?0+$/, '')
    const body = await this.call('getNumber', params)
    const word = WORD.exec(body)
    if (word?.[1] === 'ACCESS_NUMBER') {
      const [id, phone] = (word[2] ?? '').split(':')
      return this.bought('getNumber', body, id, phone)
    }
    // getNumberV2 answers JSON: {"activationId": 635468024, "phoneNumber": "79584******", "activationCost": 12.5, …}
    const json = parseJson(body)
    if (isRecord(json) && json.activationId !== undefined) return this.bought('getNumber', body, String(json.activationId), String(json.phoneNumber ?? ''))
    throw this.unexpected('getNumber', body)
  }

  async status(upstreamId: string): Promise<ActivationStatus> {
    const body = await this.call('getStatus', { id: upstreamId })
    const word = WORD.exec(body)
    switch (word?.[1]) {
      case 'STATUS_WAIT_CODE':
      case 'STATUS_WAIT_RESEND':
        return { status: 'waiting' }
      // WAIT_RETRY carries the code already received while a further one is awaited.
      case 'STATUS_WAIT_RETRY':
      case 'STATUS_OK': {
        const code = (word[2] ?? '').trim()
        if (!code) throw this.unexpected('getStatus', body)
        return { status: 'received', code }
      }
      case 'STATUS_CANCEL':
        return { status: 'cancelled' }
      default:
        throw this.unexpected('getStatus', body)
    }
  }

  async cancel(upstreamId: string): Promise<void> {
    await this.setStatus(upstreamId, 8, 'ACCESS_CANCEL')
  }

  async complete(upstreamId: string): Promise<void> {
    await this.setStatus(upstreamId, 6, 'ACCESS_ACTIVATION')
  }

  /** Ask for one more SMS on the same number (free upstream). */
  async retry(upstreamId: string): Promise<void> {
    await this.setStatus(upstreamId, 3, 'ACCESS_RETRY_GET')
  }

  private async setStatus(id: string, status: number, expected: string) {
    const body = await this.call('setStatus', { id, status: String(status) })
    if (WORD.exec(body)?.[1] !== expected) throw this.unexpected('setStatus', body)
  }

  private bought(action: string, body: string, id: string | undefined, phone: string | undefined): BoughtActivation {
    const digits = (phone ?? '').replace(/^\+/, '')
    if (!id || !/^\d{6,15}$/.test(digits)) throw this.unexpected(action, body)
    return { upstreamId: id, phone: `+${digits}` }
  }

  /** One request; answers the body of a non-error answer, throws the mapped error otherwise. */
  private async call(action: string, params: Record<string, string>): Promise<string> {
    const url = new URL(this.endpoint)
    url.searchParams.set('api_key', this.opts.apiKey)
    url.searchParams.set('action', action)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    const res = await upstreamRequest(this.opts.fetch, this.opts.provider, action, url.toString(), { method: 'GET', headers: { accept: 'application/json, text/plain' } }, this.opts.config.timeoutMs)
    const body = res.text.trim()
    const code = errorWord(body)
    if (code) throw this.error(action, code, body)
    if (res.status >= 400) {
      throw new UpstreamError(this.opts.provider, `${action}: HTTP ${res.status}`, { action, upstreamStatus: res.status })
    }
    return body
  }

  private error(action: string, code: string, body: string) {
    const { provider } = this.opts
    if (code === 'NO_NUMBERS') return new NoNumbersAvailable(`${provider}: no numbers available`, { provider, upstreamCode: code })
    const arg = WORD.exec(body)?.[2]
    const extra = arg ? ` (${quote(arg, [this.opts.apiKey], 40)})` : ''
    return new UpstreamError(provider, `${action}: ${code}: ${ERRORS[code]}${extra}`, { action, upstreamCode: code })
  }

  private unexpected(action: string, body: string) {
    return new UpstreamError(this.opts.provider, `${action}: unexpected answer '${quote(body, [this.opts.apiKey])}'`, { action })
  }
}

/** The protocol's error word in a body — bare (`NO_NUMBERS`, `BANNED:…`) or in JSON — if any. */
function errorWord(body: string): string | null {
  const bare = WORD.exec(body)?.[1]
  if (bare && (bare === 'NO_NUMBERS' || bare in ERRORS)) return bare
  const json = parseJson(body)
  if (isRecord(json) && json.status === 'error') {
    const word = String(json.message ?? json.error ?? '').split(':')[0]!
    return word === 'NO_NUMBERS' || word in ERRORS ? word : 'SERVER_ERROR'
  }
  return null
}

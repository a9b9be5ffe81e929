/**
 * Twilio phone numbers as a DidProvider (REST API 2010-04-01, HTTP Basic auth AccountSid:AuthToken).
 *
 *   search   GET    {baseUrl}/2010-04-01/Accounts/{AccountSid}/AvailablePhoneNumbers/{CC}/{Local|TollFree|Mobile|National}.json
 *                   ?AreaCode&Contains&SmsEnabled&VoiceEnabled&MmsEnabled&FaxEnabled&PageSize
 *                   → {"available_phone_numbers": [{phone_number, friendly_name, locality, region, iso_country,
 *                       address_requirements, beta, capabilities: {voice, SMS, MMS, fax}}], …}
 *   purchase POST   …/IncomingPhoneNumbers.json  (form: PhoneNumber, SmsUrl, VoiceUrl, FriendlyName) → 201 {sid: "PN…", …}
 *   release  DELETE …/IncomingPhoneNumbers/{Sid}.json → 204
 *   errors   {"code": 21422, "message": "…", "more_info": "https://www.twilio.com/docs/errors/21422", "status": 400}
 *
 * 21422 (number not available) and 21452 (none in the area code) are `NoNumbersAvailable` (503);
 * every other failure is an `UpstreamError` (502): 20003 is "authentication failed", 429 "rate
 * limited", 5xx "HTTP n". The auth token is only ever in the Authorization header; messages
 * quote Twilio's own message with the credentials cut out.
 * Twilio's search answers carry no prices, so setup/monthly prices come from the provider's
 * config (`prices`, USD), with Twilio's US list prices as defaults.
 *
 * Inbound webhooks (an SMS to one of our numbers) are form posts signed with `X-Twilio-Signature`:
 * base64(HMAC-SHA1(authToken, fullUrl + every POST param name+value, sorted by name)), the URL
 * being exactly the one configured in Twilio (scheme, host, path and query). `verifyWebhook`
 * checks it in constant time; see `twilioSignature`.
 */
import { z } from 'zod'
import { timingSafeEqual, toBase64 } from '../../lib/crypto'
import { NoNumbersAvailable, UpstreamError } from '../../lib/errors'
import { isRecord } from '../../lib/json'
import { toMicros } from '../../lib/money'
import { DEFAULT_TIMEOUT_MS, parseJson, quote, upstreamRequest, type UpstreamAnswer } from './http'
import type { AvailableDid, Capability, DidProvider, DidPurchase, DidSearch, NumberType } from './types'

const Price = z.object({ setup: z.number().nonnegative().default(0), monthly: z.number().nonnegative() })
const NumberTypes = z.enum(['LOCAL', 'TOLL_FREE', 'MOBILE', 'NATIONAL'])

/** A sync query: `"us"` or `{ country: "us", areaCode: "415", numberType: "LOCAL", limit: 50 }`. */
const SyncQuery = z.union([
  z.string().min(2).max(2),
  z.object({
    country: z.string().min(2).max(2),
    areaCode: z
      .string()
      .regex(/^\d{1,5}$/)
      .optional(),
    numberType: NumberTypes.optional(),
    contains: z.string().max(20).optional(),
    limit: z.number().int().min(1).max(1000).optional(),
  }),
])

export const TwilioConfig = z.object({
  baseUrl: z.url().default('https://api.twilio.com'),
  accountSid: z.string().regex(/^AC[0-9a-zA-Z]{32}$/, 'must be an Account SID (AC…, 34 characters)'),
  /** Name of the Worker secret holding the auth token. */
  authTokenSecret: z.string().min(1).default('TWILIO_AUTH_TOKEN'),
  /** Our cost per number type, USD: Twilio's search answers have no prices. */
  prices: z.partialRecord(NumberTypes, Price).default({}),
  timeoutMs: z.number().int().min(100).max(60_000).default(DEFAULT_TIMEOUT_MS),
  /** What the provider sync lists into the DID inventory. Empty: nothing (numbers are searched live). */
  syncCountries: z.array(SyncQuery).default([]),
})
export type TwilioConfig = z.infer<typeof TwilioConfig>

/** Twilio's US list prices (setup 0; monthly local $1.15, toll-free $2.15). */
export const TWILIO_DEFAULT_PRICES: Record<NumberType, { setup: number; monthly: number }> = {
  LOCAL: { setup: 0, monthly: 1.15 },
  TOLL_FREE: { setup: 0, monthly: 2.15 },
  MOBILE: { setup: 0, monthly: 1.15 },
  NATIONAL: { setup: 0, monthly: 1.15 },
}

const RESOURCE: Record<NumberType, string> = { LOCAL: 'Local', TOLL_FREE: 'TollFree', MOBILE: 'Mobile', NATIONAL: 'National' }
const NOT_AVAILABLE = new Set([21422, 21452])
const CAPABILITY: Record<string, Capability> = { voice: 'VOICE', sms: 'SMS', mms: 'MMS', fax: 'FAX' }

interface TwilioNumber {
  phone_number?: unknown
  locality?: unknown
  region?: unknown
  iso_country?: unknown
  address_requirements?: unknown
  beta?: unknown
  capabilities?: unknown
}

export class TwilioDids implements DidProvider {
  private readonly account: string
  private readonly authorization: string

  constructor(private readonly opts: { provider: string; config: TwilioConfig; authToken: string; fetch: typeof fetch }) {
    const base = opts.config.baseUrl.replace(/\/+$/, '')
    this.account = `${base}/2010-04-01/Accounts/${encodeURIComponent(opts.config.accountSid)}`
    this.authorization = `Basic ${btoa(`${opts.config.accountSid}:${opts.authToken}`)}`
  }

  async search(q: DidSearch): Promise<AvailableDid[]> {
    const numberType = q.numberType ?? 'LOCAL'
    const url = new URL(`${this.account}/AvailablePhoneNumbers/${encodeURIComponent(q.countryCode.toUpperCase())}/${RESOURCE[numberType]}.json`)
    if (q.areaCode) url.searchParams.set('AreaCode', q.areaCode)
    const contains = q.contains?.replace(/[^0-9*]/g, '')
    if (contains) url.searchParams.set('Contains', contains)
    for (const c of q.capabilities ?? []) url.searchParams.set(`${c === 'VOICE' ? 'Voice' : c === 'FAX' ? 'Fax' : c === 'SMS' ? 'Sms' : 'Mms'}Enabled`, 'true')
    url.searchParams.set('PageSize', String(Math.min(Math.max(q.limit, 1), 1000)))
    const res = await this.request('search', url.toString(), { method: 'GET' })
    // A country or number type Twilio has no inventory resource for answers 404: nothing to offer.
    if (res.status === 404) return []
    const body = this.body('search', res, [200])
    const list = isRecord(body) && Array.isArray(body.available_phone_numbers) ? (body.available_phone_numbers as TwilioNumber[]) : null
    if (!list) throw new UpstreamError(this.opts.provider, 'search: unexpected answer', { operation: 'search' })
    const price = { ...TWILIO_DEFAULT_PRICES[numberType], ...this.opts.config.prices[numberType] }
    const out: AvailableDid[] = []
    for (const n of list) {
      if (typeof n.phone_number !== 'string' || !/^\+\d{6,15}$/.test(n.phone_number)) continue
      out.push({
        phoneNumber: n.phone_number,
        countryCode: (typeof n.iso_country === 'string' && n.iso_country ? n.iso_country : q.countryCode).toLowerCase(),
        areaCode: q.areaCode ?? (n.phone_number.startsWith('+1') ? n.phone_number.slice(2, 5) : null),
        region: text(n.region),
        locality: text(n.locality),
        numberType,
        capabilities: capabilities(n.capabilities),
        setupPrice: toMicros(price.setup),
        monthlyPrice: toMicros(price.monthly),
        restrictions: restrictions(n),
      })
    }
    return out.slice(0, q.limit)
  }

  /** The account whose numbers this adapter manages (inbound webhooks carry it as `AccountSid`). */
  get accountSid(): string {
    return this.opts.config.accountSid
  }

  /** Whether `signature` (X-Twilio-Signature) signs this webhook request with our auth token. */
  verifyWebhook(signature: string | null | undefined, url: string, params: Iterable<[string, string]>): Promise<boolean> {
    return validTwilioSignature(this.opts.authToken, signature, url, params)
  }

  async purchase(phoneNumber: string, config: { smsUrl?: string; voiceUrl?: string; friendlyName?: string }): Promise<DidPurchase> {
    const form = new URLSearchParams({ PhoneNumber: phoneNumber })
    if (config.smsUrl) form.set('SmsUrl', config.smsUrl)
    if (config.voiceUrl) form.set('VoiceUrl', config.voiceUrl)
    if (config.friendlyName) form.set('FriendlyName', config.friendlyName)
    const res = await this.request('purchase', `${this.account}/IncomingPhoneNumbers.json`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    })
    const body = this.body('purchase', res, [200, 201])
    if (!isRecord(body) || typeof body.sid !== 'string' || !body.sid) {
      throw new UpstreamError(this.opts.provider, 'purchase: unexpected answer (no sid)', { operation: 'purchase' })
    }
    return { status: 'active', upstreamId: body.sid }
  }

  /** `GET IncomingPhoneNumbers.json?PhoneNumber=…`: the account's number with exactly this E.164, if it has it. */
  async lookup(phoneNumber: string): Promise<DidPurchase | null> {
    const url = new URL(`${this.account}/IncomingPhoneNumbers.json`)
    url.searchParams.set('PhoneNumber', phoneNumber)
    const res = await this.request('lookup', url.toString(), { method: 'GET' })
    const body = this.body('lookup', res, [200])
    const list = isRecord(body) && Array.isArray(body.incoming_phone_numbers) ? (body.incoming_phone_numbers as Record<string, unknown>[]) : null
    if (!list) throw new UpstreamError(this.opts.provider, 'lookup: unexpected answer', { operation: 'lookup' })
    const found = list.find((n) => isRecord(n) && n.phone_number === phoneNumber && typeof n.sid === 'string' && n.sid)
    return found ? { status: 'active', upstreamId: found.sid as string } : null
  }

  async release(upstreamId: string): Promise<void> {
    const res = await this.request('release', `${this.account}/IncomingPhoneNumbers/${encodeURIComponent(upstreamId)}.json`, { method: 'DELETE' })
    // Already gone upstream: releasing again is done, not an error (releases are retried).
    if (res.status === 404) return
    this.body('release', res, [200, 204])
  }

  /** The searches the provider sync runs to list this account's inventory (config `syncCountries`). */
  inventoryQueries(): DidSearch[] {
    return this.opts.config.syncCountries.map((s) =>
      typeof s === 'string'
        ? { countryCode: s.toLowerCase(), limit: 50 }
        : { countryCode: s.country.toLowerCase(), areaCode: s.areaCode, numberType: s.numberType, contains: s.contains, limit: s.limit ?? 50 },
    )
  }

  private request(operation: string, url: string, init: RequestInit) {
    const headers = new Headers(init.headers)
    headers.set('authorization', this.authorization)
    headers.set('accept', 'application/json')
    return upstreamRequest(this.opts.fetch, this.opts.provider, operation, url, { ...init, headers }, this.opts.config.timeoutMs)
  }

  /** The parsed body of an expected answer; the mapped error for anything else. */
  private body(operation: string, res: UpstreamAnswer, ok: number[]): unknown {
    if (ok.includes(res.status)) return res.text ? parseJson(res.text) : null
    const { provider } = this.opts
    const error = parseJson(res.text)
    const code = isRecord(error) && typeof error.code === 'number' ? error.code : undefined
    const details = { operation, upstreamStatus: res.status, upstreamCode: code }
    if (code !== undefined && NOT_AVAILABLE.has(code)) throw new NoNumbersAvailable(`${provider}: the number is not available (Twilio ${code})`, details)
    if (code === 20003 || res.status === 401) throw new UpstreamError(provider, `${operation}: authentication failed`, details)
    if (res.status === 429) throw new UpstreamError(provider, `${operation}: rate limited by Twilio`, details)
    if (res.status >= 500 || code === undefined) throw new UpstreamError(provider, `${operation}: HTTP ${res.status}`, details)
    const message = isRecord(error) && typeof error.message === 'string' ? error.message : ''
    throw new UpstreamError(provider, `${operation}: Twilio error ${code}${message ? ` (${quote(message, this.secrets())})` : ''}`, details)
  }

  private secrets() {
    return [this.opts.authToken, this.authorization.slice('Basic '.length)]
  }
}

/**
 * Twilio's request signature ("Validating requests are coming from Twilio"): the full URL, then each
 * POST parameter's name and value with no separators, by name (code-unit order, as Twilio's own
 * libraries sort); a name sent several times contributes each distinct value, sorted. HMAC-SHA1
 * keyed by the auth token, base64.
 */
export async function twilioSignature(authToken: string, url: string, params: Iterable<[string, string]>): Promise<string> {
  const byName = new Map<string, Set<string>>()
  for (const [k, v] of params) {
    const values = byName.get(k) ?? new Set<string>()
    values.add(v)
    byName.set(k, values)
  }
  let data = url
  for (const k of [...byName.keys()].sort()) for (const v of [...byName.get(k)!].sort()) data += k + v
  const enc = new TextEncoder()
  const key = await crypto.subtle.importKey('raw', enc.encode(authToken), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign'])
  return toBase64(await crypto.subtle.sign('HMAC', key, enc.encode(data)))
}

/**
 * Constant-time check of `X-Twilio-Signature`. Twilio is inconsistent about default ports
 * (`https://host:443/…` vs `https://host/…`), so, as its libraries do, both spellings of the URL
 * are accepted. Every candidate is always computed and compared, valid or not.
 */
export async function validTwilioSignature(authToken: string, signature: string | null | undefined, url: string, params: Iterable<[string, string]>): Promise<boolean> {
  if (!authToken) return false
  const list = [...params]
  const candidates = urlSpellings(url)
  const expected = await Promise.all(candidates.map((u) => twilioSignature(authToken, u, list)))
  let ok = false
  for (const e of expected) ok = timingSafeEqual(signature ?? '', e) || ok
  return ok && !!signature
}

/** The URL as given, and with its default port added or removed. */
function urlSpellings(url: string): string[] {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return [url]
  }
  const port = u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : ''
  // The parser drops a default port, so a port still there is another one, and part of the URL.
  if (!port || u.port) return [url]
  const auth = u.username || u.password ? `${u.username}${u.password ? `:${u.password}` : ''}@` : ''
  const tail = `${u.pathname}${u.search}${u.hash}`
  const without = `${u.protocol}//${auth}${u.host}${tail}`
  const withPort = `${u.protocol}//${auth}${u.host}:${port}${tail}`
  return [...new Set([url, without, withPort])]
}

function capabilities(raw: unknown): Capability[] {
  if (!isRecord(raw)) return []
  const out: Capability[] = []
  // Twilio spells them voice, SMS, MMS, fax; some tools lower-case them all.
  for (const [k, v] of Object.entries(raw)) {
    const c = CAPABILITY[k.toLowerCase()]
    if (c && v === true && !out.includes(c)) out.push(c)
  }
  return (['VOICE', 'SMS', 'MMS', 'FAX'] as const).filter((c) => out.includes(c))
}

/** `address_requirements` none | any | local | foreign; `beta` numbers are new to Twilio. */
function restrictions(n: TwilioNumber): string[] {
  const out: string[] = []
  const req = typeof n.address_requirements === 'string' ? n.address_requirements : 'none'
  if (req !== 'none') out.push('address_required')
  if (req === 'local' || req === 'foreign') out.push(`${req}_address_required`)
  if (n.beta === true) out.push('beta')
  return out
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v.trim() ? v.trim() : null
}

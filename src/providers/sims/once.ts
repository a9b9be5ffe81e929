/**
 * The 1NCE management API as a SimProvider (https://api.1nce.com/management-api, OpenAPI "SIM
 * Management" v1 paths and its v2 "SMS by ICCID" paths; "Authorization" for the token).
 *
 *   token        POST   /oauth/token  Basic base64(clientId:clientSecret), JSON {"grant_type":"client_credentials"}
 *                       → 200 {access_token, token_type: "bearer", expires_in: 3600, …}; every other call sends
 *                       `Authorization: Bearer <access_token>`.
 *   getSim       GET    /v1/sims/{iccid} → SIM_card {iccid, iccid_with_luhn, imsi, msisdn, imei, imei_lock, status,
 *                       activation_date, ip_address, label, …}; 404 → null.
 *   updateSim    GET    /v1/sims/{iccid}, then PUT /v1/sims/{iccid} {iccid, label, imei_lock, status} → 200.
 *   connectivity GET    /v1/sims/{iccid}/status → {status: ONLINE|ATTACHED|OFFLINE|BLOCKED, location, pdp_context(s), services}.
 *   reset        POST   /v1/sims/{iccid}/reset → 201 (queued: "the actual reset will be done asynchronously").
 *   resetStatus  —      1NCE has no call that reports a reset's progress (none in v1 or v2).
 *   usage        GET    /v1/sims/{iccid}/usage?start_dt=YYYY-MM-DD&end_dt=YYYY-MM-DD → {stats: [{date, data, sms}]}.
 *   quota        GET    /v1/sims/{iccid}/quota/data | /quota/sms → Quota.
 *   topUp        POST   /v1/sims/{iccid}/topup?payment_method=… (no body) → 201, Location: the order.
 *   sendSms      POST   /v2/sims/{iccid}/sms {payload, dcs, source_address?, source_address_type?, expiry_date?} → 201 {id}.
 *   listSms      GET    /v2/sims/{iccid}/sms?page=n&per_page=m → [SMS] (MT and MO).
 *   cancelSms    DELETE /v2/sims/{iccid}/sms/{id} → 200.
 *   setLimits    —      nothing is sent (below).
 *   ping         GET    /v1/sims?page=1&pageSize=1 (a token, then the cheapest authenticated read).
 *   errors       {"error_code": 1000, "error_token": "NotFound", "message": "Element not found"} (v2); the token
 *                call answers {"statusCode": 400, "errorCode": "BadCredentials", "message": …}; v1 top-ups {"message"}.
 *
 * Mapping choices:
 * - ICCIDs: 1NCE names SIMs by the 19-digit ICCID (its `iccid`; `iccid_with_luhn` is the 20-digit form), the form
 *   of this interface: no check digit is added or removed.
 * - SMS use the v2 paths because only v2's Create SMS answers the new message's id (v1 answers 201 with no body),
 *   and the list and cancel of the same group name messages by that id.
 * - updateSim: v1's PUT requires `status`, and `imei_lock` defaults to false when absent, so a partial change
 *   would re-enable a disabled SIM or drop its IMEI lock. The SIM is read first and all four fields are sent.
 *   A label of null is sent as "" (1NCE has no null label).
 * - connectivity: `connected` is ONLINE (a data session) or ATTACHED (registered on a network); OFFLINE and
 *   BLOCKED are not. The RAT comes from the PDP context (2G → GSM, 3G → UMTS, 4G → LTE, NB-IoT, 5G as is), the
 *   country, operator, MCC and MNC from the location and the PDP context. 1NCE reports no signal strength or
 *   quality: null. Get SIM Connectivity (`connectivity_info`) is not used: it answers only for 2G/3G attaches
 *   and queries the network for each call.
 * - Volumes: 1NCE counts data in megabytes of 1024 kilobytes (its words) and SMS in messages; this interface
 *   counts bytes and messages, so data is multiplied by 1024 × 1024 and rounded.
 * - usage: the days 1NCE lists (its output covers the last 6 months); a day it does not list is absent, not
 *   zero. RX is received by the SIM (downlink), TX sent by it; SMS `volume_rx` is MO, `volume_tx` MT. 1NCE has
 *   no session count: 0.
 * - quota: `volume` (the total granted so far) is `accumulated_total_volume` ("initially provisioned plus all
 *   top-ups"), or `total_volume` where only that is given; used = total − remaining (`volume`, which can be
 *   negative). The status is 1NCE's (EXHAUSTED/ACTIVE/EXPIRED), or derived from the expiry date and what remains.
 * - topUp: 1NCE's top-up orders the SIM's top-up product: it takes no quota type and no volume, and adds the
 *   data and/or SMS volume that product defines. A request's `quotaType` and `volume` are therefore not sent:
 *   they are what the caller sold, and the quota read afterwards says what 1NCE added. The answer states no new
 *   quota, so every outcome has `quota: null`. 1NCE has no idempotency key: `reference` only names the outcome,
 *   and the same reference sent twice orders twice. Each request is its own Single Top Up call, one after the
 *   other: the Multiple Top Up call answers one status for its whole list, so a refused SIM could not be told
 *   apart. A failure that concerns the batch (authentication, rate limit, network) before anything was ordered
 *   throws; after that, it ends the batch and the requests not sent fail with NOT_SENT. A timeout or network
 *   error on a top-up fails with UPSTREAM_UNKNOWN: 1NCE may have ordered it.
 * - resetStatus: `in_progress` until `resetSeconds` (config, default 120 s) after `requestedAt`, then
 *   `completed`; `reset()` promises the same instant. 1NCE documents no duration: the delay is our choice.
 * - setLimits: 1NCE's limits (Volume Limits: /v1/sims/limits) are self-set monthly limits that apply "to all SIMs
 *   in the organization", picked from fixed steps; 1NCE has no per-SIM limits. We resell SIMs of one 1NCE
 *   account to many customers, so one customer's limits must never go there: setLimits sends nothing and the
 *   limits stay Switchboard's to enforce.
 *
 * Tokens: cached per provider and client id at module level (plain data only: no promise crosses requests)
 * until 60 s before `expires_in` ends (half its life if shorter). A 401 on an API call fetches a new token once
 * and retries once; a second 401 is an `UpstreamError`.
 *
 * Errors: 401, 403, 404, 409, 422, other 4xx and 5xx are `UpstreamError` (502) naming the operation, the HTTP
 * status and 1NCE's `error_token`/`message`; 429 is an `AppError` 503 UPSTREAM_ERROR with Retry-After (1NCE's
 * Retry-After header, else `retryAfterSeconds`). A 429 is never retried here: it starts a cool-down during which
 * this isolate answers 503 without calling 1NCE. Network failures and timeouts are `UpstreamError`. The client
 * id, the secret and tokens never appear in a message or details: 1NCE's text is quoted with them cut out.
 *
 * Rate limits (1NCE "API Rate Limits"): /oauth and /sims have none, /orders, /products and /support allow 100
 * requests per IP per 5 minutes; 1NCE asks to be gentle with /sims. So calls are sequential (a batch of top-ups
 * is sent one by one), the SMS list reads at most `smsMaxPages` pages, and a 429 is waited out, never retried.
 * 5xx are not retried here either: the callers (queue consumers) retry with backoff.
 */
import { z } from 'zod'
import { AppError, UpstreamError } from '../../lib/errors'
import { isRecord } from '../../lib/json'
import { DEFAULT_TIMEOUT_MS, parseJson, quote, retryAfter, type UpstreamAnswer, upstreamRequest } from '../numbers/http'
import type {
  SimConnectivity,
  SimInfo,
  SimLimitsInput,
  SimProvider,
  SimQuotaInfo,
  SimQuotaType,
  SimSmsRequest,
  SimTopUpOutcome,
  SimTopUpRequest,
  SimUsageDay,
  UpstreamSimStatus,
  UpstreamSms,
  UpstreamSmsStatus,
} from './types'

/** Payment methods 1NCE's top-up accepts; it falls back to banktransfer for a missing or unknown one. */
export const ONCE_PAYMENT_METHODS = ['banktransfer', 'creditcard', 'monthlyinvoice', 'boleto'] as const

export const OnceConfig = z.object({
  baseUrl: z.url().default('https://api.1nce.com/management-api'),
  /** Names of the Worker secrets holding the API client id and secret. */
  clientIdSecret: z.string().min(1).default('ONCE_CLIENT_ID'),
  clientSecretSecret: z.string().min(1).default('ONCE_CLIENT_SECRET'),
  timeoutMs: z.number().int().min(100).max(60_000).default(DEFAULT_TIMEOUT_MS),
  /** How 1NCE bills our top-ups (its `payment_method`); 1NCE's own default is banktransfer. */
  topUpPaymentMethod: z.enum(ONCE_PAYMENT_METHODS).default('banktransfer'),
  /** When a connectivity reset counts as done, after it was asked for (1NCE reports no progress). */
  resetSeconds: z.number().int().min(1).max(3600).default(120),
  /** The wait a 429 without Retry-After imposes. */
  retryAfterSeconds: z.number().int().min(1).max(3600).default(60),
  /** SMS list paging (v2 `per_page`, at most 1000) and the most pages one listSms reads. */
  smsPageSize: z.number().int().min(1).max(1000).default(100),
  smsMaxPages: z.number().int().min(1).max(100).default(10),
})
export type OnceConfig = z.infer<typeof OnceConfig>

export interface OnceOptions {
  /** The provider row's code: names the upstream in errors, and keys the token cache. */
  provider: string
  config: OnceConfig
  clientId: string
  clientSecret: string
  fetch: typeof fetch
  /** Epoch milliseconds; token expiry, cool-downs and reset delays are measured with it. */
  now?: () => number
}

const TOKEN_MARGIN_S = 60
const DEFAULT_EXPIRES_IN_S = 3600
const MB = 1024 * 1024

/** Tokens and 429 cool-downs by provider and client id. Plain values: a promise must not outlive its request. */
const tokens = new Map<string, { token: string; refreshAt: number }>()
const coolDowns = new Map<string, number>()

/** An error `send` throws: `details.operation` and `reason` tell a top-up that went unanswered from one never sent. */
type Failure = AppError & { details?: { operation?: string; reason?: string } }

export class OnceSims implements SimProvider {
  private readonly base: string
  private readonly key: string
  private readonly basic: string
  private readonly now: () => number
  /** Every token this instance used: cut out of anything quoted. */
  private readonly seen = new Set<string>()

  constructor(private readonly opts: OnceOptions) {
    this.base = opts.config.baseUrl.replace(/\/+$/, '')
    this.key = `${opts.provider}\n${opts.clientId}`
    this.basic = btoa(`${opts.clientId}:${opts.clientSecret}`)
    this.now = opts.now ?? Date.now
  }

  async getSim(iccid: string): Promise<SimInfo | null> {
    const res = await this.send('getSim', `/v1/sims/${enc(iccid)}`, { method: 'GET' })
    if (res.status === 404) return null
    const b = this.body('getSim', res, [200])
    if (!isRecord(b)) throw this.unexpected('getSim')
    return {
      iccid: typeof b.iccid === 'string' && /^\d{19}$/.test(b.iccid) ? b.iccid : iccid,
      imsi: text(b.imsi),
      msisdn: text(b.msisdn),
      imei: text(b.imei),
      imeiLock: b.imei_lock === true,
      status: simStatus(b.status),
      label: text(b.label),
      ipAddress: text(b.ip_address),
      ipv6Address: null,
      activationDate: date(b.activation_date),
    }
  }

  async updateSim(iccid: string, change: { status?: 'Enabled' | 'Disabled'; label?: string | null; imeiLock?: boolean }): Promise<void> {
    if (change.status === undefined && change.label === undefined && change.imeiLock === undefined) return
    const current = await this.getSim(iccid)
    if (!current) throw new UpstreamError(this.opts.provider, 'updateSim: the SIM is not on the 1NCE account', { operation: 'updateSim', upstreamStatus: 404 })
    const label = change.label === undefined ? current.label : change.label
    const status = change.status ?? (current.status === 'Enabled' ? 'Enabled' : 'Disabled')
    const body = { iccid, label: label ?? '', imei_lock: change.imeiLock ?? current.imeiLock, status }
    const res = await this.send('updateSim', `/v1/sims/${enc(iccid)}`, json('PUT', body))
    this.body('updateSim', res, [200, 201, 204])
  }

  async connectivity(iccid: string): Promise<SimConnectivity> {
    const res = await this.send('connectivity', `/v1/sims/${enc(iccid)}/status`, { method: 'GET' })
    const b = this.body('connectivity', res, [200])
    if (!isRecord(b)) throw this.unexpected('connectivity')
    const state = (typeof b.status === 'string' ? b.status : isRecord(b.status) ? text(b.status.description) : null)?.toUpperCase() ?? null
    if (!state) throw this.unexpected('connectivity')
    const location = isRecord(b.location) ? b.location : {}
    const operator = isRecord(location.operator) ? location.operator : {}
    const country = isRecord(location.country) ? location.country : isRecord(operator.country) ? operator.country : {}
    const pdp = Array.isArray(b.pdp_contexts) ? (b.pdp_contexts.find(isRecord) ?? {}) : isRecord(b.pdp_context) ? b.pdp_context : {}
    const iso = text(country.iso_code) ?? text(country['iso-code'])
    return {
      connected: state === 'ONLINE' || state === 'ATTACHED',
      cellId: cellId(pdp),
      signalStrength: null,
      signalQuality: null,
      rat: rat(isRecord(pdp.rat_type) ? pdp.rat_type.description : undefined),
      countryCode: iso && /^[a-z]{2}$/i.test(iso) ? iso.toUpperCase() : null,
      operatorName: text(operator.name),
      mcc: text(pdp.mcc) ?? text(country.mcc),
      mnc: text(pdp.mnc) ?? text(operator.mnc),
      apn: text(pdp.apn),
      at: date(location.last_updated) ?? new Date(this.now()),
    }
  }

  async reset(iccid: string): Promise<{ expectedCompletion: Date }> {
    const res = await this.send('reset', `/v1/sims/${enc(iccid)}/reset`, { method: 'POST' })
    this.body('reset', res, [200, 201, 202, 204])
    return { expectedCompletion: new Date(this.now() + this.opts.config.resetSeconds * 1000) }
  }

  async resetStatus(_iccid: string, requestedAt: Date): Promise<'in_progress' | 'completed' | 'failed'> {
    return this.now() < requestedAt.getTime() + this.opts.config.resetSeconds * 1000 ? 'in_progress' : 'completed'
  }

  async usage(iccid: string, from: string, to: string): Promise<SimUsageDay[]> {
    const q = new URLSearchParams({ start_dt: from, end_dt: to })
    const res = await this.send('usage', `/v1/sims/${enc(iccid)}/usage?${q}`, { method: 'GET' })
    const b = this.body('usage', res, [200])
    const stats = isRecord(b) && Array.isArray(b.stats) ? b.stats : null
    if (!stats) throw this.unexpected('usage')
    const days = new Map<string, SimUsageDay>()
    for (const s of stats) {
      if (!isRecord(s)) continue
      const day = date(s.date)?.toISOString().slice(0, 10)
      if (!day || day < from || day > to) continue
      const data = isRecord(s.data) ? s.data : {}
      const sms = isRecord(s.sms) ? s.sms : {}
      const unit = isRecord(data.traffic_type) ? data.traffic_type.unit : undefined
      const row = days.get(day) ?? { date: day, volumeRx: 0, volumeTx: 0, smsMo: 0, smsMt: 0, sessionCount: 0 }
      row.volumeRx += bytes(num(data.volume_rx) ?? 0, unit)
      row.volumeTx += bytes(num(data.volume_tx) ?? 0, unit)
      row.smsMo += Math.round(num(sms.volume_rx) ?? 0)
      row.smsMt += Math.round(num(sms.volume_tx) ?? 0)
      days.set(day, row)
    }
    return [...days.values()].sort((a, b) => a.date.localeCompare(b.date))
  }

  async quota(iccid: string, type: SimQuotaType): Promise<SimQuotaInfo> {
    const res = await this.send('quota', `/v1/sims/${enc(iccid)}/quota/${type}`, { method: 'GET' })
    const b = this.body('quota', res, [200])
    if (!isRecord(b)) throw this.unexpected('quota')
    const remaining = num(b.volume)
    const accumulated = num(b.accumulated_total_volume)
    // A sum of every grant below what is left cannot be one: then the last grant's total is the best there is.
    const total = accumulated !== null && (remaining === null || accumulated >= remaining) ? accumulated : (num(b.total_volume) ?? accumulated)
    if (remaining === null || total === null) throw this.unexpected('quota')
    const units = (v: number) => (type === 'data' ? Math.round(v * MB) : Math.round(v))
    const expiryDate = date(b.expiry_date)
    const added = num(b.last_volume_added)
    return {
      type,
      volume: units(total),
      usedVolume: Math.max(0, units(total - remaining)),
      status: quotaStatus(b.status, remaining, expiryDate, this.now()),
      lastVolumeAdded: added === null ? null : units(added),
      lastStatusChangeDate: date(b.last_status_change_date),
      expiryDate,
    }
  }

  async topUp(requests: SimTopUpRequest[]): Promise<SimTopUpOutcome[]> {
    const q = new URLSearchParams({ payment_method: this.opts.config.topUpPaymentMethod })
    const out: SimTopUpOutcome[] = []
    for (const [i, r] of requests.entries()) {
      let res: UpstreamAnswer
      try {
        res = await this.send('topUp', `/v1/sims/${enc(r.iccid)}/topup?${q}`, { method: 'POST' })
      } catch (e) {
        const f = e as Failure
        const sent = f.details?.operation === 'topUp' && (f.details.reason === 'timeout' || f.details.reason === 'network')
        // Nothing ordered yet and nothing will be: the whole call failed.
        if (out.length === 0 && !sent) throw e
        const code = sent ? 'UPSTREAM_UNKNOWN' : f.status === 503 ? 'RATE_LIMITED' : 'UPSTREAM_ERROR'
        const why = sent ? `${f.message} (the top-up may have been ordered)` : f.message
        out.push({ reference: r.reference, ok: false, code, message: why })
        for (const rest of requests.slice(i + 1)) {
          out.push({ reference: rest.reference, ok: false, code: 'NOT_SENT', message: `${this.opts.provider}: topUp: not sent, an earlier top-up of the batch failed (${code})` })
        }
        return out
      }
      if (res.status === 200 || res.status === 201) {
        out.push({ reference: r.reference, ok: true, quota: null })
        continue
      }
      const e = this.failure('topUp', res)
      out.push({ reference: r.reference, ok: false, code: TOPUP_CODES[res.status] ?? (res.status >= 500 ? 'UPSTREAM_ERROR' : 'TOPUP_REFUSED'), message: e.message })
    }
    return out
  }

  async sendSms(iccid: string, sms: SimSmsRequest): Promise<{ upstreamId: string }> {
    const body: Record<string, unknown> = sms.encoding === 'UCS2' ? { payload: ucs2Hex(sms.message), dcs: 8 } : { payload: sms.message, dcs: 0 }
    if (sms.sourceAddress) {
      const numeric = /^\+?\d{1,20}$/.test(sms.sourceAddress)
      body.source_address = numeric ? sms.sourceAddress.replace(/^\+/, '') : sms.sourceAddress
      if (!numeric) body.source_address_type = { id: 208 }
      else if (sms.sourceAddress.startsWith('+')) body.source_address_type = { id: 145 }
    }
    if (sms.expiryDate) body.expiry_date = sms.expiryDate.toISOString()
    const res = await this.send('sendSms', `/v2/sims/${enc(iccid)}/sms`, json('POST', body))
    const b = this.body('sendSms', res, [200, 201])
    const id = isRecord(b) && (typeof b.id === 'string' || typeof b.id === 'number') ? String(b.id) : ''
    if (!id) throw this.unexpected('sendSms', '(no id)')
    return { upstreamId: id }
  }

  async listSms(iccid: string, since: Date): Promise<UpstreamSms[]> {
    const { smsPageSize, smsMaxPages } = this.opts.config
    const found = new Map<string, UpstreamSms>()
    for (let page = 1; page <= smsMaxPages; page++) {
      const q = new URLSearchParams({ page: String(page), per_page: String(smsPageSize) })
      const res = await this.send('listSms', `/v2/sims/${enc(iccid)}/sms?${q}`, { method: 'GET' })
      const b = this.body('listSms', res, [200])
      if (!Array.isArray(b)) throw this.unexpected('listSms')
      for (const raw of b) {
        const sms = isRecord(raw) ? upstreamSms(raw) : null
        if (sms && sms.createdAt.getTime() >= since.getTime()) found.set(`${sms.direction}:${sms.upstreamId}`, sms)
      }
      const pages = Number(res.headers.get('x-total-pages'))
      if (b.length < smsPageSize || (pages > 0 && page >= pages)) break
    }
    return [...found.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || Number(a.upstreamId) - Number(b.upstreamId))
  }

  async cancelSms(iccid: string, upstreamId: string): Promise<void> {
    const res = await this.send('cancelSms', `/v2/sims/${enc(iccid)}/sms/${enc(upstreamId)}`, { method: 'DELETE' })
    this.body('cancelSms', res, [200, 204])
  }

  async setLimits(_iccids: string[], _limits: SimLimitsInput): Promise<void> {
    // 1NCE's only limits are organization-wide: applying one customer's would limit every customer's SIMs.
  }

  async ping(): Promise<void> {
    const res = await this.send('ping', '/v1/sims?page=1&pageSize=1', { method: 'GET' })
    this.body('ping', res, [200])
  }

  /**
   * One authenticated exchange: a cached or new token, the request, and on a 401 one new token and
   * one retry. Throws for what concerns every call (token refused, 401 twice, 429, cool-down, network);
   * any other answer is returned for the operation to judge.
   */
  private async send(operation: string, path: string, init: RequestInit): Promise<UpstreamAnswer> {
    this.coolingDown(operation)
    let token = await this.token(operation, false)
    let res = await this.exchange(operation, path, init, token)
    if (res.status === 401) {
      if (tokens.get(this.key)?.token === token) tokens.delete(this.key)
      token = await this.token(operation, true)
      res = await this.exchange(operation, path, init, token)
      if (res.status === 401) throw this.failure(operation, res)
    }
    if (res.status === 429) throw this.rateLimited(operation, res)
    return res
  }

  private exchange(operation: string, path: string, init: RequestInit, token: string) {
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${token}`)
    headers.set('accept', 'application/json')
    return upstreamRequest(this.opts.fetch, this.opts.provider, operation, `${this.base}${path}`, { ...init, headers }, this.opts.config.timeoutMs)
  }

  private async token(operation: string, fresh: boolean): Promise<string> {
    const cached = tokens.get(this.key)
    if (!fresh && cached && this.now() < cached.refreshAt) {
      this.seen.add(cached.token)
      return cached.token
    }
    const res = await upstreamRequest(
      this.opts.fetch,
      this.opts.provider,
      'token',
      `${this.base}/oauth/token`,
      {
        method: 'POST',
        headers: { authorization: `Basic ${this.basic}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials' }),
      },
      this.opts.config.timeoutMs,
    )
    if (res.status === 429) throw this.rateLimited(operation, res)
    if (res.status !== 200) throw this.failure(operation, res, 'access token')
    const b = parseJson(res.text)
    const token = isRecord(b) && typeof b.access_token === 'string' ? b.access_token.trim() : ''
    if (!token) throw this.unexpected(operation, '(no access token)')
    this.seen.add(token)
    const expiresIn = isRecord(b) && typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : DEFAULT_EXPIRES_IN_S
    const refreshAt = this.now() + (expiresIn - Math.min(TOKEN_MARGIN_S, expiresIn / 2)) * 1000
    tokens.set(this.key, { token, refreshAt })
    return token
  }

  /** The parsed body of an expected answer; the mapped error for anything else. */
  private body(operation: string, res: UpstreamAnswer, ok: number[]): unknown {
    if (ok.includes(res.status)) return res.text ? parseJson(res.text) : null
    throw this.failure(operation, res)
  }

  /** 1NCE's refusal as an `UpstreamError` (a 429 as the 503 that asks to wait). */
  private failure(operation: string, res: UpstreamAnswer, what?: string): AppError {
    if (res.status === 429) return this.rateLimited(operation, res)
    const e = parseJson(res.text)
    const token = isRecord(e) ? (text(e.error_token) ?? text(e.errorCode)) : null
    const code = isRecord(e) && typeof e.error_code === 'number' ? e.error_code : undefined
    const message = isRecord(e) && typeof e.message === 'string' ? quote(e.message, this.secrets()) : ''
    const upstreamError = token ? quote(token, this.secrets(), 40) : undefined
    const label = STATUS_LABELS[res.status] ?? (res.status >= 500 ? `HTTP ${res.status}` : `refused (HTTP ${res.status})`)
    const said = [upstreamError, message].filter(Boolean).join(': ')
    const details = { operation, upstreamStatus: res.status, upstreamError, upstreamCode: code }
    return new UpstreamError(this.opts.provider, `${operation}: ${what ? `${what} ` : ''}${label}${said ? ` (${said})` : ''}`, details)
  }

  private rateLimited(operation: string, res: UpstreamAnswer): AppError {
    const seconds = retryAfter(res.headers.get('retry-after'), this.now()) ?? this.opts.config.retryAfterSeconds
    coolDowns.set(this.key, this.now() + seconds * 1000)
    return tooMany(this.opts.provider, operation, seconds, { operation, upstreamStatus: 429, retryAfter: seconds })
  }

  /** After a 429, calls wait out its Retry-After here instead of reaching 1NCE again. */
  private coolingDown(operation: string) {
    const until = coolDowns.get(this.key)
    if (until === undefined) return
    const left = Math.ceil((until - this.now()) / 1000)
    if (left <= 0) {
      coolDowns.delete(this.key)
      return
    }
    throw tooMany(this.opts.provider, operation, left, { operation, reason: 'rate_limited', retryAfter: left })
  }

  private unexpected(operation: string, what = '') {
    return new UpstreamError(this.opts.provider, `${operation}: unexpected answer${what ? ` ${what}` : ''}`, { operation })
  }

  private secrets() {
    return [this.opts.clientId, this.opts.clientSecret, this.basic, ...this.seen]
  }
}

const STATUS_LABELS: Record<number, string> = {
  400: 'bad request',
  401: 'authentication failed',
  403: 'forbidden',
  404: 'not found',
  409: 'conflict',
  422: 'the SIM is expired (1NCE allows only extensions)',
}

/** A refused top-up's code, by 1NCE's documented statuses for it. */
const TOPUP_CODES: Record<number, string> = {
  400: 'TOPUP_REFUSED',
  403: 'SIM_NOT_ON_ACCOUNT',
  404: 'SIM_NOT_FOUND',
  422: 'SIM_EXPIRED',
}

function tooMany(provider: string, operation: string, seconds: number, details: Record<string, unknown>) {
  return new AppError(503, 'UPSTREAM_ERROR', `${provider}: ${operation}: rate limited by 1NCE, retry in ${seconds} s`, details, undefined, { 'Retry-After': String(seconds) })
}

const enc = encodeURIComponent

function json(method: string, body: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
}

function text(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return typeof v === 'string' && v.trim() ? v.trim() : null
}

/** A number, or a numeric string (1NCE sends usage volumes as strings). */
function num(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() ? Number(v) : Number.NaN
  return Number.isFinite(n) ? n : null
}

/**
 * 1NCE's timestamps come as `2018-03-09T07:59:09.000+0000`, `2021-06-30T00:00:00.000Z`,
 * `2023-08-06 09:59:05` (UTC, no zone) or a bare date.
 */
function date(v: unknown): Date | null {
  if (typeof v !== 'string' || !v.trim()) return null
  let s = v.trim().replace(/^(\d{4}-\d{2}-\d{2}) /, '$1T')
  s = s.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')
  if (/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s)) s += 'Z'
  const t = Date.parse(s)
  return Number.isNaN(t) ? null : new Date(t)
}

/** A data volume in 1NCE's unit (MB unless its traffic type says otherwise) as bytes. */
function bytes(value: number, unit: unknown): number {
  const u = typeof unit === 'string' ? unit.trim().toUpperCase() : 'MB'
  const factor = u === 'B' ? 1 : u === 'KB' ? 1024 : u === 'GB' ? 1024 * MB : MB
  return Math.round(value * factor)
}

function simStatus(v: unknown): UpstreamSimStatus {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : ''
  if (s === 'enabled' || s === 'activated') return 'Enabled'
  if (s === 'suspended') return 'Suspended'
  if (s === 'expired') return 'Expired'
  // Disabled, Deactivated, and anything 1NCE may add: not usable until it says otherwise.
  return 'Disabled'
}

function quotaStatus(v: unknown, remaining: number, expiry: Date | null, now: number): SimQuotaInfo['status'] {
  const s = isRecord(v) && typeof v.description === 'string' ? v.description.toUpperCase() : ''
  if (s === 'ACTIVE') return 'Active'
  if (s === 'EXHAUSTED') return 'Exhausted'
  if (s === 'EXPIRED') return 'Expired'
  if (expiry && expiry.getTime() <= now) return 'Expired'
  return remaining <= 0 ? 'Exhausted' : 'Active'
}

const RATS: Record<string, string> = { '2G': 'GSM', '3G': 'UMTS', '4G': 'LTE', LTE: 'LTE', 'LTE-M': 'LTE-M', 'NB-IOT': 'NB-IoT', '5G': '5G' }

function rat(v: unknown): string | null {
  const s = text(v)
  return s ? (RATS[s.toUpperCase()] ?? s) : null
}

/** The cell: v1's `ci`, else v2's GTP user location (`gtp_v1_uli.ci`, `gtp_v2_uli.eci` or its CGI's `ci`). */
function cellId(pdp: Record<string, unknown>): string | null {
  const v1 = isRecord(pdp.gtp_v1_uli) ? pdp.gtp_v1_uli : {}
  const v2 = isRecord(pdp.gtp_v2_uli) ? pdp.gtp_v2_uli : {}
  const cgi = isRecord(v2.cgi) ? v2.cgi : {}
  return text(pdp.ci) ?? text(v1.ci) ?? text(v2.eci) ?? text(cgi.ci)
}

/** UCS-2 text for DCS 8 (3GPP TS 23.038), which 1NCE takes as a hex string: UTF-16BE code units. */
function ucs2Hex(message: string): string {
  let out = ''
  for (let i = 0; i < message.length; i++) out += message.charCodeAt(i).toString(16).padStart(4, '0').toUpperCase()
  return out
}

function fromUcs2Hex(hex: string): string | null {
  if (!/^([0-9a-fA-F]{4})+$/.test(hex)) return null
  let out = ''
  for (let i = 0; i < hex.length; i += 4) out += String.fromCharCode(Number.parseInt(hex.slice(i, i + 4), 16))
  return out
}

const MT_STATUSES: Record<string, UpstreamSmsStatus> = {
  PENDING: 'sent',
  BUFFERED: 'sent',
  DELIVERED: 'delivered',
  FAILED: 'failed',
  EXPIRED: 'failed',
  CANCELED: 'cancelled',
  CANCELLED: 'cancelled',
}

/**
 * One of 1NCE's SMS. MO messages are `received` whatever their status (1NCE keeps them PENDING
 * until an SMS forwarder acknowledges them); an MT message PENDING at 1NCE was accepted and awaits
 * delivery (`sent`), for up to 24 hours before it FAILS.
 */
function upstreamSms(s: Record<string, unknown>): UpstreamSms | null {
  const id = text(s.id)
  const createdAt = date(s.submit_date)
  if (!id || !createdAt) return null
  const type = isRecord(s.sms_type) ? s.sms_type : {}
  const direction = text(type.description)?.toUpperCase() === 'MO' || type.id === 2 ? 'MO' : 'MT'
  const st = isRecord(s.status) ? (text(s.status.description)?.toUpperCase() ?? '') : ''
  const status: UpstreamSmsStatus = direction === 'MO' ? 'received' : (MT_STATUSES[st] ?? 'sent')
  const payload = typeof s.payload === 'string' ? s.payload : ''
  return {
    upstreamId: id,
    direction,
    message: (s.dcs === 8 ? fromUcs2Hex(payload) : null) ?? payload,
    status,
    sourceAddress: text(s.source_address),
    createdAt,
    sentAt: direction === 'MT' ? createdAt : null,
    deliveredAt: status === 'delivered' ? (date(s.delivery_date) ?? date(s.final_date)) : null,
  }
}

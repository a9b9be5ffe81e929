/**
 * Twilio Programmable Messaging as a MessagingConnector (REST API 2010-04-01, HTTP Basic auth
 * AccountSid:AuthToken, form-encoded requests, JSON answers).
 *
 *   send     POST {baseUrl}/2010-04-01/Accounts/{AccountSid}/Messages.json  (form: To, From, Body, StatusCallback?)
 *            → 201 {sid: "SM…", status: "queued", date_created: "Thu, 24 Aug 2023 05:01:45 +0000", …}
 *   test     GET  …/Accounts/{AccountSid}.json → {friendly_name, status: active|suspended|closed, type: Trial|Full, …}
 *   find     GET  …/Messages.json?To=…&From=…&DateSent>=YYYY-MM-DD&PageSize=… → {messages: [Message], next_page_uri, …}
 *   errors   {"code": 21211, "message": "…", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
 *
 * `send` classifies every answer (the `messages` consumer decides from it):
 * - 21211 (invalid To), 21614 (To is not a mobile number) and 21635 (To is a landline: Twilio split it out of
 *   21614) → failed INVALID_RECIPIENT; 21610 (the recipient answered STOP) → failed RECIPIENT_UNSUBSCRIBED;
 *   21408 (Messaging Geo Permissions do not allow the destination) → failed REGION_NOT_ENABLED;
 *   20003 or HTTP 401 → failed CONNECTOR_AUTH_FAILED;
 * - 20429 or HTTP 429 → retry UPSTREAM_RATE_LIMITED (Twilio: a 429 "is never processed and is always safe to
 *   retry"), after Retry-After when Twilio sends one; 5xx → retry UPSTREAM_UNAVAILABLE;
 * - any other 4xx → failed CONNECTOR_ERROR naming Twilio's code;
 * - no answer (timeout, network), or a 2xx without a message sid → uncertain DELIVERY_UNCONFIRMED: the message
 *   may exist at Twilio, so the consumer asks `find` instead of sending again.
 *
 * `find` looks for an earlier attempt by recipient, sender and sent date (the list filters Twilio documents),
 * then by body and `date_created`. Twilio's timestamps have whole seconds, so `since` is compared at that
 * precision, less a small allowance for clock skew.
 *
 * Status callbacks are form posts signed with `X-Twilio-Signature` over the callback URL and every form field
 * (see `validTwilioSignature`). They carry MessageSid, MessageStatus and, when it failed, ErrorCode; delivered
 * and undelivered SMS may add RawDlrDoneDate, the carrier's "done date" passed through at minute precision with
 * no time zone stated, so an update's time is when we received it.
 *
 * The auth token is only ever in the Authorization header; Twilio's own text is quoted with it cut out.
 */
import { AppError, UpstreamError } from '../../lib/errors'
import { isRecord } from '../../lib/json'
import { DEFAULT_TIMEOUT_MS, parseJson, quote, retryAfter, type UpstreamAnswer, upstreamRequest } from '../numbers/http'
import { validTwilioSignature } from '../numbers/twilio'
import type { ConnectorCredentials } from './credentials'
import type { ConnectorDeps, ConnectorTestResult, InboundCallback, MessagingConnector, OutboundMessage, SendResult, StatusUpdate } from './types'

export const TWILIO_BASE_URL = 'https://api.twilio.com'

const PROVIDER = 'twilio'
const INVALID_RECIPIENT = new Set([21211, 21614, 21635])
const AUTH_FAILED = 20003
const UNSUBSCRIBED = 21610
const REGION_NOT_ENABLED = 21408
const TOO_MANY_REQUESTS = 20429
/** How far Twilio's clock may run behind ours when `find` compares `date_created` with `since`. */
const CLOCK_SKEW_MS = 2_000
/** One page of a recipient's messages from one sender since a day: more than any real conversation holds. */
const FIND_PAGE_SIZE = 1000
/** Twilio's error messages name the number at fault at their end: quoted up to this many characters. */
const QUOTE_MAX = 200

/** Twilio's MessageStatus → ours; the statuses before sending (queued, accepted, sending, scheduled) are no update. */
const CALLBACK_STATUS = new Map<string, StatusUpdate['status']>([
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['read', 'read'],
  ['undelivered', 'failed'],
  ['failed', 'failed'],
])

export class TwilioConnector implements MessagingConnector {
  readonly type = 'twilio' as const
  private readonly account: string
  private readonly authorization: string
  private readonly timeoutMs: number
  private readonly now: () => number

  constructor(
    private readonly credentials: ConnectorCredentials['twilio'],
    private readonly deps: ConnectorDeps,
  ) {
    const base = (deps.baseUrl ?? TWILIO_BASE_URL).replace(/\/+$/, '')
    this.account = `${base}/2010-04-01/Accounts/${encodeURIComponent(credentials.accountSid)}`
    this.authorization = `Basic ${btoa(`${credentials.accountSid}:${credentials.authToken}`)}`
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.now = deps.now ?? Date.now
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const form = new URLSearchParams({ To: message.to, From: this.credentials.fromNumber, Body: message.text })
    if (message.statusCallbackUrl) form.set('StatusCallback', message.statusCallbackUrl)
    let res: UpstreamAnswer
    try {
      res = await this.request('send', `${this.account}/Messages.json`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      })
    } catch (e) {
      // The request may have reached Twilio: sending again blindly could deliver the message twice.
      return { kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: e instanceof Error ? e.message : 'twilio: send: no answer' }
    }
    if (res.status >= 200 && res.status < 300) {
      const body = parseJson(res.text)
      if (isRecord(body) && typeof body.sid === 'string' && body.sid) {
        return { kind: 'accepted', upstreamId: body.sid, status: body.status === 'delivered' ? 'delivered' : 'sent' }
      }
      return { kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: `twilio: send: HTTP ${res.status} without a message sid` }
    }
    return this.refusal(res)
  }

  async test(): Promise<ConnectorTestResult> {
    let res: UpstreamAnswer
    try {
      res = await this.request('test', `${this.account}.json`, { method: 'GET' })
    } catch (e) {
      return { success: false, connected: false, message: e instanceof Error ? e.message : 'twilio: test: no answer' }
    }
    const body = parseJson(res.text)
    if (res.status !== 200) {
      const { code, text } = twilioError(body)
      if (code === AUTH_FAILED || res.status === 401) return { success: false, connected: false, message: `Twilio refused the credentials (${code ?? `HTTP ${res.status}`})` }
      return { success: false, connected: false, message: `Twilio error ${code ?? `HTTP ${res.status}`}${text ? `: ${quote(text, this.secrets(), QUOTE_MAX)}` : ''}` }
    }
    if (!isRecord(body)) return { success: false, connected: false, message: 'Twilio answered the account fetch with an unexpected body' }
    // The account resource carries its auth token: only these two fields are read, and both are quoted.
    const name = quote(typeof body.friendly_name === 'string' ? body.friendly_name : '', this.secrets()) || 'unnamed account'
    const status = quote(typeof body.status === 'string' ? body.status : 'unknown', this.secrets())
    if (status !== 'active') return { success: false, connected: false, message: `Twilio account ${name} is ${status}: it cannot send messages` }
    return { success: true, connected: true, message: `Connected to Twilio (${name}, ${status})` }
  }

  async find(message: OutboundMessage, since: Date): Promise<{ upstreamId: string; status: 'sent' | 'delivered' } | null> {
    const from = Math.floor(since.getTime() / 1000) * 1000 - CLOCK_SKEW_MS
    const url = new URL(`${this.account}/Messages.json`)
    url.searchParams.set('To', message.to)
    url.searchParams.set('From', this.credentials.fromNumber)
    url.searchParams.set('DateSent>', new Date(from).toISOString().slice(0, 10))
    url.searchParams.set('PageSize', String(FIND_PAGE_SIZE))
    const res = await this.request('find', url.toString(), { method: 'GET' })
    const body = parseJson(res.text)
    if (res.status !== 200) {
      const { code } = twilioError(body)
      throw new UpstreamError(PROVIDER, `find: Twilio ${code !== undefined ? `error ${code}` : `HTTP ${res.status}`}`, { operation: 'find', upstreamStatus: res.status, upstreamCode: code })
    }
    const list = isRecord(body) && Array.isArray(body.messages) ? body.messages : null
    if (!list) throw new UpstreamError(PROVIDER, 'find: unexpected answer', { operation: 'find', upstreamStatus: res.status })
    for (const m of list) {
      if (!isRecord(m) || typeof m.sid !== 'string' || !m.sid || m.body !== message.text) continue
      const created = typeof m.date_created === 'string' ? Date.parse(m.date_created) : Number.NaN
      if (!(created >= from)) continue
      // A message Twilio holds reached it, whatever became of it since: its callbacks tell the rest.
      return { upstreamId: m.sid, status: m.status === 'delivered' || m.status === 'read' ? 'delivered' : 'sent' }
    }
    return null
  }

  async statusUpdates(callback: InboundCallback): Promise<StatusUpdate[]> {
    const params = [...new URLSearchParams(callback.body)]
    if (!(await validTwilioSignature(this.credentials.authToken, callback.headers.get('x-twilio-signature'), callback.url, params))) {
      throw new AppError(401, 'INVALID_SIGNATURE', 'The Twilio status callback is not signed with this connector’s auth token')
    }
    const field = (name: string) => params.find(([k]) => k === name)?.[1]?.trim() || undefined
    const upstreamId = field('MessageSid')
    const messageStatus = field('MessageStatus')?.toLowerCase()
    // WhatsApp read receipts may come as EventType=READ.
    const status = field('EventType')?.toUpperCase() === 'READ' ? 'read' : messageStatus ? CALLBACK_STATUS.get(messageStatus) : undefined
    if (!upstreamId || !status) return []
    const update: StatusUpdate = { upstreamId, status, at: new Date(this.now()) }
    if (status === 'failed') {
      const raw = field('ErrorCode')
      const errorCode = raw ? quote(raw, this.secrets(), 20) : undefined
      const detail = field('ChannelStatusMessage')
      if (errorCode) update.errorCode = errorCode
      update.errorMessage = `Twilio: message ${messageStatus}${errorCode ? ` (error ${errorCode})` : ''}${detail ? `: ${quote(detail, this.secrets(), QUOTE_MAX)}` : ''}`
    }
    return [update]
  }

  /** A refusal of `send` (any non-2xx answer), classified by Twilio's code, else by the HTTP status. */
  private refusal(res: UpstreamAnswer): SendResult {
    const { code, text } = twilioError(parseJson(res.text))
    const said = `Twilio ${code !== undefined ? `error ${code}` : `HTTP ${res.status}`}${text ? `: ${quote(text, this.secrets(), QUOTE_MAX)}` : ''}`
    if (code === TOO_MANY_REQUESTS || res.status === 429) {
      const seconds = retryAfter(res.headers.get('retry-after'), this.now())
      return { kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: said, ...(seconds !== null ? { retryAfterSeconds: seconds } : {}) }
    }
    if (res.status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: said }
    if (code === AUTH_FAILED || res.status === 401) return { kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: said }
    if (code !== undefined && INVALID_RECIPIENT.has(code)) return { kind: 'failed', code: 'INVALID_RECIPIENT', message: said }
    if (code === UNSUBSCRIBED) return { kind: 'failed', code: 'RECIPIENT_UNSUBSCRIBED', message: said }
    if (code === REGION_NOT_ENABLED) return { kind: 'failed', code: 'REGION_NOT_ENABLED', message: said }
    return { kind: 'failed', code: 'CONNECTOR_ERROR', message: said }
  }

  private request(operation: string, url: string, init: RequestInit) {
    const headers = new Headers(init.headers)
    headers.set('authorization', this.authorization)
    headers.set('accept', 'application/json')
    return upstreamRequest(this.deps.fetch, PROVIDER, operation, url, { ...init, headers }, this.timeoutMs)
  }

  private secrets() {
    return [this.credentials.authToken, this.authorization.slice('Basic '.length)]
  }
}

/** Twilio's error body: its numeric code and message, when it sent one. */
function twilioError(body: unknown): { code?: number; text: string } {
  if (!isRecord(body)) return { text: '' }
  const code = typeof body.code === 'number' ? body.code : typeof body.code === 'string' && /^\d+$/.test(body.code) ? Number(body.code) : undefined
  return { code, text: typeof body.message === 'string' ? body.message : '' }
}

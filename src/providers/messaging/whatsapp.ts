/**
 * The WhatsApp Cloud API (Meta's Graph API) as a MessagingConnector.
 *
 *   send     POST {base}/{version}/{phoneNumberId}/messages, `Authorization: Bearer <accessToken>`, JSON
 *            {messaging_product: "whatsapp", recipient_type: "individual", to, type: "text", text: {body}} ("Text
 *            messages"), or type "template" with template {name, language: {code}, components: [{type: "body",
 *            parameters: [{type: "text", text}, …]}]} (the template object) → 200 {messaging_product, contacts:
 *            [{input, wa_id}], messages: [{id: "wamid.…"}]}.
 *   test     GET {base}/{version}/{phoneNumberId}?fields=display_phone_number,verified_name ("Business phone
 *            numbers": get a single phone number) → {display_phone_number, verified_name, id}.
 *   status   the `messages` webhook: entry[].changes[].value.statuses[] {id: wamid, status, timestamp (Unix
 *            seconds, a string), recipient_id, errors?: [{code, title, message, error_data: {details}}]} ("Status
 *            messages webhook reference"), signed with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the payload
 *            keyed by the app secret>` (Graph API webhooks, "Validating Payloads").
 *   errors   {error: {message, type, code, error_subcode, error_data: {messaging_product, details}, fbtrace_id}}
 *            ("WhatsApp error codes"; Meta asks to decide on `code`, not on the title inside `message`).
 *
 * No `find`: the Cloud API has no call that looks a sent message up, by our reference or otherwise (a message is
 * only ever reported to us through the status webhook), so an uncertain send cannot be reconciled here.
 *
 * Mapping choices:
 * - `to` is sent as the E.164 string we hold, plus sign included. Meta's "WhatsApp user phone number formats"
 *   recommends the plus sign and the country calling code: without the plus, the business number's own calling
 *   code is prepended (their example: `1 (631) 555-1234` from an Indian number goes to +9116315551234). A `to`
 *   that is not E.164 is refused as INVALID_RECIPIENT before any request, for the same reason.
 * - A template with no body parameters is sent without `components` (there is nothing to fill).
 * - Graph error codes decide first, then the HTTP status (Meta sends some throttling codes with 400):
 *   131047 → OUTSIDE_SESSION_WINDOW; 131056 → retry PAIR_RATE_LIMITED; 132000 → TEMPLATE_PARAMETER_MISMATCH;
 *   190 (and any 401) → CONNECTOR_AUTH_FAILED; 130429, 4, 80007 (and any 429) → retry UPSTREAM_RATE_LIMITED;
 *   131026 (undeliverable), 131030 (not in the test number's allowed list), 131021 (recipient is the sender) →
 *   INVALID_RECIPIENT; 131000 (unknown error, "try again"), 1 and 2 (temporary downtime), 131016 (service
 *   unavailable) and any 5xx → retry UPSTREAM_UNAVAILABLE; any other answer → CONNECTOR_ERROR naming the code.
 * - A 2xx without a readable `messages[0].id` is `uncertain`: Meta took the request, but we cannot follow it.
 * - Status webhooks: `played` (voice messages) and unknown statuses are skipped, so are inbound `messages[]` and
 *   the statuses of another phone number of the same app (`metadata.phone_number_id`).
 */
import { timingSafeEqual, toHex } from '../../lib/crypto'
import { AppError } from '../../lib/errors'
import { isRecord } from '../../lib/json'
import { DEFAULT_TIMEOUT_MS, parseJson, quote, retryAfter, type UpstreamAnswer, upstreamRequest } from '../numbers/http'
import type { ConnectorCredentials } from './credentials'
import type { ConnectorDeps, ConnectorTestResult, InboundCallback, MessagingConnector, OutboundMessage, SendResult, StatusUpdate } from './types'

export const WHATSAPP_BASE_URL = 'https://graph.facebook.com'

/**
 * The Graph API version in every path. v26.0 is the current version in Meta's Graph API changelog (introduced
 * July 29, 2026, "available until: TBD", where v25.0 ends July 29, 2028) and the one Meta's "Text messages"
 * reference uses in its request syntax. Pinned, because a version changes payloads (v24.0 dropped the
 * `conversation` object from status webhooks); moving it is a reviewed change.
 */
export const WHATSAPP_GRAPH_VERSION = 'v26.0'

/**
 * The wait after a pair rate limit (131056). Meta allows 1 message every 6 s to the same user; a burst of up to 45
 * "borrows" from that quota and must be repaid at the normal rate (a burst of 20 costs ~2 minutes), and Meta
 * suggests retrying after 4^X s (1, 4, 16, 64 … as failures repeat). This adapter does not know X, and the
 * consumer already paces a recipient at 6 s, so a 131056 means the window is in deficit: one minute repays ten
 * messages in a single wait instead of spending queue attempts on 1-, 4- and 16-second retries. Only this
 * recipient waits; other recipients are not limited.
 */
export const PAIR_RATE_LIMIT_RETRY_SECONDS = 60

const UPSTREAM = 'WhatsApp Cloud API'
const E164 = /^\+[1-9]\d{6,14}$/
/** Meta's verification sends an int as `hub.challenge`; nothing else (no markup) is echoed back. */
const CHALLENGE = /^[A-Za-z0-9._-]{1,256}$/

const OUTSIDE_SESSION_WINDOW = 131047
const PAIR_RATE_LIMITED = 131056
const TEMPLATE_PARAMETER_MISMATCH = 132000
const AUTH_FAILED = new Set([190])
const RATE_LIMITED = new Set([130429, 4, 80007])
const INVALID_RECIPIENT = new Set([131026, 131030, 131021])
const UNAVAILABLE = new Set([131000, 1, 2, 131016])

interface GraphError {
  code: number | null
  subcode: number | null
  message: string
}

export class WhatsAppConnector implements MessagingConnector {
  readonly type = 'whatsapp' as const
  private readonly base: string
  private readonly timeoutMs: number
  private readonly now: () => number

  constructor(
    private readonly credentials: ConnectorCredentials['whatsapp'],
    private readonly deps: ConnectorDeps,
  ) {
    this.base = `${(deps.baseUrl ?? WHATSAPP_BASE_URL).replace(/\/+$/, '')}/${WHATSAPP_GRAPH_VERSION}/${encodeURIComponent(credentials.phoneNumberId)}`
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.now = deps.now ?? Date.now
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (!E164.test(message.to)) return { kind: 'failed', code: 'INVALID_RECIPIENT', message: 'WhatsApp recipients must be E.164 numbers (+15551234567)' }
    let res: UpstreamAnswer
    try {
      res = await this.request('send', '/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(this.payload(message)) })
    } catch (e) {
      // The request may have reached Meta before the timeout or the reset: never send it again blindly.
      return { kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: this.safe(e instanceof Error ? e.message : 'whatsapp: send: network error') }
    }
    const body = parseJson(res.text)
    if (res.status >= 200 && res.status < 300) {
      const first = isRecord(body) && Array.isArray(body.messages) ? body.messages[0] : undefined
      const id = isRecord(first) && typeof first.id === 'string' && first.id ? first.id : null
      if (id) return { kind: 'accepted', upstreamId: id, status: 'sent' }
      return { kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: `${UPSTREAM} answered HTTP ${res.status} without a message id` }
    }
    return this.classify(res, graphError(body))
  }

  async test(): Promise<ConnectorTestResult> {
    const fail = (message: string): ConnectorTestResult => ({ success: false, connected: false, message })
    let res: UpstreamAnswer
    try {
      res = await this.request('test', `?${new URLSearchParams({ fields: 'display_phone_number,verified_name' })}`, { method: 'GET' })
    } catch (e) {
      return fail(`${UPSTREAM} did not answer (${this.safe(e instanceof Error ? e.message : 'network error')})`)
    }
    const body = parseJson(res.text)
    if (res.status === 200 && isRecord(body)) {
      const number = typeof body.display_phone_number === 'string' && body.display_phone_number.trim() ? this.safe(body.display_phone_number) : 'phone number id ok'
      return { success: true, connected: true, message: `Connected to ${UPSTREAM} (${number})` }
    }
    const error = graphError(body)
    if (res.status === 401 || (error.code !== null && AUTH_FAILED.has(error.code))) return fail(`${UPSTREAM} refused the access token (${this.describe(res, error)})`)
    return fail(`${UPSTREAM} could not read phone number ${this.credentials.phoneNumberId} (${this.describe(res, error)})`)
  }

  async statusUpdates(callback: InboundCallback): Promise<StatusUpdate[]> {
    const secret = this.credentials.appSecret
    // Without the app secret nothing can tell Meta's callback from a forged one: refuse it.
    if (!secret) throw new AppError(401, 'INVALID_SIGNATURE', 'This WhatsApp connector has no app secret: its status callbacks cannot be verified')
    if (!(await validWhatsAppSignature(secret, callback.headers.get('x-hub-signature-256'), callback.body))) {
      throw new AppError(401, 'INVALID_SIGNATURE', 'X-Hub-Signature-256 does not match the payload')
    }
    const body = parseJson(callback.body)
    const updates: StatusUpdate[] = []
    for (const entry of isRecord(body) && Array.isArray(body.entry) ? body.entry : []) {
      for (const change of isRecord(entry) && Array.isArray(entry.changes) ? entry.changes : []) {
        const value = isRecord(change) && isRecord(change.value) ? change.value : null
        if (!value || !Array.isArray(value.statuses)) continue
        const phoneNumberId = isRecord(value.metadata) ? value.metadata.phone_number_id : undefined
        if (typeof phoneNumberId === 'string' && phoneNumberId !== this.credentials.phoneNumberId) continue
        for (const s of value.statuses) {
          const update = this.statusUpdate(s)
          if (update) updates.push(update)
        }
      }
    }
    return updates
  }

  private statusUpdate(s: unknown): StatusUpdate | null {
    if (!isRecord(s) || typeof s.id !== 'string' || !s.id) return null
    const status = s.status
    if (status !== 'sent' && status !== 'delivered' && status !== 'read' && status !== 'failed') return null
    const seconds = typeof s.timestamp === 'string' || typeof s.timestamp === 'number' ? Number(s.timestamp) : Number.NaN
    const update: StatusUpdate = { upstreamId: s.id, status, at: new Date(Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : this.now()) }
    if (status === 'failed') {
      const error = Array.isArray(s.errors) && isRecord(s.errors[0]) ? s.errors[0] : null
      if (error && (typeof error.code === 'number' || typeof error.code === 'string')) update.errorCode = String(error.code)
      const text = error && typeof error.title === 'string' ? error.title : error && typeof error.message === 'string' ? error.message : null
      if (text) update.errorMessage = quote(text, this.secrets(), 200)
    }
    return update
  }

  private payload(message: OutboundMessage): Record<string, unknown> {
    const head = { messaging_product: 'whatsapp', recipient_type: 'individual', to: message.to }
    const t = message.whatsappTemplate
    if (!t) return { ...head, type: 'text', text: { body: message.text } }
    const template: Record<string, unknown> = { name: t.name, language: { code: t.language } }
    if (t.bodyParameters.length > 0) template.components = [{ type: 'body', parameters: t.bodyParameters.map((text) => ({ type: 'text', text })) }]
    return { ...head, type: 'template', template }
  }

  private classify(res: UpstreamAnswer, error: GraphError): SendResult {
    const code = error.code
    const message = `WhatsApp ${this.describe(res, error)}`
    if (code === OUTSIDE_SESSION_WINDOW) return { kind: 'failed', code: 'OUTSIDE_SESSION_WINDOW', message }
    if (code === PAIR_RATE_LIMITED) return { kind: 'retry', code: 'PAIR_RATE_LIMITED', message, retryAfterSeconds: PAIR_RATE_LIMIT_RETRY_SECONDS }
    if (code === TEMPLATE_PARAMETER_MISMATCH) return { kind: 'failed', code: 'TEMPLATE_PARAMETER_MISMATCH', message }
    if ((code !== null && AUTH_FAILED.has(code)) || res.status === 401) return { kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message }
    if ((code !== null && RATE_LIMITED.has(code)) || res.status === 429) {
      const wait = retryAfter(res.headers.get('retry-after'), this.now())
      return { kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message, ...(wait === null ? {} : { retryAfterSeconds: wait }) }
    }
    if (code !== null && INVALID_RECIPIENT.has(code)) return { kind: 'failed', code: 'INVALID_RECIPIENT', message }
    if ((code !== null && UNAVAILABLE.has(code)) || res.status >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message }
    return { kind: 'failed', code: 'CONNECTOR_ERROR', message }
  }

  /** "error 131047/2494010: (#131047) Re-engagement message", or the HTTP status when Meta sent no Graph error. */
  private describe(res: UpstreamAnswer, error: GraphError): string {
    if (error.code === null) return `HTTP ${res.status}`
    const text = error.message ? `: ${this.safe(error.message)}` : ''
    return `error ${error.code}${error.subcode === null ? '' : `/${error.subcode}`}${text}`
  }

  private request(operation: string, path: string, init: RequestInit): Promise<UpstreamAnswer> {
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${this.credentials.accessToken}`)
    headers.set('accept', 'application/json')
    return upstreamRequest(this.deps.fetch, 'whatsapp', operation, `${this.base}${path}`, { ...init, headers }, this.timeoutMs)
  }

  private safe(text: string): string {
    return quote(text, this.secrets())
  }

  private secrets(): (string | undefined)[] {
    return [this.credentials.accessToken, this.credentials.appSecret, this.credentials.webhookVerifyToken]
  }
}

/** `sha256=<hex>` as Meta sends it in X-Hub-Signature-256: HMAC-SHA256 of the raw payload, keyed by the app secret. */
export async function whatsAppSignature(appSecret: string, body: string): Promise<string> {
  const enc = new TextEncoder()
  const key = await crypto.subtle.importKey('raw', enc.encode(appSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return `sha256=${toHex(await crypto.subtle.sign('HMAC', key, enc.encode(body)))}`
}

/** Constant-time check of X-Hub-Signature-256 (the hex compared lower-case, as `toHex` writes it). */
export async function validWhatsAppSignature(appSecret: string, header: string | null | undefined, body: string): Promise<boolean> {
  if (!appSecret) return false
  const expected = await whatsAppSignature(appSecret, body)
  const given = header?.trim() ?? ''
  const normalized = given.slice(0, 7).toLowerCase() === 'sha256=' ? `sha256=${given.slice(7).toLowerCase()}` : given
  return timingSafeEqual(normalized, expected)
}

/**
 * The GET handshake Meta makes when the webhook is set up (`hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`):
 * the challenge to answer with 200 when the token is ours (compared in constant time), else null (answer 403).
 * Without a configured token no handshake succeeds.
 */
export function verifyWhatsAppChallenge(params: URLSearchParams, verifyToken: string | undefined): string | null {
  if (!verifyToken || params.get('hub.mode') !== 'subscribe') return null
  const given = params.get('hub.verify_token')
  const challenge = params.get('hub.challenge')
  if (given === null || !timingSafeEqual(given, verifyToken)) return null
  return challenge !== null && CHALLENGE.test(challenge) ? challenge : null
}

function graphError(body: unknown): GraphError {
  const e = isRecord(body) && isRecord(body.error) ? body.error : null
  if (!e) return { code: null, subcode: null, message: '' }
  return { code: int(e.code), subcode: int(e.error_subcode), message: typeof e.message === 'string' ? e.message : '' }
}

/** Graph sends codes as numbers; a numeric string is read too. */
function int(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN
  return Number.isInteger(n) ? n : null
}

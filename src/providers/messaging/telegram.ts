/**
 * The Telegram Bot API as a MessagingConnector (core.telegram.org/bots/api, "Making requests"):
 * every method is `POST {base}/bot<token>/<method>` with a JSON body, and every answer is
 * `{ok: true, result}` or `{ok: false, error_code, description, parameters?: {retry_after, migrate_to_chat_id}}`.
 *
 *   send    sendMessage {chat_id, text, parse_mode?} → {ok: true, result: Message {message_id, chat: {id, …}, …}}.
 *           Message ids are unique only inside their chat, so the upstream id is `<chat id>:<message_id>`.
 *   test    getMe → User {id, is_bot, first_name, username, …}: "Connected to Telegram Bot API (@<username>)".
 *
 * Telegram has no delivery receipts and no status callbacks: an accepted send is final (`sent`), and
 * there is no `statusUpdates`. It has no way to look a sent message up either, so there is no `find`:
 * an uncertain attempt stays uncertain.
 *
 * Outcomes of `send` (the Bot API documents the error shape, not its texts; the texts matched below are
 * the ones Telegram answers):
 * - 429 → retry UPSTREAM_RATE_LIMITED after exactly `parameters.retry_after` seconds (flood control);
 * - 400 with `parameters.migrate_to_chat_id` → failed CHAT_MIGRATED, naming the new chat id: the group became
 *   a supergroup with another id, and a send to the old one can never succeed;
 * - 403 (bot blocked by the user, user deactivated, bot kicked from the chat…) → failed RECIPIENT_BLOCKED_BOT;
 * - 400 "chat not found" → failed INVALID_RECIPIENT; 400 "can't parse entities" → failed INVALID_MESSAGE_FORMAT;
 * - 401 / 404 (the token is refused or malformed) → failed CONNECTOR_AUTH_FAILED;
 * - 5xx → retry UPSTREAM_UNAVAILABLE; any other refusal → failed CONNECTOR_ERROR with Telegram's description;
 * - a timeout or network failure → uncertain DELIVERY_UNCONFIRMED (the message may have gone out), and so is
 *   a 2xx whose body names no message.
 *
 * The token is part of every URL. `upstreamRequest` never quotes the URL, Telegram's text is quoted with the
 * token (and its secret half) cut out, and the token lives in an ES private field, so neither a result, a
 * message, an error nor a serialised connector carries it. Nothing here logs.
 */
import { UpstreamError } from '../../lib/errors'
import { isRecord } from '../../lib/json'
import { DEFAULT_TIMEOUT_MS, parseJson, quote, type UpstreamAnswer, upstreamRequest } from '../numbers/http'
import type { ConnectorCredentials } from './credentials'
import type { ConnectorDeps, ConnectorTestResult, MessagingConnector, OutboundMessage, SendResult } from './types'

export const TELEGRAM_DEFAULT_BASE_URL = 'https://api.telegram.org'

const PROVIDER = 'telegram'

/**
 * A value made safe to put into a text sent with `parse_mode` (Bot API "Formatting options").
 * - HTML: `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;` (the three the docs require), and `"` becomes
 *   `&quot;` (a supported named entity), so a value is safe inside an attribute (`href="…"`) too.
 * - MarkdownV2: a backslash before each of `_ * [ ] ( ) ~ \` > # + - = | { } . !` and before the backslash
 *   itself. The docs allow any character of code 1–126 to be escaped anywhere, so the same escaping is right
 *   in plain text, inside `code`/`pre` (where only `` ` `` and `\` must be) and inside a link's `(…)`.
 */
export function escapeTelegram(mode: 'HTML' | 'MarkdownV2', value: string): string {
  if (mode === 'HTML') return value.replace(/[&<>"]/g, (c) => HTML_ENTITIES[c] ?? c)
  return value.replace(/[_*[\]()~`>#+\-=|{}.!\\]/g, '\\$&')
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }

/**
 * Whether `to` can be a Telegram `chat_id`: an integer (negative for groups, supergroups and channels;
 * at most 52 significant bits, so a safe integer) or `@` and a public username of 5–32 word characters.
 */
export function isTelegramChatId(to: string): boolean {
  return /^@\w{5,32}$/.test(to) || isNumericChatId(to)
}

function isNumericChatId(to: string): boolean {
  return /^-?[1-9]\d{0,15}$/.test(to) && Number.isSafeInteger(Number(to))
}

/** Telegram's error answer, as far as it was given. */
interface TelegramError {
  code: number
  description: string
  retryAfter?: number
  migrateTo?: number
}

export class TelegramConnector implements MessagingConnector {
  readonly type = 'telegram' as const
  /** ES private: never an own property, so JSON.stringify or a log of the connector cannot show it. */
  readonly #token: string
  private readonly base: string
  private readonly timeoutMs: number

  constructor(
    credentials: ConnectorCredentials['telegram'],
    private readonly deps: ConnectorDeps,
  ) {
    this.#token = credentials.botToken
    this.base = (deps.baseUrl ?? TELEGRAM_DEFAULT_BASE_URL).replace(/\/+$/, '')
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const body: Record<string, unknown> = { chat_id: chatIdValue(message.to), text: message.text }
    if (message.parseMode) body.parse_mode = message.parseMode
    let res: UpstreamAnswer
    try {
      res = await this.call('sendMessage', body)
    } catch (e) {
      // upstreamRequest's message names the provider and the operation, never the URL.
      return { kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: `${this.safeError(e)} (the message may have been sent)` }
    }
    const b = parseJson(res.text)
    if (res.status >= 200 && res.status < 300 && isRecord(b) && b.ok === true) {
      const result = isRecord(b.result) ? b.result : {}
      const chat = isRecord(result.chat) ? result.chat : {}
      if (Number.isInteger(result.message_id) && Number.isInteger(chat.id)) {
        return { kind: 'accepted', upstreamId: `${chat.id}:${result.message_id}`, status: 'sent' }
      }
    }
    const err = this.error(res, b)
    if (!err) return { kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: `telegram: sendMessage: unexpected answer (HTTP ${res.status}); the message may have been sent` }
    return this.classify(err)
  }

  async test(): Promise<ConnectorTestResult> {
    let res: UpstreamAnswer
    try {
      res = await this.call('getMe', {})
    } catch (e) {
      return { success: false, connected: false, message: this.safeError(e) }
    }
    const b = parseJson(res.text)
    if (res.status >= 200 && res.status < 300 && isRecord(b) && b.ok === true && isRecord(b.result)) {
      const { username, id } = b.result
      const name = typeof username === 'string' && /^\w{1,64}$/.test(username) ? `@${username}` : Number.isInteger(id) ? `bot ${id}` : 'bot'
      return { success: true, connected: true, message: `Connected to Telegram Bot API (${name})` }
    }
    const err = this.error(res, b) ?? { code: res.status, description: '' }
    const why = err.code === 401 || err.code === 404 ? 'the bot token was refused' : err.code === 429 ? 'rate limited' : 'getMe failed'
    return { success: false, connected: false, message: `telegram: ${why} (${this.cite(err)})` }
  }

  private call(method: string, body: Record<string, unknown>): Promise<UpstreamAnswer> {
    const init: RequestInit = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
    return upstreamRequest(this.deps.fetch, PROVIDER, method, `${this.base}/bot${this.#token}/${method}`, init, this.timeoutMs)
  }

  /** The error an answer carries: Telegram's own fields, else the HTTP status; null for a 2xx without one. */
  private error(res: UpstreamAnswer, b: unknown): TelegramError | null {
    const r = isRecord(b) ? b : {}
    const code = Number.isInteger(r.error_code) ? (r.error_code as number) : res.status
    if (r.ok !== false && code >= 200 && code < 300) return null
    const params = isRecord(r.parameters) ? r.parameters : {}
    const retryAfter = Number.isInteger(params.retry_after) && (params.retry_after as number) >= 0 ? (params.retry_after as number) : retryAfterHeader(res.headers)
    const migrateTo = Number.isInteger(params.migrate_to_chat_id) ? (params.migrate_to_chat_id as number) : undefined
    return { code, description: typeof r.description === 'string' ? r.description : '', retryAfter, migrateTo }
  }

  private classify(err: TelegramError): SendResult {
    const { code } = err
    const text = err.description.toLowerCase()
    const cite = this.cite(err)
    if (code === 429) {
      const wait = err.retryAfter === undefined ? '' : `, retry in ${err.retryAfter} s`
      return { kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: `telegram: rate limited${wait} (${cite})`, ...(err.retryAfter === undefined ? {} : { retryAfterSeconds: err.retryAfter }) }
    }
    if (code >= 500) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: `telegram: unavailable (${cite})` }
    if (err.migrateTo !== undefined) {
      return { kind: 'failed', code: 'CHAT_MIGRATED', message: `telegram: the group is now the supergroup ${err.migrateTo}; send to that chat id (${cite})` }
    }
    if (code === 401 || code === 404) return { kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: `telegram: the bot token was refused (${cite})` }
    if (code === 403) return { kind: 'failed', code: 'RECIPIENT_BLOCKED_BOT', message: `telegram: the bot may not write to this chat (${cite})` }
    if (code === 400 && text.includes('chat not found')) return { kind: 'failed', code: 'INVALID_RECIPIENT', message: `telegram: no such chat for this bot (${cite})` }
    if (code === 400 && text.includes("can't parse entities")) {
      return { kind: 'failed', code: 'INVALID_MESSAGE_FORMAT', message: `telegram: the text does not parse in its parse_mode (${cite})` }
    }
    return { kind: 'failed', code: 'CONNECTOR_ERROR', message: `telegram: the message was refused (${cite})` }
  }

  /** `<code>: <description>` with the token cut out; Telegram's description names its own error. */
  private cite(err: TelegramError): string {
    const d = quote(err.description, this.secrets(), 120)
    return d ? `${err.code}: ${d}` : `HTTP ${err.code}`
  }

  /** An UpstreamError's message is already safe; anything else is reduced to its name. */
  private safeError(e: unknown): string {
    const text = e instanceof UpstreamError ? e.message : `telegram: request failed (${e instanceof Error ? e.name : 'Error'})`
    return quote(text, this.secrets(), 200)
  }

  /** The method URLs' common part, the token, and its secret half (after `<bot id>:`), which alone is as good as the token. */
  private secrets(): string[] {
    return [`${this.base}/bot${this.#token}`, this.#token, this.#token.slice(this.#token.indexOf(':') + 1)]
  }
}

/** A numeric chat id goes as a JSON integer (its documented type), a `@username` as a string. */
function chatIdValue(to: string): number | string {
  return isNumericChatId(to) ? Number(to) : to
}

/** Retry-After in seconds, when Telegram (or a proxy in front of it) sent one and the body did not. */
function retryAfterHeader(headers: Headers): number | undefined {
  const v = headers.get('retry-after')
  return v && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined
}

/**
 * The Telegram connector against the Bot API's answers: the exact sendMessage and getMe requests
 * (POST {base}/bot<token>/<method>, JSON), the `{ok, result}` / `{ok: false, error_code, description,
 * parameters}` answers classified into accepted / retry / failed / uncertain, the value escapers of
 * "Formatting options" checked against the docs' own examples, and that the token never shows.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TelegramCredentials } from '../../../src/providers/messaging/credentials'
import { escapeTelegram, isTelegramChatId, TELEGRAM_DEFAULT_BASE_URL, TelegramConnector } from '../../../src/providers/messaging/telegram'
import type { OutboundMessage } from '../../../src/providers/messaging/types'
import { fakeUpstream, json, type RecordedRequest, slow, text } from '../../helpers/upstream'

const TOKEN = '7012345678:AAF4xq9-Zt_3kLmN0pQrStUvWxYz12345ab'
const SECRET_HALF = TOKEN.slice(TOKEN.indexOf(':') + 1)

function setup(handler: (req: RecordedRequest) => Response | Promise<Response>, deps: { baseUrl?: string; timeoutMs?: number } = {}) {
  const upstream = fakeUpstream(handler)
  const connector = new TelegramConnector(TelegramCredentials.parse({ botToken: TOKEN }), { fetch: upstream.fetch, ...deps })
  return { connector, upstream }
}

const msg = (to: string, extra: Partial<OutboundMessage> = {}): OutboundMessage => ({ messageId: 'msg_01TESTTELEGRAM', to, text: 'Your code is 123456', ...extra })

/** A sent Message as sendMessage returns it (fields of the Message, User and Chat objects). */
const sent = (chat: Record<string, unknown>, messageId = 42) =>
  json({
    ok: true,
    result: {
      message_id: messageId,
      from: { id: 7012345678, is_bot: true, first_name: 'Switchboard', username: 'switchboard_test_bot' },
      chat,
      date: 1767916800,
      text: 'Your code is 123456',
    },
  })

/** Telegram's error answer: HTTP status = error_code. */
const tgError = (error_code: number, description: string, parameters?: Record<string, unknown>, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ ok: false, error_code, description, ...(parameters ? { parameters } : {}) }), {
    status: error_code,
    headers: { 'content-type': 'application/json', ...headers },
  })

const PRIVATE_CHAT = { id: 123456789, first_name: 'Ada', username: 'ada_l', type: 'private' }

describe('Telegram send', () => {
  it('POSTs sendMessage as JSON to {base}/bot<token>/sendMessage and answers <chat id>:<message_id>, sent', async () => {
    const { connector, upstream } = setup(() => sent(PRIVATE_CHAT))
    expect(await connector.send(msg('123456789'))).toEqual({ kind: 'accepted', upstreamId: '123456789:42', status: 'sent' })
    expect(upstream.calls).toHaveLength(1)
    const r = upstream.last
    expect(r.method).toBe('POST')
    expect(r.url.toString()).toBe(`https://api.telegram.org/bot${TOKEN}/sendMessage`)
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(JSON.parse(r.body)).toEqual({ chat_id: 123456789, text: 'Your code is 123456' })
    expect(r.signal).not.toBeNull()
    expect(TELEGRAM_DEFAULT_BASE_URL).toBe('https://api.telegram.org')
  })

  it('sends parse_mode when set; a negative id goes as an integer, a @channelusername as a string', async () => {
    const chats: Record<string, Record<string, unknown>> = {
      '-1001234567890': { id: -1001234567890, title: 'Ops', type: 'supergroup' },
      '@switchboard_news': { id: -1009876543210, title: 'News', username: 'switchboard_news', type: 'channel' },
    }
    const { connector, upstream } = setup((req) => sent(chats[String(JSON.parse(req.body).chat_id)], 7))
    expect(await connector.send(msg('-1001234567890', { text: '<b>Hi</b>', parseMode: 'HTML' }))).toMatchObject({ kind: 'accepted', upstreamId: '-1001234567890:7' })
    // A channel is named by its username; the upstream id uses the numeric id Telegram answers.
    expect(await connector.send(msg('@switchboard_news', { text: '*Hi*', parseMode: 'MarkdownV2' }))).toMatchObject({ kind: 'accepted', upstreamId: '-1009876543210:7' })
    expect(upstream.calls.map((c) => JSON.parse(c.body))).toEqual([
      { chat_id: -1001234567890, text: '<b>Hi</b>', parse_mode: 'HTML' },
      { chat_id: '@switchboard_news', text: '*Hi*', parse_mode: 'MarkdownV2' },
    ])
  })

  it('uses the base URL override (a local Bot API server), trailing slash or not', async () => {
    const { connector, upstream } = setup(() => sent(PRIVATE_CHAT), { baseUrl: 'http://tg.test:8081/' })
    await connector.send(msg('123456789'))
    expect(upstream.last.url.toString()).toBe(`http://tg.test:8081/bot${TOKEN}/sendMessage`)
  })

  it('429 is retried after exactly parameters.retry_after seconds', async () => {
    const { connector } = setup(() => tgError(429, 'Too Many Requests: retry after 35', { retry_after: 35 }))
    expect(await connector.send(msg('123456789'))).toEqual({
      kind: 'retry',
      code: 'UPSTREAM_RATE_LIMITED',
      retryAfterSeconds: 35,
      message: 'telegram: rate limited, retry in 35 s (429: Too Many Requests: retry after 35)',
    })
  })

  it('a 429 without parameters falls back to a Retry-After header, and to no wait at all without one', async () => {
    const header = setup(() => tgError(429, 'Too Many Requests: retry after 3', undefined, { 'Retry-After': '3' }))
    expect(await header.connector.send(msg('123456789'))).toMatchObject({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 3 })
    const bare = setup(() => tgError(429, 'Too Many Requests: retry after 3'))
    const r = await bare.connector.send(msg('123456789'))
    expect(r).toMatchObject({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED' })
    expect(r).not.toHaveProperty('retryAfterSeconds')
  })

  it('403s (blocked by the user, user deactivated, bot kicked) fail for good: RECIPIENT_BLOCKED_BOT', async () => {
    for (const description of [
      'Forbidden: bot was blocked by the user',
      'Forbidden: user is deactivated',
      'Forbidden: bot was kicked from the group chat',
      "Forbidden: bot can't initiate conversation with a user",
    ]) {
      const { connector } = setup(() => tgError(403, description))
      expect(await connector.send(msg('123456789'))).toEqual({ kind: 'failed', code: 'RECIPIENT_BLOCKED_BOT', message: `telegram: the bot may not write to this chat (403: ${description})` })
    }
  })

  it('400 "chat not found" is INVALID_RECIPIENT', async () => {
    const { connector } = setup(() => tgError(400, 'Bad Request: chat not found'))
    expect(await connector.send(msg('@nobody_here'))).toEqual({ kind: 'failed', code: 'INVALID_RECIPIENT', message: 'telegram: no such chat for this bot (400: Bad Request: chat not found)' })
  })

  it('400 "can\'t parse entities" is INVALID_MESSAGE_FORMAT', async () => {
    const description = "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 6"
    const { connector } = setup(() => tgError(400, description))
    expect(await connector.send(msg('123456789', { text: 'Hello *world', parseMode: 'MarkdownV2' }))).toEqual({
      kind: 'failed',
      code: 'INVALID_MESSAGE_FORMAT',
      message: `telegram: the text does not parse in its parse_mode (400: ${description})`,
    })
  })

  it('400 with parameters.migrate_to_chat_id is CHAT_MIGRATED naming the new chat id', async () => {
    const { connector } = setup(() => tgError(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: -1001557912345 }))
    const r = await connector.send(msg('-557912345'))
    expect(r).toEqual({
      kind: 'failed',
      code: 'CHAT_MIGRATED',
      message: 'telegram: the group is now the supergroup -1001557912345; send to that chat id (400: Bad Request: group chat was upgraded to a supergroup chat)',
    })
  })

  it('401 and 404 on the bot (a revoked or malformed token) are CONNECTOR_AUTH_FAILED', async () => {
    const unauthorized = setup(() => tgError(401, 'Unauthorized'))
    expect(await unauthorized.connector.send(msg('123456789'))).toEqual({ kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: 'telegram: the bot token was refused (401: Unauthorized)' })
    const notFound = setup(() => tgError(404, 'Not Found'))
    expect(await notFound.connector.send(msg('123456789'))).toEqual({ kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: 'telegram: the bot token was refused (404: Not Found)' })
  })

  it('5xx, Telegram’s or a proxy’s page, is retried: UPSTREAM_UNAVAILABLE', async () => {
    const internal = setup(() => tgError(500, 'Internal Server Error'))
    expect(await internal.connector.send(msg('123456789'))).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'telegram: unavailable (500: Internal Server Error)' })
    const gateway = setup(() => text('<html><body>502 Bad Gateway</body></html>', 502))
    expect(await gateway.connector.send(msg('123456789'))).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'telegram: unavailable (HTTP 502)' })
  })

  it('any other refusal is CONNECTOR_ERROR quoting Telegram’s description', async () => {
    const { connector } = setup(() => tgError(400, 'Bad Request: message is too long'))
    expect(await connector.send(msg('123456789'))).toEqual({ kind: 'failed', code: 'CONNECTOR_ERROR', message: 'telegram: the message was refused (400: Bad Request: message is too long)' })
    const odd = setup(() => tgError(409, 'Conflict: something\n\u0007new'))
    expect(await odd.connector.send(msg('123456789'))).toEqual({ kind: 'failed', code: 'CONNECTOR_ERROR', message: 'telegram: the message was refused (409: Conflict: something new)' })
  })

  it('a timeout is uncertain (the message may have gone out): DELIVERY_UNCONFIRMED', async () => {
    const { connector } = setup(() => slow(2_000, () => sent(PRIVATE_CHAT)), { timeoutMs: 100 })
    expect(await connector.send(msg('123456789'))).toEqual({
      kind: 'uncertain',
      code: 'DELIVERY_UNCONFIRMED',
      message: 'telegram: sendMessage: no answer within 100 ms (the message may have been sent)',
    })
  })

  it('a network error is uncertain too, and names neither the URL nor the token', async () => {
    const { connector } = setup((req) => {
      throw new TypeError(`fetch failed: ${req.url}`)
    })
    const r = await connector.send(msg('123456789'))
    expect(r).toEqual({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: 'telegram: sendMessage: network error (TypeError) (the message may have been sent)' })
  })

  it('a 2xx that names no message is uncertain, not accepted', async () => {
    for (const answer of [json({ ok: true, result: true }), text('OK'), json({ ok: true, result: { message_id: 5 } })]) {
      const { connector } = setup(() => answer)
      expect(await connector.send(msg('123456789'))).toMatchObject({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED' })
    }
  })
})

describe('Telegram test()', () => {
  it('calls getMe and names the bot', async () => {
    const { connector, upstream } = setup(() =>
      json({
        ok: true,
        result: {
          id: 7012345678,
          is_bot: true,
          first_name: 'Switchboard',
          username: 'switchboard_test_bot',
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false,
        },
      }),
    )
    expect(await connector.test()).toEqual({ success: true, connected: true, message: 'Connected to Telegram Bot API (@switchboard_test_bot)' })
    expect(upstream.last.method).toBe('POST')
    expect(upstream.last.url.toString()).toBe(`https://api.telegram.org/bot${TOKEN}/getMe`)
    expect(upstream.last.headers.get('content-type')).toBe('application/json')
    expect(JSON.parse(upstream.last.body)).toEqual({})
  })

  it('a refused token, an outage and a timeout are {success: false, connected: false} with the reason', async () => {
    expect(await setup(() => tgError(401, 'Unauthorized')).connector.test()).toEqual({ success: false, connected: false, message: 'telegram: the bot token was refused (401: Unauthorized)' })
    expect(await setup(() => tgError(404, 'Not Found')).connector.test()).toEqual({ success: false, connected: false, message: 'telegram: the bot token was refused (404: Not Found)' })
    expect(await setup(() => text('Bad Gateway', 502)).connector.test()).toEqual({ success: false, connected: false, message: 'telegram: getMe failed (HTTP 502)' })
    const late = setup(() => slow(2_000, () => json({ ok: true, result: {} })), { timeoutMs: 100 })
    expect(await late.connector.test()).toEqual({ success: false, connected: false, message: 'telegram: getMe: no answer within 100 ms' })
  })
})

describe('Telegram never shows the token', () => {
  afterEach(() => vi.restoreAllMocks())

  it('not in any result or message, even when Telegram echoes the URL, nor in a log or the serialised connector', async () => {
    const logged: string[] = []
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map(String).join(' '))
      })
    }
    const echo = (req: RecordedRequest) => `token ${TOKEN} secret ${SECRET_HALF} at ${req.url}`
    const answers: ((req: RecordedRequest) => Response | Promise<Response>)[] = [
      (req) => tgError(429, echo(req), { retry_after: 1 }),
      (req) => tgError(403, echo(req)),
      (req) => tgError(400, `chat not found ${echo(req)}`),
      (req) => tgError(400, `can't parse entities ${echo(req)}`),
      (req) => tgError(400, echo(req), { migrate_to_chat_id: -1001 }),
      (req) => tgError(401, echo(req)),
      (req) => tgError(500, echo(req)),
      (req) => tgError(400, echo(req)),
      (req) => text(echo(req), 200),
      (req) => {
        throw new TypeError(`fetch failed: ${req.url}`)
      },
      () => slow(2_000, () => text('late')),
    ]
    const seen: unknown[] = []
    for (const answer of answers) {
      const { connector } = setup(answer, { timeoutMs: 100 })
      seen.push(await connector.send(msg('123456789')), await connector.test())
      seen.push(JSON.stringify(connector), String(connector))
    }
    const all = JSON.stringify(seen) + logged.join('\n')
    expect(all).toContain('***') // Telegram's echo was quoted, with the token cut out
    for (const secret of [TOKEN, SECRET_HALF, 'api.telegram.org/bot']) expect(all.includes(secret), `leaked ${secret}: ${all}`).toBe(false)
    expect(logged).toEqual([])
  })
})

describe('escapeTelegram', () => {
  it('HTML: &, < and > become &amp;, &lt; and &gt; (and " &quot;), as "HTML style" requires', () => {
    expect(escapeTelegram('HTML', 'Tom & Jerry <3 > "cats"')).toBe('Tom &amp; Jerry &lt;3 &gt; &quot;cats&quot;')
    // The docs' own example, with a value escaped into it.
    expect(`<b>bold</b>, <i>${escapeTelegram('HTML', 'a < b & c')}</i>`).toBe('<b>bold</b>, <i>a &lt; b &amp; c</i>')
    // Already-escaped text is escaped again: a value is literal text, never markup.
    expect(escapeTelegram('HTML', '&lt;')).toBe('&amp;lt;')
    expect(escapeTelegram('HTML', 'plain text, ünïcödé 😀')).toBe('plain text, ünïcödé 😀')
  })

  it('MarkdownV2: the docs’ "*bold \\*text*" and "_italic \\*text_" come out of escaping the value "*text"', () => {
    expect(`*bold ${escapeTelegram('MarkdownV2', '*text')}*`).toBe('*bold \\*text*')
    expect(`_italic ${escapeTelegram('MarkdownV2', '*text')}_`).toBe('_italic \\*text_')
  })

  it('MarkdownV2: a backslash before each of _ * [ ] ( ) ~ ` > # + - = | { } . ! and before the backslash itself', () => {
    const special = '_*[]()~`>#+-=|{}.!'
    expect(special).toHaveLength(18)
    for (const c of special) expect(escapeTelegram('MarkdownV2', c)).toBe(`\\${c}`)
    expect(escapeTelegram('MarkdownV2', '\\')).toBe('\\\\')
    expect(escapeTelegram('MarkdownV2', 'Order #42 (2×3=6) costs $1.50 - thanks!')).toBe('Order \\#42 \\(2×3\\=6\\) costs $1\\.50 \\- thanks\\!')
    expect(escapeTelegram('MarkdownV2', 'snake_case a\\b')).toBe('snake\\_case a\\\\b')
    expect(escapeTelegram('MarkdownV2', 'plain text, ünïcödé 😀 @user $ % & < ')).toBe('plain text, ünïcödé 😀 @user $ % & < ')
  })
})

describe('isTelegramChatId', () => {
  it('takes an integer, possibly negative, or @ and 5–32 word characters', () => {
    for (const ok of ['123456789', '-123456789', '-1001234567890', '7', '@channel', '@switchboard_news', `@${'a'.repeat(32)}`]) expect(isTelegramChatId(ok), ok).toBe(true)
    for (const bad of ['', '0', '-0', '007', '12.5', '1e9', '+123', ' 123', '123 ', '@abcd', `@${'a'.repeat(33)}`, '@with-dash', 'channel', '@', '99999999999999999', '+15551234567']) {
      expect(isTelegramChatId(bad), bad).toBe(false)
    }
  })
})

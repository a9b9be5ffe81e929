/**
 * The Twilio Programmable Messaging connector against Twilio's documented answers (the Message and
 * Account resources, the error dictionary's `{code, message, more_info, status}` bodies, the status
 * callback's form fields): the exact requests, the classification of every refusal, reconciliation
 * through the Messages list, signed status callbacks, and that the auth token never shows up.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AppError, UpstreamError } from '../../../src/lib/errors'
import { twilioSignature } from '../../../src/providers/numbers/twilio'
import { TwilioConnector } from '../../../src/providers/messaging/twilio'
import type { InboundCallback, OutboundMessage } from '../../../src/providers/messaging/types'
import { expectNoSecret, failure, fakeUpstream, type Handler, json, slow, text } from '../../helpers/upstream'

const BASE = 'https://twilio.test'
const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef'
const AUTH_TOKEN = '5f1e2d3c4b5a69788796a5b4c3d2e1f0'
const FROM = '+15017122661'
const BASIC = btoa(`${ACCOUNT_SID}:${AUTH_TOKEN}`)
const SECRETS = [AUTH_TOKEN, BASIC]
const T0 = Date.parse('2026-03-10T12:00:00.700Z')
const SID = 'SM1342fe1b2c904d1ab04f0fc7a58abca9'
const CALLBACK_URL = 'https://api.switchboard.test/api/v1/messaging/callbacks/twilio/msg_01HZX3'

const MESSAGE: OutboundMessage = { messageId: 'msg_01HZX3', to: '+15558675310', text: 'Your code is 481516. Don’t share it — ✓', statusCallbackUrl: CALLBACK_URL }

function connector(handler: Handler, deps: { timeoutMs?: number; now?: () => number } = {}) {
  const upstream = fakeUpstream(handler)
  const c = new TwilioConnector({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, fromNumber: FROM }, { fetch: upstream.fetch, baseUrl: `${BASE}/`, now: () => T0, ...deps })
  return { c, upstream }
}

/** The Message resource as the Create Message example answers it (status queued, no date_sent yet). */
const created = (over: Record<string, unknown> = {}) => ({
  account_sid: ACCOUNT_SID,
  api_version: '2010-04-01',
  body: MESSAGE.text,
  date_created: 'Tue, 10 Mar 2026 12:00:01 +0000',
  date_sent: null,
  date_updated: 'Tue, 10 Mar 2026 12:00:01 +0000',
  direction: 'outbound-api',
  error_code: null,
  error_message: null,
  from: FROM,
  messaging_service_sid: null,
  num_media: '0',
  num_segments: '1',
  price: null,
  price_unit: null,
  sid: SID,
  status: 'queued',
  subresource_uris: { media: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${SID}/Media.json` },
  to: MESSAGE.to,
  uri: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${SID}.json`,
  ...over,
})

/** Twilio's error body (the error dictionary; 20003's body is Twilio's own "Authenticate"). */
const twilioError = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }), { status, headers: { 'content-type': 'application/json', ...headers } })

/** Every string a result or an error carries, to check no credential is among them. */
const seen = (v: unknown) => JSON.stringify(v, (_k, x) => (x instanceof Error ? { message: x.message, stack: x.stack, details: (x as AppError).details } : x))

afterEach(() => vi.restoreAllMocks())

describe('send: POST /2010-04-01/Accounts/{AccountSid}/Messages.json', () => {
  it('sends To, From, Body and StatusCallback as a form with Basic auth, and a 201 is accepted with the SM sid', async () => {
    const { c, upstream } = connector(() => json(created(), 201))
    expect(await c.send(MESSAGE)).toEqual({ kind: 'accepted', upstreamId: SID, status: 'sent' })
    const r = upstream.last
    expect(r.method).toBe('POST')
    expect(r.url.toString()).toBe(`${BASE}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`)
    expect(r.headers.get('authorization')).toBe(`Basic ${BASIC}`)
    expect(r.headers.get('content-type')).toBe('application/x-www-form-urlencoded')
    expect(r.headers.get('accept')).toBe('application/json')
    expect([...new URLSearchParams(r.body)]).toEqual([
      ['To', '+15558675310'],
      ['From', FROM],
      ['Body', 'Your code is 481516. Don’t share it — ✓'],
      ['StatusCallback', CALLBACK_URL],
    ])
    expect(r.signal).not.toBeNull()
  })

  it('leaves StatusCallback out when the message has none, and uses the public base URL by default', async () => {
    const upstream = fakeUpstream(() => json(created(), 201))
    const c = new TwilioConnector({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, fromNumber: FROM }, { fetch: upstream.fetch })
    expect(c.type).toBe('twilio')
    await c.send({ messageId: 'msg_2', to: '+447700900123', text: 'hi' })
    expect(upstream.last.url.toString()).toBe(`https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`)
    expect([...new URLSearchParams(upstream.last.body)]).toEqual([
      ['To', '+447700900123'],
      ['From', FROM],
      ['Body', 'hi'],
    ])
  })

  it.each([
    [21211, "The 'To' number 5551234567 is not a valid phone number.", 'INVALID_RECIPIENT'],
    [21614, "'To' number is not a valid mobile number", 'INVALID_RECIPIENT'],
    [21635, "'To' number cannot be a landline", 'INVALID_RECIPIENT'],
    [21610, 'Attempt to send to unsubscribed recipient', 'RECIPIENT_UNSUBSCRIBED'],
    [21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +98912345678", 'REGION_NOT_ENABLED'],
  ])('Twilio %i is failed %s', async (code, message, expected) => {
    const { c } = connector(() => twilioError(400, code, message))
    expect(await c.send(MESSAGE)).toEqual({ kind: 'failed', code: expected, message: `Twilio error ${code}: ${message}` })
  })

  it('20003 (401 Authenticate) is failed CONNECTOR_AUTH_FAILED; a bare 401 too', async () => {
    const { c } = connector(() => twilioError(401, 20003, 'Authenticate'))
    expect(await c.send(MESSAGE)).toEqual({ kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: 'Twilio error 20003: Authenticate' })
    const bare = connector(() => text('Unauthorized', 401))
    expect(await bare.c.send(MESSAGE)).toEqual({ kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: 'Twilio HTTP 401' })
  })

  it('20429 / 429 is retry UPSTREAM_RATE_LIMITED, after Retry-After (seconds or an HTTP date) when Twilio sends one', async () => {
    const { c } = connector(() => twilioError(429, 20429, 'Too Many Requests', { 'retry-after': '30' }))
    expect(await c.send(MESSAGE)).toEqual({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: 'Twilio error 20429: Too Many Requests', retryAfterSeconds: 30 })
    const dated = connector(() => twilioError(429, 20429, 'Too Many Requests', { 'retry-after': new Date(T0 + 90_000).toUTCString() }))
    expect(await dated.c.send(MESSAGE)).toMatchObject({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 90 })
    const none = connector(() => twilioError(429, 20429, 'Too Many Requests'))
    const r = await none.c.send(MESSAGE)
    expect(r).toEqual({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: 'Twilio error 20429: Too Many Requests' })
    expect('retryAfterSeconds' in r).toBe(false)
  })

  it('5xx is retry UPSTREAM_UNAVAILABLE, with or without a Twilio body', async () => {
    const { c } = connector(() => twilioError(500, 20500, 'Internal Server Error'))
    expect(await c.send(MESSAGE)).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'Twilio error 20500: Internal Server Error' })
    const gateway = connector(() => text('<html>Bad Gateway</html>', 503))
    expect(await gateway.c.send(MESSAGE)).toEqual({ kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'Twilio HTTP 503' })
  })

  it('any other 4xx is failed CONNECTOR_ERROR naming Twilio’s code', async () => {
    const { c } = connector(() => twilioError(400, 21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account"))
    expect(await c.send(MESSAGE)).toEqual({
      kind: 'failed',
      code: 'CONNECTOR_ERROR',
      message: "Twilio error 21606: The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account",
    })
    const long = connector(() => twilioError(400, 21620, `Invalid media URL(s)\n${'x'.repeat(300)}`))
    expect(await long.c.send(MESSAGE)).toEqual({ kind: 'failed', code: 'CONNECTOR_ERROR', message: `Twilio error 21620: Invalid media URL(s) ${'x'.repeat(179)}…` })
    const notJson = connector(() => text('Not Found', 404))
    expect(await notJson.c.send(MESSAGE)).toEqual({ kind: 'failed', code: 'CONNECTOR_ERROR', message: 'Twilio HTTP 404' })
  })

  it('a timeout or a network failure is uncertain DELIVERY_UNCONFIRMED, without the URL or credentials', async () => {
    const stuck = connector(() => slow(2_000, () => json(created(), 201)), { timeoutMs: 100 })
    expect(await stuck.c.send(MESSAGE)).toEqual({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: 'twilio: send: no answer within 100 ms' })
    const lost = connector((r) => {
      throw new TypeError(`Network connection lost to ${r.url} with ${r.headers.get('authorization')}`)
    })
    const result = await lost.c.send(MESSAGE)
    expect(result).toEqual({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: 'twilio: send: network error (TypeError)' })
    expect(seen(result)).not.toContain(BASE)
  })

  it('a 2xx without a sid is uncertain: the message may exist at Twilio', async () => {
    const { c } = connector(() => text('', 201))
    expect(await c.send(MESSAGE)).toEqual({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: 'twilio: send: HTTP 201 without a message sid' })
  })
})

describe('test: GET /2010-04-01/Accounts/{AccountSid}.json', () => {
  /** The Account resource as Fetch Account answers it: it includes the account's auth token. */
  const account = (status: string) => ({
    auth_token: AUTH_TOKEN,
    date_created: 'Thu, 30 Jul 2015 20:00:00 +0000',
    date_updated: 'Thu, 30 Jul 2015 20:00:00 +0000',
    friendly_name: 'Acme Notifications',
    owner_account_sid: ACCOUNT_SID,
    sid: ACCOUNT_SID,
    status,
    subresource_uris: {},
    type: 'Full',
    uri: `/2010-04-01/Accounts/${ACCOUNT_SID}.json`,
  })

  it('fetches the account with Basic auth and names it and its status', async () => {
    const { c, upstream } = connector(() => json(account('active')))
    expect(await c.test()).toEqual({ success: true, connected: true, message: 'Connected to Twilio (Acme Notifications, active)' })
    expect(upstream.last.method).toBe('GET')
    expect(upstream.last.url.toString()).toBe(`${BASE}/2010-04-01/Accounts/${ACCOUNT_SID}.json`)
    expect(upstream.last.headers.get('authorization')).toBe(`Basic ${BASIC}`)
  })

  it('a suspended or closed account is not a success', async () => {
    for (const status of ['suspended', 'closed']) {
      const { c } = connector(() => json(account(status)))
      expect(await c.test()).toEqual({ success: false, connected: false, message: `Twilio account Acme Notifications is ${status}: it cannot send messages` })
    }
  })

  it('refused credentials, another error and no answer are failures with a reason, never thrown', async () => {
    expect(await connector(() => twilioError(401, 20003, 'Authenticate')).c.test()).toEqual({ success: false, connected: false, message: 'Twilio refused the credentials (20003)' })
    expect(await connector(() => twilioError(404, 20404, 'The requested resource was not found')).c.test()).toEqual({
      success: false,
      connected: false,
      message: 'Twilio error 20404: The requested resource was not found',
    })
    expect(await connector(() => slow(2_000, () => json(account('active'))), { timeoutMs: 100 }).c.test()).toEqual({
      success: false,
      connected: false,
      message: 'twilio: test: no answer within 100 ms',
    })
  })
})

describe('find: GET …/Messages.json?To&From&DateSent>=', () => {
  const page = (messages: unknown[]) => ({
    end: messages.length - 1,
    first_page_uri: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json?PageSize=1000&Page=0`,
    messages,
    next_page_uri: null,
    page: 0,
    page_size: 1000,
    previous_page_uri: null,
    start: 0,
    uri: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json?PageSize=1000&Page=0`,
  })

  it('asks for the recipient’s messages from our number sent since the day of `since`, with Basic auth', async () => {
    const { c, upstream } = connector(() => json(page([])))
    expect(await c.find(MESSAGE, new Date(T0))).toBeNull()
    const r = upstream.last
    expect(r.method).toBe('GET')
    expect(`${r.url.origin}${r.url.pathname}`).toBe(`${BASE}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`)
    expect([...r.url.searchParams]).toEqual([
      ['To', '+15558675310'],
      ['From', FROM],
      ['DateSent>', '2026-03-10'],
      ['PageSize', '1000'],
    ])
    // the wire form Twilio documents: DateSent>=YYYY-MM-DD
    expect(r.url.search).toContain('DateSent%3E=2026-03-10')
    expect(r.headers.get('authorization')).toBe(`Basic ${BASIC}`)
  })

  it('returns the first message with the same body created since `since` (Twilio’s whole seconds), skipping others', async () => {
    const { c } = connector(() =>
      json(
        page([
          created({ sid: 'SMother', body: 'another text' }),
          created({ sid: 'SMolder', status: 'delivered', date_created: 'Tue, 10 Mar 2026 11:59:50 +0000' }),
          created({ sid: SID, status: 'sent', date_created: 'Tue, 10 Mar 2026 12:00:00 +0000' }),
        ]),
      ),
    )
    // since is 12:00:00.700; Twilio says 12:00:00: the same second
    expect(await c.find(MESSAGE, new Date(T0))).toEqual({ upstreamId: SID, status: 'sent' })
  })

  it('a delivered (or read) message is delivered; queued, sending, failed are sent: it reached Twilio', async () => {
    for (const [status, expected] of [
      ['delivered', 'delivered'],
      ['read', 'delivered'],
      ['queued', 'sent'],
      ['sending', 'sent'],
      ['undelivered', 'sent'],
    ]) {
      const { c } = connector(() => json(page([created({ status })])))
      expect(await c.find(MESSAGE, new Date(T0))).toEqual({ upstreamId: SID, status: expected })
    }
  })

  it('just after midnight UTC, the day before is asked for too (clock skew)', async () => {
    const { c, upstream } = connector(() => json(page([])))
    await c.find(MESSAGE, new Date('2026-03-11T00:00:01.000Z'))
    expect(upstream.last.url.searchParams.get('DateSent>')).toBe('2026-03-10')
  })

  it('a failed lookup throws an UpstreamError without credentials (the message stays uncertain)', async () => {
    const e1 = await failure(connector(() => twilioError(500, 20500, 'Internal Server Error')).c.find(MESSAGE, new Date(T0)))
    expect(e1).toBeInstanceOf(UpstreamError)
    expect(e1).toMatchObject({ status: 502, code: 'UPSTREAM_ERROR', message: 'twilio: find: Twilio error 20500', details: { operation: 'find', upstreamStatus: 500, upstreamCode: 20500 } })
    const e2 = await failure(connector(() => twilioError(401, 20003, 'Authenticate')).c.find(MESSAGE, new Date(T0)))
    expect(e2.message).toBe('twilio: find: Twilio error 20003')
    const e3 = await failure(connector(() => json({ unexpected: true })).c.find(MESSAGE, new Date(T0)))
    expect(e3.message).toBe('twilio: find: unexpected answer')
    const e4 = await failure(connector(() => slow(2_000, () => json(page([]))), { timeoutMs: 100 }).c.find(MESSAGE, new Date(T0)))
    expect(e4.message).toBe('twilio: find: no answer within 100 ms')
    for (const e of [e1, e2, e3, e4]) expectNoSecret(e, ...SECRETS)
  })
})

describe('statusUpdates: the StatusCallback form post, signed with X-Twilio-Signature', () => {
  /** A status callback as Twilio posts it: the documented fields, signed over the URL and all of them. */
  async function callback(fields: [string, string][], opts: { token?: string; url?: string; signedUrl?: string } = {}): Promise<InboundCallback> {
    const signature = await twilioSignature(opts.token ?? AUTH_TOKEN, opts.signedUrl ?? CALLBACK_URL, fields)
    return {
      url: opts.url ?? CALLBACK_URL,
      headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }),
      body: new URLSearchParams(fields).toString(),
    }
  }
  const fields = (status: string, extra: [string, string][] = []): [string, string][] => [
    ['AccountSid', ACCOUNT_SID],
    ['From', FROM],
    ['MessageSid', SID],
    ['MessageStatus', status],
    ['SmsSid', SID],
    ['SmsStatus', status],
    ['To', MESSAGE.to],
    ['ApiVersion', '2010-04-01'],
    ...extra,
  ]

  it('sent, delivered (with RawDlrDoneDate) and read are updates at the time received', async () => {
    const { c } = connector(() => json({}))
    const at = new Date(T0)
    expect(await c.statusUpdates(await callback(fields('sent')))).toEqual([{ upstreamId: SID, status: 'sent', at }])
    expect(await c.statusUpdates(await callback(fields('delivered', [['RawDlrDoneDate', '2603101201']])))).toEqual([{ upstreamId: SID, status: 'delivered', at }])
    expect(await c.statusUpdates(await callback(fields('read')))).toEqual([{ upstreamId: SID, status: 'read', at }])
    expect(await c.statusUpdates(await callback(fields('delivered', [['EventType', 'READ']])))).toEqual([{ upstreamId: SID, status: 'read', at }])
  })

  it('undelivered and failed are failed with Twilio’s ErrorCode and a message', async () => {
    const { c } = connector(() => json({}))
    expect(await c.statusUpdates(await callback(fields('undelivered', [['ErrorCode', '30003']])))).toEqual([
      { upstreamId: SID, status: 'failed', at: new Date(T0), errorCode: '30003', errorMessage: 'Twilio: message undelivered (error 30003)' },
    ])
    expect(
      await c.statusUpdates(
        await callback(
          fields('failed', [
            ['ErrorCode', '63016'],
            ['ChannelStatusMessage', 'Outside the allowed window'],
          ]),
        ),
      ),
    ).toEqual([{ upstreamId: SID, status: 'failed', at: new Date(T0), errorCode: '63016', errorMessage: 'Twilio: message failed (error 63016): Outside the allowed window' }])
    const bare = await c.statusUpdates(await callback(fields('failed')))
    expect(bare).toEqual([{ upstreamId: SID, status: 'failed', at: new Date(T0), errorMessage: 'Twilio: message failed' }])
  })

  it('queued, accepted, sending, scheduled and unknown statuses are no update', async () => {
    const { c } = connector(() => json({}))
    for (const s of ['queued', 'accepted', 'sending', 'scheduled', 'canceled', 'something-new', 'constructor', '__proto__']) expect(await c.statusUpdates(await callback(fields(s)))).toEqual([])
    expect(await c.statusUpdates(await callback([['MessageStatus', 'delivered']]))).toEqual([])
  })

  it('accepts the URL with its default port spelled out, as Twilio may sign it', async () => {
    const { c } = connector(() => json({}))
    const cb = await callback(fields('sent'), { signedUrl: CALLBACK_URL.replace('switchboard.test/', 'switchboard.test:443/') })
    expect(await c.statusUpdates(cb)).toHaveLength(1)
  })

  it('a missing or wrong signature, another token, a changed field or another URL is 401 INVALID_SIGNATURE', async () => {
    const { c } = connector(() => json({}))
    const good = await callback(fields('delivered'))
    const cases: InboundCallback[] = [
      { ...good, headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded' }) },
      { ...good, headers: new Headers({ 'x-twilio-signature': 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' }) },
      await callback(fields('delivered'), { token: 'another-auth-token-0123456789abcdef' }),
      { ...good, body: good.body.replace('delivered', 'read') },
      { ...good, body: `${good.body}&ErrorCode=30003` },
      { ...good, url: `${CALLBACK_URL}?x=1` },
    ]
    for (const cb of cases) {
      const e = await failure(c.statusUpdates(cb))
      expect(e).toBeInstanceOf(AppError)
      expect(e).toMatchObject({ status: 401, code: 'INVALID_SIGNATURE' })
      expectNoSecret(e, ...SECRETS)
    }
  })
})

describe('no credential anywhere', () => {
  it('no result, message or error carries the auth token or the Basic credentials, and nothing is logged', async () => {
    const logged: unknown[] = []
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, level).mockImplementation((...args) => void logged.push(args))
    // Upstream text that quotes the credentials back must not come through.
    const echo = (status: number, code: number) => () => twilioError(status, code, `Bad request with token ${AUTH_TOKEN} and Basic ${BASIC}`)
    const outcomes: unknown[] = []
    for (const [status, code] of [
      [400, 21211],
      [400, 21610],
      [400, 21408],
      [401, 20003],
      [429, 20429],
      [500, 20500],
      [400, 21606],
    ]) {
      const { c } = connector(echo(status, code))
      outcomes.push(await c.send(MESSAGE), await c.test(), await failure(c.find(MESSAGE, new Date(T0))))
    }
    const account = connector(() => json({ sid: ACCOUNT_SID, auth_token: AUTH_TOKEN, friendly_name: `named ${AUTH_TOKEN}`, status: 'active' }))
    outcomes.push(await account.c.test())
    const lost = connector((r) => {
      throw new TypeError(`fetch failed: ${r.url} ${r.headers.get('authorization')}`)
    })
    outcomes.push(await lost.c.send(MESSAGE), await lost.c.test(), await failure(lost.c.find(MESSAGE, new Date(T0))))
    const { c } = connector(() => json({}))
    outcomes.push(await failure(c.statusUpdates({ url: CALLBACK_URL, headers: new Headers({ 'x-twilio-signature': 'x' }), body: `MessageSid=${SID}&MessageStatus=sent` })))

    const all = seen(outcomes)
    expect(all).toContain('***')
    for (const s of SECRETS) expect(all.includes(s), all).toBe(false)
    expect(all.includes(BASE), all).toBe(false)
    expect(logged).toEqual([])
  })
})

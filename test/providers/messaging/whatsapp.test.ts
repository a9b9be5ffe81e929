/**
 * The WhatsApp Cloud API connector against Meta's documented answers ("Text messages", the template object,
 * "WhatsApp error codes", "Business phone numbers", "Status messages webhook reference", Graph API webhooks):
 * the exact requests, the classification of every outcome, the signed status webhook, the verification
 * handshake, and that no credential shows up in a result, a message, a thrown error or a log line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AppError } from '../../../src/lib/errors'
import type { ConnectorCredentials } from '../../../src/providers/messaging/credentials'
import type { InboundCallback, OutboundMessage } from '../../../src/providers/messaging/types'
import {
  PAIR_RATE_LIMIT_RETRY_SECONDS,
  validWhatsAppSignature,
  verifyWhatsAppChallenge,
  WHATSAPP_BASE_URL,
  WHATSAPP_GRAPH_VERSION,
  WhatsAppConnector,
  whatsAppSignature,
} from '../../../src/providers/messaging/whatsapp'
import { failure, fakeUpstream, type Handler, json, slow, text } from '../../helpers/upstream'

const BASE = 'https://graph.test'
const PHONE_NUMBER_ID = '106540352242922'
const CREDENTIALS: ConnectorCredentials['whatsapp'] = {
  phoneNumberId: PHONE_NUMBER_ID,
  accessToken: 'EAAJBtok3nZ9x7QvL2mN8pR4sT6uW0yA1cE5gI9kM3oQ7',
  appSecret: 'appsecret-4f9c2e7a1b8d3f6e',
  webhookVerifyToken: 'verify-token-8d2b6f1a9c',
}
const SECRETS = [CREDENTIALS.accessToken, CREDENTIALS.appSecret!, CREDENTIALS.webhookVerifyToken!]
const MESSAGES_URL = `${BASE}/v26.0/${PHONE_NUMBER_ID}/messages`
const T0 = Date.parse('2026-12-07T12:00:00.000Z')

function connector(handler: Handler, credentials: ConnectorCredentials['whatsapp'] = CREDENTIALS, timeoutMs = 1_000) {
  const upstream = fakeUpstream(handler)
  const wa = new WhatsAppConnector(credentials, { fetch: upstream.fetch, baseUrl: `${BASE}/`, timeoutMs, now: () => T0 })
  return { wa, upstream }
}

const message = (extra: Partial<OutboundMessage> = {}): OutboundMessage => ({ messageId: 'msg_01', to: '+16505551234', text: 'Your code is 123456', ...extra })

/** The documented answer of a send: the contact and the new message's wamid. */
const WAMID = 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQUJDMjFEQzZCQUMzODMA'
const sent = () => json({ messaging_product: 'whatsapp', contacts: [{ input: '+16505551234', wa_id: '16505551234' }], messages: [{ id: WAMID }] })

/** Graph's error body ("WhatsApp error codes": error response syntax). */
const graphError = (status: number, code: number, message: string, details?: string, subcode?: number, headers: Record<string, string> = {}) =>
  new Response(
    JSON.stringify({
      error: {
        message,
        type: 'OAuthException',
        code,
        ...(details ? { error_data: { messaging_product: 'whatsapp', details } } : {}),
        ...(subcode ? { error_subcode: subcode } : {}),
        fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam',
      },
    }),
    { status, headers: { 'content-type': 'application/json', ...headers } },
  )

describe('WhatsApp send', () => {
  it('POSTs the documented text message to /{version}/{phoneNumberId}/messages with the Bearer token', async () => {
    const { wa, upstream } = connector(() => sent())
    const result = await wa.send(message())
    expect(result).toEqual({ kind: 'accepted', upstreamId: WAMID, status: 'sent' })
    const r = upstream.last
    expect(r.method).toBe('POST')
    expect(r.url.toString()).toBe(MESSAGES_URL)
    expect(r.headers.get('authorization')).toBe(`Bearer ${CREDENTIALS.accessToken}`)
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(r.headers.get('accept')).toBe('application/json')
    // The E.164 number goes out as is: Meta recommends the plus sign and the calling code.
    expect(JSON.parse(r.body)).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to: '+16505551234', type: 'text', text: { body: 'Your code is 123456' } })
    expect(r.signal).not.toBeNull()
  })

  it('uses the public Graph host and a pinned version by default', async () => {
    const upstream = fakeUpstream(() => sent())
    await new WhatsAppConnector(CREDENTIALS, { fetch: upstream.fetch }).send(message())
    expect(WHATSAPP_BASE_URL).toBe('https://graph.facebook.com')
    expect(upstream.last.url.toString()).toBe(`https://graph.facebook.com/${WHATSAPP_GRAPH_VERSION}/${PHONE_NUMBER_ID}/messages`)
  })

  it('sends a template message: name, language code and the body parameters in order', async () => {
    const { wa, upstream } = connector(() => sent())
    const result = await wa.send(message({ whatsappTemplate: { name: 'order_update', language: 'en_US', bodyParameters: ['Ada', '#1234', 'Friday'] } }))
    expect(result.kind).toBe('accepted')
    expect(JSON.parse(upstream.last.body)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+16505551234',
      type: 'template',
      template: {
        name: 'order_update',
        language: { code: 'en_US' },
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Ada' },
              { type: 'text', text: '#1234' },
              { type: 'text', text: 'Friday' },
            ],
          },
        ],
      },
    })
  })

  it('sends a template without parameters with no components', async () => {
    const { wa, upstream } = connector(() => sent())
    await wa.send(message({ whatsappTemplate: { name: 'hello_world', language: 'en_US', bodyParameters: [] } }))
    expect(JSON.parse(upstream.last.body).template).toEqual({ name: 'hello_world', language: { code: 'en_US' } })
  })

  it('refuses a recipient that is not E.164 without calling Meta (the business calling code would be prepended)', async () => {
    const { wa, upstream } = connector(() => sent())
    for (const to of ['16505551234', '(650) 555-1234', '+0650555', '']) {
      const result = await wa.send(message({ to }))
      expect(result).toMatchObject({ kind: 'failed', code: 'INVALID_RECIPIENT' })
    }
    expect(upstream.calls).toHaveLength(0)
  })

  it('is uncertain when Meta answers 200 without a message id', async () => {
    const { wa } = connector(() => json({ messaging_product: 'whatsapp', contacts: [], messages: [] }))
    expect(await wa.send(message())).toEqual({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: 'WhatsApp Cloud API answered HTTP 200 without a message id' })
  })
})

describe('WhatsApp send: Graph errors', () => {
  const cases: { name: string; answer: () => Response; expected: Record<string, unknown> }[] = [
    {
      name: '131047 re-engagement (24 h since the user replied) → OUTSIDE_SESSION_WINDOW',
      answer: () =>
        graphError(400, 131047, '(#131047) Re-engagement message', 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.', 2494010),
      expected: { kind: 'failed', code: 'OUTSIDE_SESSION_WINDOW', message: 'WhatsApp error 131047/2494010: (#131047) Re-engagement message' },
    },
    {
      name: '131056 pair rate limit → retry PAIR_RATE_LIMITED after a minute',
      answer: () =>
        graphError(
          400,
          131056,
          '(#131056) (Business Account, Consumer Account) pair rate limit hit',
          'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
        ),
      expected: { kind: 'retry', code: 'PAIR_RATE_LIMITED', retryAfterSeconds: 60, message: 'WhatsApp error 131056: (#131056) (Business Account, Consumer Account) pair rate limit hit' },
    },
    {
      name: '132000 template parameter count mismatch → TEMPLATE_PARAMETER_MISMATCH',
      answer: () =>
        graphError(
          400,
          132000,
          '(#132000) Number of parameters does not match the expected number of params',
          'body: number of localizable_params (1) does not match the expected number of params (2)',
        ),
      expected: { kind: 'failed', code: 'TEMPLATE_PARAMETER_MISMATCH', message: 'WhatsApp error 132000: (#132000) Number of parameters does not match the expected number of params' },
    },
    {
      name: '190 expired token → CONNECTOR_AUTH_FAILED',
      answer: () => graphError(401, 190, 'Error validating access token: Session has expired on Sunday, 06-Dec-26.', undefined, 463),
      expected: { kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: 'WhatsApp error 190/463: Error validating access token: Session has expired on Sunday, 06-Dec-26.' },
    },
    {
      name: 'a 401 without a Graph body → CONNECTOR_AUTH_FAILED',
      answer: () => text('Unauthorized', 401),
      expected: { kind: 'failed', code: 'CONNECTOR_AUTH_FAILED', message: 'WhatsApp HTTP 401' },
    },
    {
      name: '130429 throughput (sent with 400) → retry UPSTREAM_RATE_LIMITED',
      answer: () => graphError(400, 130429, '(#130429) Rate limit hit', 'Cloud API message throughput has been reached.', 2494055),
      expected: { kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: 'WhatsApp error 130429/2494055: (#130429) Rate limit hit' },
    },
    {
      name: '4 app call rate limit → retry UPSTREAM_RATE_LIMITED',
      answer: () => graphError(400, 4, '(#4) Application request limit reached'),
      expected: { kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: 'WhatsApp error 4: (#4) Application request limit reached' },
    },
    {
      name: '80007 WhatsApp Business Account rate limit → retry UPSTREAM_RATE_LIMITED',
      answer: () => graphError(400, 80007, '(#80007) Rate limit issues', 'The WhatsApp Business Account has reached its rate limit.'),
      expected: { kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: 'WhatsApp error 80007: (#80007) Rate limit issues' },
    },
    {
      name: '131026 undeliverable → INVALID_RECIPIENT',
      answer: () => graphError(400, 131026, '(#131026) Message Undeliverable', 'Unable to deliver message.'),
      expected: { kind: 'failed', code: 'INVALID_RECIPIENT', message: 'WhatsApp error 131026: (#131026) Message Undeliverable' },
    },
    {
      name: "131030 not in the test number's allowed list → INVALID_RECIPIENT",
      answer: () =>
        graphError(
          400,
          131030,
          '(#131030) Recipient phone number not in allowed list',
          "Recipient's phone number is not whitelisted: add the recipient's phone number to a recipient list, then try again.",
          2655007,
        ),
      expected: { kind: 'failed', code: 'INVALID_RECIPIENT', message: 'WhatsApp error 131030/2655007: (#131030) Recipient phone number not in allowed list' },
    },
    {
      name: '131021 recipient is the sender → INVALID_RECIPIENT',
      answer: () => graphError(400, 131021, '(#131021) Recipient cannot be sender'),
      expected: { kind: 'failed', code: 'INVALID_RECIPIENT', message: 'WhatsApp error 131021: (#131021) Recipient cannot be sender' },
    },
    {
      name: '131000 something went wrong (even with 400) → retry UPSTREAM_UNAVAILABLE',
      answer: () => graphError(400, 131000, '(#131000) Something went wrong', 'Message failed to send due to an unknown error.'),
      expected: { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'WhatsApp error 131000: (#131000) Something went wrong' },
    },
    {
      name: '1 unknown API error → retry UPSTREAM_UNAVAILABLE',
      answer: () => graphError(400, 1, 'An unknown error occurred'),
      expected: { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'WhatsApp error 1: An unknown error occurred' },
    },
    {
      name: '2 temporary downtime (503) → retry UPSTREAM_UNAVAILABLE',
      answer: () => graphError(503, 2, 'Service temporarily unavailable'),
      expected: { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'WhatsApp error 2: Service temporarily unavailable' },
    },
    {
      name: '131016 service unavailable → retry UPSTREAM_UNAVAILABLE',
      answer: () => graphError(500, 131016, '(#131016) Service unavailable'),
      expected: { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'WhatsApp error 131016: (#131016) Service unavailable' },
    },
    {
      name: 'a 502 with an HTML page → retry UPSTREAM_UNAVAILABLE',
      answer: () => new Response('<html><body>Bad Gateway</body></html>', { status: 502, headers: { 'content-type': 'text/html' } }),
      expected: { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'WhatsApp HTTP 502' },
    },
    {
      name: 'any other 4xx (100 invalid parameter) → CONNECTOR_ERROR naming the Graph code',
      answer: () => graphError(400, 100, '(#100) Invalid parameter', 'Parameter value is not valid'),
      expected: { kind: 'failed', code: 'CONNECTOR_ERROR', message: 'WhatsApp error 100: (#100) Invalid parameter' },
    },
    {
      name: 'a 4xx without a Graph body → CONNECTOR_ERROR with the status',
      answer: () => text('Not Found', 404),
      expected: { kind: 'failed', code: 'CONNECTOR_ERROR', message: 'WhatsApp HTTP 404' },
    },
  ]

  for (const c of cases) {
    it(c.name, async () => {
      const { wa } = connector(() => c.answer())
      expect(await wa.send(message())).toEqual(c.expected)
    })
  }

  it('keeps the pair-limit wait a named constant (the recipient window, not the connector)', () => {
    expect(PAIR_RATE_LIMIT_RETRY_SECONDS).toBe(60)
  })

  it('429 with Retry-After → retry UPSTREAM_RATE_LIMITED after those seconds', async () => {
    const { wa } = connector(() => graphError(429, 130429, '(#130429) Rate limit hit', 'Cloud API message throughput has been reached.', undefined, { 'retry-after': '30' }))
    expect(await wa.send(message())).toEqual({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 30, message: 'WhatsApp error 130429: (#130429) Rate limit hit' })
  })

  it('429 with an HTTP-date Retry-After and no Graph body → the seconds until that date', async () => {
    const at = new Date(T0 + 90_000).toUTCString()
    const { wa } = connector(() => new Response('Too Many Requests', { status: 429, headers: { 'retry-after': at } }))
    expect(await wa.send(message())).toEqual({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 90, message: 'WhatsApp HTTP 429' })
  })

  it('429 without Retry-After → retry with no wait of its own (the queue backs off)', async () => {
    const { wa } = connector(() => graphError(429, 80007, '(#80007) Rate limit issues'))
    const result = await wa.send(message())
    expect(result).toEqual({ kind: 'retry', code: 'UPSTREAM_RATE_LIMITED', message: 'WhatsApp error 80007: (#80007) Rate limit issues' })
    expect('retryAfterSeconds' in result).toBe(false)
  })
})

describe('WhatsApp send: no answer', () => {
  it('a timeout is uncertain: the message may have reached Meta', async () => {
    const { wa, upstream } = connector(() => slow(500, () => sent()), CREDENTIALS, 50)
    expect(await wa.send(message())).toEqual({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: 'whatsapp: send: no answer within 50 ms' })
    expect(upstream.calls).toHaveLength(1)
  })

  it('a network error is uncertain too, and does not quote the runtime text (it may hold the URL)', async () => {
    const { wa } = connector(() => {
      throw new TypeError(`fetch failed: ${MESSAGES_URL}?access_token=${CREDENTIALS.accessToken}`)
    })
    expect(await wa.send(message())).toEqual({ kind: 'uncertain', code: 'DELIVERY_UNCONFIRMED', message: 'whatsapp: send: network error (TypeError)' })
  })
})

describe('WhatsApp test()', () => {
  it('reads the phone number (GET /{version}/{phoneNumberId}?fields=display_phone_number,verified_name)', async () => {
    const { wa, upstream } = connector(() => json({ display_phone_number: '+1 631-555-5555', verified_name: "Jasper's Market", id: PHONE_NUMBER_ID }))
    expect(await wa.test()).toEqual({ success: true, connected: true, message: 'Connected to WhatsApp Cloud API (+1 631-555-5555)' })
    const r = upstream.last
    expect(r.method).toBe('GET')
    expect(`${r.url.origin}${r.url.pathname}`).toBe(`${BASE}/v26.0/${PHONE_NUMBER_ID}`)
    expect(r.url.searchParams.get('fields')).toBe('display_phone_number,verified_name')
    expect(r.headers.get('authorization')).toBe(`Bearer ${CREDENTIALS.accessToken}`)
    expect(r.body).toBe('')
  })

  it('an expired token is a clear failure, not a throw', async () => {
    const { wa } = connector(() => graphError(401, 190, 'Error validating access token: Session has expired.', undefined, 463))
    expect(await wa.test()).toEqual({ success: false, connected: false, message: 'WhatsApp Cloud API refused the access token (error 190/463: Error validating access token: Session has expired.)' })
  })

  it('an unknown phone number id is a clear failure', async () => {
    const { wa } = connector(() =>
      graphError(
        400,
        100,
        `Unsupported get request. Object with ID '${PHONE_NUMBER_ID}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
        undefined,
        33,
      ),
    )
    const result = await wa.test()
    expect(result).toMatchObject({ success: false, connected: false })
    expect(result.message).toMatch(/^WhatsApp Cloud API could not read phone number 106540352242922 \(error 100\/33: Unsupported get request/)
  })

  it('no answer is a failure naming the timeout', async () => {
    const { wa } = connector(() => slow(500, () => json({})), CREDENTIALS, 50)
    expect(await wa.test()).toEqual({ success: false, connected: false, message: 'WhatsApp Cloud API did not answer (whatsapp: test: no answer within 50 ms)' })
  })
})

/** Meta's status webhook examples ("Status messages webhook reference"). */
function statusWebhook(statuses: unknown[], extra: Record<string, unknown> = {}, phoneNumberId = PHONE_NUMBER_ID) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId }, statuses, ...extra },
            field: 'messages',
          },
        ],
      },
    ],
  }
}

const SENT_STATUS = {
  id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=',
  status: 'sent',
  timestamp: '1750030073',
  recipient_id: '16505551234',
  conversation: { id: '72b14d6bd5407799e66f64d1b338e567', expiration_timestamp: '1750116480', origin: { type: 'marketing' } },
  pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' },
}
const FAILED_STATUS = {
  id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA',
  status: 'failed',
  timestamp: '1751142888',
  recipient_id: '16505551234',
  errors: [
    {
      code: 131049,
      title: 'This message was not delivered to maintain healthy ecosystem engagement.',
      message: 'This message was not delivered to maintain healthy ecosystem engagement.',
      error_data: { details: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.' },
      href: '/documentation/business-messaging/whatsapp/support/error-codes',
    },
  ],
}

/** HMAC-SHA256 of the raw body with the app secret, computed here independently of the adapter. */
async function hubSignature(secret: string, body: string) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(body)))
  return `sha256=${[...mac].map((b) => b.toString(16).padStart(2, '0')).join('')}`
}

async function signed(payload: unknown, secret = CREDENTIALS.appSecret!): Promise<InboundCallback> {
  const body = JSON.stringify(payload)
  return {
    url: 'https://api.test/api/v1/connectors/con_1/callbacks/whatsapp',
    headers: new Headers({ 'content-type': 'application/json', 'x-hub-signature-256': await hubSignature(secret, body) }),
    body,
  }
}

describe('WhatsApp statusUpdates (the messages webhook)', () => {
  it('reads sent and failed statuses: wamid, status, time in seconds, the error code and title', async () => {
    const { wa, upstream } = connector(() => sent())
    const updates = await wa.statusUpdates(await signed(statusWebhook([SENT_STATUS, FAILED_STATUS])))
    expect(updates).toEqual([
      { upstreamId: SENT_STATUS.id, status: 'sent', at: new Date(1750030073 * 1000) },
      {
        upstreamId: FAILED_STATUS.id,
        status: 'failed',
        at: new Date(1751142888 * 1000),
        errorCode: '131049',
        errorMessage: 'This message was not delivered to maintain healthy ecosystem engagement.',
      },
    ])
    expect(upstream.calls).toHaveLength(0)
  })

  it('reads delivered and read across entries and changes; skips played, unknown statuses and inbound messages', async () => {
    const { wa } = connector(() => sent())
    const payload = statusWebhook(
      [
        { id: 'wamid.A', status: 'delivered', timestamp: '1750030080', recipient_id: '16505551234' },
        { id: 'wamid.B', status: 'played', timestamp: '1750030081', recipient_id: '16505551234' },
        { id: 'wamid.C', status: 'deleted', timestamp: '1750030082', recipient_id: '16505551234' },
        { status: 'read', timestamp: '1750030083' },
      ],
      {
        contacts: [{ profile: { name: 'Sheena Nelson' }, wa_id: '16505551234' }],
        messages: [{ from: '16505551234', id: 'wamid.INBOUND', timestamp: '1750030090', type: 'text', text: { body: 'Does it come in another color?' } }],
      },
    )
    payload.entry.push({
      id: '102290129340398',
      changes: [{ value: statusWebhook([{ id: 'wamid.D', status: 'read', timestamp: 1750030099, recipient_id: '16505551234' }]).entry[0].changes[0].value, field: 'messages' }],
    })
    expect(await wa.statusUpdates(await signed(payload))).toEqual([
      { upstreamId: 'wamid.A', status: 'delivered', at: new Date(1750030080 * 1000) },
      { upstreamId: 'wamid.D', status: 'read', at: new Date(1750030099 * 1000) },
    ])
  })

  it("skips another phone number's statuses (one app, several numbers)", async () => {
    const { wa } = connector(() => sent())
    expect(await wa.statusUpdates(await signed(statusWebhook([SENT_STATUS], {}, '999999999999999')))).toEqual([])
  })

  it('a signed body that is not a status payload reads as nothing', async () => {
    const { wa } = connector(() => sent())
    expect(await wa.statusUpdates(await signed({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'account_update', value: { event: 'VERIFIED' } }] }] }))).toEqual([])
    const body = 'not json'
    expect(await wa.statusUpdates({ url: 'https://api.test/x', headers: new Headers({ 'x-hub-signature-256': await hubSignature(CREDENTIALS.appSecret!, body) }), body })).toEqual([])
  })

  it('refuses a wrong, missing or other-secret signature with 401 INVALID_SIGNATURE', async () => {
    const { wa } = connector(() => sent())
    const good = await signed(statusWebhook([SENT_STATUS]))
    const tampered = { ...good, body: good.body.replace('"sent"', '"read"') }
    const noHeader = { ...good, headers: new Headers({ 'content-type': 'application/json' }) }
    const otherSecret = await signed(statusWebhook([SENT_STATUS]), 'another-app-secret')
    const bare = { ...good, headers: new Headers({ 'x-hub-signature-256': (good.headers.get('x-hub-signature-256') ?? '').slice('sha256='.length) }) }
    for (const cb of [tampered, noHeader, otherSecret, bare]) {
      const e = await failure(wa.statusUpdates(cb))
      expect(e).toBeInstanceOf(AppError)
      expect(e).toMatchObject({ status: 401, code: 'INVALID_SIGNATURE' })
    }
  })

  it('accepts the hex in upper case (the same HMAC)', async () => {
    const { wa } = connector(() => sent())
    const good = await signed(statusWebhook([SENT_STATUS]))
    const upper = `sha256=${(good.headers.get('x-hub-signature-256') ?? '').slice(7).toUpperCase()}`
    expect(await wa.statusUpdates({ ...good, headers: new Headers({ 'x-hub-signature-256': upper }) })).toHaveLength(1)
  })

  it('refuses every callback when no app secret is configured (it cannot be verified)', async () => {
    const { wa } = connector(() => sent(), { phoneNumberId: PHONE_NUMBER_ID, accessToken: CREDENTIALS.accessToken })
    const e = await failure(wa.statusUpdates(await signed(statusWebhook([SENT_STATUS]))))
    expect(e).toBeInstanceOf(AppError)
    expect(e).toMatchObject({ status: 401, code: 'INVALID_SIGNATURE' })
  })

  it('computes sha256=<hex HMAC-SHA256> as Meta does (a fixed vector) and checks it', async () => {
    expect(await whatsAppSignature('secret', 'test')).toBe('sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914')
    expect(await validWhatsAppSignature('secret', 'sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914', 'test')).toBe(true)
    expect(await validWhatsAppSignature('secret', 'sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0915', 'test')).toBe(false)
    expect(await validWhatsAppSignature('', 'sha256=', 'test')).toBe(false)
    expect(await validWhatsAppSignature('secret', null, 'test')).toBe(false)
  })
})

describe('verifyWhatsAppChallenge (the GET subscription handshake)', () => {
  const token = CREDENTIALS.webhookVerifyToken!
  const params = (p: Record<string, string>) => new URLSearchParams(p)

  it('answers hub.challenge when the mode is subscribe and the token is ours', () => {
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': token }), token)).toBe('1158201444')
  })

  it('answers null for a wrong token, another mode, no token configured, or no usable challenge', () => {
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': 'meatyhamhock' }), token)).toBeNull()
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444' }), token)).toBeNull()
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'unsubscribe', 'hub.challenge': '1158201444', 'hub.verify_token': token }), token)).toBeNull()
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': '' }), undefined)).toBeNull()
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': token }), undefined)).toBeNull()
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'subscribe', 'hub.verify_token': token }), token)).toBeNull()
    expect(verifyWhatsAppChallenge(params({ 'hub.mode': 'subscribe', 'hub.challenge': '<script>x</script>', 'hub.verify_token': token }), token)).toBeNull()
  })
})

describe('WhatsApp credentials never leak', () => {
  afterEach(() => vi.restoreAllMocks())

  it('appear in no result, message, thrown error or log line, even when Meta echoes them', async () => {
    const logged: unknown[][] = []
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, level).mockImplementation((...args) => void logged.push(args))
    const echo = `token ${CREDENTIALS.accessToken} secret ${CREDENTIALS.appSecret} verify ${CREDENTIALS.webhookVerifyToken}`
    const answers: (() => Response | Promise<Response>)[] = [
      () => graphError(400, 131047, `(#131047) ${echo}`),
      () => graphError(400, 100, `(#100) ${echo}`),
      () => graphError(401, 190, `Invalid OAuth access token - Cannot parse access token ${CREDENTIALS.accessToken}`),
      () => graphError(429, 130429, echo, undefined, undefined, { 'retry-after': '5' }),
      () => graphError(503, 2, echo),
      () => json({ display_phone_number: echo }),
      () => {
        throw new TypeError(`fetch failed ${echo}`)
      },
      () => slow(500, () => sent()),
    ]
    const seen: unknown[] = []
    for (const answer of answers) {
      const { wa } = connector(answer, CREDENTIALS, 50)
      seen.push(await wa.send(message()))
      seen.push(await wa.send(message({ whatsappTemplate: { name: 't', language: 'en', bodyParameters: ['x'] } })))
      seen.push(await wa.test())
    }
    const { wa } = connector(() => sent())
    const failedEcho = { ...FAILED_STATUS, errors: [{ ...FAILED_STATUS.errors[0], title: echo }] }
    seen.push(await wa.statusUpdates(await signed(statusWebhook([failedEcho]))))
    for (const cb of [{ ...(await signed(statusWebhook([SENT_STATUS]))), body: echo }, await signed(statusWebhook([SENT_STATUS]), 'wrong')]) {
      const e = await failure(wa.statusUpdates(cb))
      seen.push({ message: e.message, details: e.details ?? null, stack: e.stack ?? '' })
    }
    const noSecret = new WhatsAppConnector({ phoneNumberId: PHONE_NUMBER_ID, accessToken: CREDENTIALS.accessToken }, { fetch: fakeUpstream(() => sent()).fetch })
    const e = await failure(noSecret.statusUpdates(await signed(statusWebhook([SENT_STATUS]))))
    seen.push({ message: e.message, stack: e.stack ?? '' })

    const all = JSON.stringify(seen)
    for (const s of SECRETS) expect(all.includes(s), `secret leaked: ${all}`).toBe(false)
    expect(all).toContain('***')
    expect(logged).toEqual([])
  })
})

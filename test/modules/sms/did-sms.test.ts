/**
 * SMS to owned numbers (DIDs): Twilio's signed messaging webhook, the sandbox's JSON and the
 * sandbox owner route, down to the one signed delivery to the number's own smsUrl.
 *
 * Requests go through createApp() with fake queues (test/helpers/webhooks.ts), so the outbox drain
 * after each request lands in a recording queue, never in the local `events` queue whose consumer
 * would deliver for real.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { newId } from '../../../src/lib/ids'
import { verifyWebhookSignature } from '../../../src/lib/webhook-signature'
import { numberCallbackSecret } from '../../../src/modules/webhooks/delivery'
import { twilioSignature, validTwilioSignature } from '../../../src/providers/numbers/twilio'
import { buildRequest, call, createApiKey, expectErrorEnvelope, registerUser, type CallOptions } from '../../helpers/api'
import { WEBHOOK_SECRET } from '../../helpers/activations'
import { createApp } from '../../../src/app'
import { send, type AppCallOptions } from '../../helpers/app'
import { sandboxProvider } from '../../helpers/catalog'
import { uniqueNumber } from '../../helpers/dids'
import { insertProvider } from '../../helpers/providers'
import { answers, createEndpoint, deliveriesOf, harness, runEvents, runWebhooks, type Harness } from '../../helpers/webhooks'

// ---- the documented algorithm, written out here independently of src/ -------------------------

/** Twilio's "Validating requests": URL + each POST name+value sorted by name; HMAC-SHA1; base64. */
async function documentedSignature(authToken: string, url: string, params: Record<string, string>): Promise<string> {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url)
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(authToken), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(data)))
  return btoa(String.fromCharCode(...mac))
}

const hex = (n: number) => [...crypto.getRandomValues(new Uint8Array(n / 2))].map((b) => b.toString(16).padStart(2, '0')).join('')

// ---- fixtures ----------------------------------------------------------------------------------

const TOKEN_SECRET = 'TWILIO_DID_SMS_TEST_AUTH_TOKEN'
const TOKEN = `twilio-token-${hex(16)}`
const ACCOUNT_SID = `AC${hex(32)}`
const ORIGIN = 'http://switchboard.test'

async function twilioProvider(config: Record<string, unknown> = {}) {
  return insertProvider({ adapter: 'twilio', kinds: ['did'], config: { accountSid: ACCOUNT_SID, authTokenSecret: TOKEN_SECRET, ...config } })
}

/** An owned number row, as a DID purchase leaves it. */
async function ownedNumber(userId: string, providerId: string, opts: { phone?: string; status?: string; smsUrl?: string | null } = {}) {
  const id = newId('pn')
  const phone = opts.phone ?? uniqueNumber('415')
  const now = Date.now() - 60_000
  await env.DB.prepare(
    `INSERT INTO phone_numbers (id, user_id, provider_id, phone_number, country_code, number_type, capabilities, status, sms_url, monthly_price, purchased_at, released_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'us', 'LOCAL', '["VOICE","SMS"]', ?, ?, 1150000, ?, ?, ?, ?)`,
  )
    .bind(id, userId, providerId, phone, opts.status ?? 'active', opts.smsUrl ?? null, now, opts.status === 'released' ? now : null, now, now)
    .run()
  return { id, phone }
}

/** Through a fresh app with fake queues and the Twilio auth token set. */
function request(h: Harness, path: string, opts: CallOptions) {
  const overrides: Record<string, unknown> = { ...h.envOverrides, [TOKEN_SECRET]: TOKEN }
  return send(createApp(), buildRequest(path, opts), overrides as AppCallOptions['env'])
}

function twilioFields(to: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ToCountry: 'US',
    ToState: 'CA',
    SmsMessageSid: 'will be replaced',
    NumMedia: '0',
    ToCity: 'SAN FRANCISCO',
    FromZip: '94105',
    SmsSid: 'will be replaced',
    FromState: 'CA',
    SmsStatus: 'received',
    FromCity: 'SAN FRANCISCO',
    Body: 'Your verification code is 482913. Reply STOP to opt out + more',
    FromCountry: 'US',
    To: to,
    ToZip: '94105',
    NumSegments: '1',
    MessageSid: `SM${hex(32)}`,
    AccountSid: ACCOUNT_SID,
    From: '+15005550006',
    ApiVersion: '2010-04-01',
    ...extra,
  }
}

/** Twilio's POST: the form, signed (unless told otherwise) over the URL it is sent to. */
async function postTwilio(h: Harness, code: string, fields: Record<string, string>, opts: { signature?: string | null; signUrl?: string; token?: string } = {}) {
  const sid = fields.MessageSid!
  const form = { ...fields, SmsMessageSid: sid, SmsSid: sid }
  const path = `/api/v1/webhooks/sms?provider=${encodeURIComponent(code)}`
  const signature = opts.signature === undefined ? await documentedSignature(opts.token ?? TOKEN, opts.signUrl ?? `${ORIGIN}${path}`, form) : opts.signature
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8', 'user-agent': 'TwilioProxy/1.1' }
  if (signature !== null) headers['x-twilio-signature'] = signature
  return request(h, path, { method: 'POST', rawBody: new URLSearchParams(form).toString(), headers })
}

function sandboxJson(h: Harness, code: string, body: unknown, secret: string | null = WEBHOOK_SECRET) {
  return request(h, `/api/v1/webhooks/sms?provider=${encodeURIComponent(code)}`, { body, headers: secret ? { 'x-webhook-secret': secret } : {} })
}

interface SmsRow {
  id: string
  user_id: string
  provider_id: string
  phone_number_id: string | null
  activation_id: string | null
  phone: string
  sender: string | null
  text: string
  code: string | null
  upstream_message_id: string
  received_at: number
  created_at: number
}

async function smsOfNumber(numberId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM sms_messages WHERE phone_number_id = ? ORDER BY received_at, id`).bind(numberId).all<SmsRow>()
  return results
}

async function eventsOfNumber(numberId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM outbox WHERE json_extract(payload, '$.phoneNumberId') = ? ORDER BY type`)
    .bind(numberId)
    .all<{ id: string; type: string; user_id: string; payload: string; created_at: number; sent_at: number | null }>()
  return results.map((r) => ({ ...r, payload: JSON.parse(r.payload) as Record<string, unknown> }))
}

async function numberRow(id: string) {
  return env.DB.prepare(`SELECT * FROM phone_numbers WHERE id = ?`).bind(id).first<{ last_used_at: number | null; status: string }>()
}

// ---- the signature algorithm -------------------------------------------------------------------

describe("Twilio's request signature (X-Twilio-Signature)", () => {
  const DOC_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2'
  const docParams = (caller: string): [string, string][] => [
    ['CallSid', 'CA1234567890ABCDE'],
    ['Caller', caller],
    ['Digits', '1234'],
    ['From', caller],
    ['To', '+18005551212'],
  ]

  it("reproduces the published examples (twilio-csharp's RequestValidatorTest, Twilio's security docs)", async () => {
    // auth token 12345; the values hashed are "<url>CallSidCA1234567890ABCDECaller<caller>Digits1234From<caller>To+18005551212"
    expect(await twilioSignature('12345', DOC_URL, docParams('+14158675309'))).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=')
    expect(await twilioSignature('12345', DOC_URL, docParams('+12349013030'))).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=')
    // the order the fields come in does not matter: they are sorted by name
    expect(await twilioSignature('12345', DOC_URL, docParams('+14158675309').reverse())).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=')
    expect(await validTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', DOC_URL, docParams('+14158675309'))).toBe(true)
  })

  it('refuses another token, a changed field, an extra field, another URL, and a missing or empty signature', async () => {
    const sig = 'RSOYDt4T1cUTdK1PDd93/VVr8B8='
    const params = docParams('+14158675309')
    expect(await validTwilioSignature('12346', sig, DOC_URL, params)).toBe(false)
    expect(await validTwilioSignature('12345', sig, DOC_URL, [...params.slice(0, 2), ['Digits', '1235'], ...params.slice(3)])).toBe(false)
    expect(await validTwilioSignature('12345', sig, DOC_URL, [...params, ['Body', '']])).toBe(false)
    expect(await validTwilioSignature('12345', sig, 'https://mycompany.com/myapp.php?foo=1&bar=3', params)).toBe(false)
    expect(await validTwilioSignature('12345', sig, DOC_URL.replace('https:', 'http:'), params)).toBe(false)
    expect(await validTwilioSignature('12345', undefined, DOC_URL, params)).toBe(false)
    expect(await validTwilioSignature('12345', '', DOC_URL, params)).toBe(false)
    expect(await validTwilioSignature('', sig, DOC_URL, params)).toBe(false)
  })

  it('accepts the URL with or without its default port, as Twilio signs either spelling', async () => {
    const params = docParams('+14158675309')
    const withPort = await twilioSignature('12345', 'https://mycompany.com:443/myapp.php?foo=1&bar=2', params)
    expect(withPort).not.toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=')
    expect(await validTwilioSignature('12345', withPort, DOC_URL, params)).toBe(true)
    expect(await validTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', 'https://mycompany.com:443/myapp.php?foo=1&bar=2', params)).toBe(true)
    // a non-default port is part of the URL
    expect(await validTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', 'https://mycompany.com:8443/myapp.php?foo=1&bar=2', params)).toBe(false)
  })
})

// ---- Twilio's webhook --------------------------------------------------------------------------

describe('POST /api/v1/webhooks/sms?provider=<twilio>: an SMS to an owned number', () => {
  it('a signed form post is stored with its code, answered with empty TwiML, and writes SMS_RECEIVED and sms.received in one batch', async () => {
    const p = await twilioProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, p.id)
    const h = harness()
    const fields = twilioFields(n.phone)
    const res = await postTwilio(h, p.code, fields)
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('content-type'), res.text).toMatch(/^text\/xml/)
    expect(res.text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Response\/>$/)

    const rows = await smsOfNumber(n.id)
    expect(rows, JSON.stringify(rows)).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      user_id: u.id,
      provider_id: p.id,
      phone_number_id: n.id,
      activation_id: null,
      phone: n.phone,
      sender: '+15005550006',
      text: fields.Body,
      code: '482913',
      upstream_message_id: `msg:${fields.MessageSid}`,
    })

    const events = await eventsOfNumber(n.id)
    expect(
      events.map((e) => e.type),
      JSON.stringify(events),
    ).toEqual(['SMS_RECEIVED', 'sms.received'])
    const [didEvent, activationEvent] = events
    expect(didEvent!.user_id).toBe(u.id)
    expect(didEvent!.payload).toEqual({
      messageId: rows[0]!.id,
      messageSid: fields.MessageSid,
      numberId: n.id,
      phoneNumberId: n.id,
      phoneNumber: n.phone,
      from: '+15005550006',
      to: n.phone,
      body: fields.Body,
      direction: 'inbound',
      status: 'received',
      code: '482913',
      receivedAt: new Date(rows[0]!.received_at).toISOString(),
    })
    expect(activationEvent!.payload).toEqual({
      numberId: n.id,
      phoneNumberId: n.id,
      phone: n.phone,
      code: '482913',
      text: fields.Body,
      sender: '+15005550006',
      receivedAt: new Date(rows[0]!.received_at).toISOString(),
    })
    // one batch: the same instant as the SMS row; and the drain after the request sent them to `events`
    expect(didEvent!.created_at).toBe(rows[0]!.created_at)
    expect(activationEvent!.created_at).toBe(rows[0]!.created_at)
    expect(h.events.sent).toEqual(expect.arrayContaining([{ eventId: didEvent!.id }, { eventId: activationEvent!.id }]))

    const number = await numberRow(n.id)
    expect(number!.last_used_at, JSON.stringify(number)).toBe(rows[0]!.created_at)
    const seen = await call(`/api/v1/numbers/${n.id}`, { token: u.accessToken })
    expect(seen.status, seen.text).toBe(200)
    expect(seen.body.data.usage, seen.text).toMatchObject({ totalSms: 1, lastUsedAt: new Date(rows[0]!.created_at).toISOString() })
  })

  it('401 with a wrong, tampered or missing signature, or one for another URL — nothing stored', async () => {
    const p = await twilioProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, p.id)
    const h = harness()
    const fields = twilioFields(n.phone)
    const path = `/api/v1/webhooks/sms?provider=${encodeURIComponent(p.code)}`

    expectErrorEnvelope(await postTwilio(h, p.code, fields, { token: `${TOKEN}x` }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await postTwilio(h, p.code, fields, { signature: null }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await postTwilio(h, p.code, fields, { signature: '' }), 401, 'UNAUTHORIZED')
    // signed for a URL other than the one it was posted to (another provider's, another host)
    expectErrorEnvelope(await postTwilio(h, p.code, fields, { signUrl: `${ORIGIN}/api/v1/webhooks/sms?provider=other` }), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await postTwilio(h, p.code, fields, { signUrl: `https://switchboard.test${path}` }), 401, 'UNAUTHORIZED')
    // the body changed after Twilio signed it
    const signed = await documentedSignature(TOKEN, `${ORIGIN}${path}`, { ...fields, SmsMessageSid: fields.MessageSid!, SmsSid: fields.MessageSid! })
    expectErrorEnvelope(await postTwilio(h, p.code, { ...fields, Body: 'Your verification code is 000000' }, { signature: signed }), 401, 'UNAUTHORIZED')
    // the shared secret of the other providers is no way in for a Twilio provider
    expectErrorEnvelope(await sandboxJson(h, p.code, { to: n.phone, text: 'code 1234' }), 401, 'UNAUTHORIZED')
    // a JSON body cannot carry a Twilio signature
    const json = await request(h, path, { body: { To: n.phone, Body: 'code 1234' }, headers: { 'x-twilio-signature': signed } })
    expectErrorEnvelope(json, 401, 'UNAUTHORIZED')

    expect(await smsOfNumber(n.id)).toEqual([])
    expect(await eventsOfNumber(n.id)).toEqual([])
    // and the right signature still works
    const ok = await postTwilio(h, p.code, fields)
    expect(ok.status, ok.text).toBe(200)
  })

  it("401 for a correctly signed post with another AccountSid, and when the provider's auth token is not configured", async () => {
    const p = await twilioProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, p.id)
    const h = harness()
    const other = await postTwilio(h, p.code, twilioFields(n.phone, { AccountSid: `AC${hex(32)}` }))
    expectErrorEnvelope(other, 401, 'UNAUTHORIZED')
    expect(other.text).toContain('AccountSid')
    const none = await postTwilio(h, p.code, twilioFields(n.phone, { AccountSid: '' }))
    expectErrorEnvelope(none, 401, 'UNAUTHORIZED')

    const unset = await twilioProvider({ authTokenSecret: 'TWILIO_TOKEN_NOBODY_SET' })
    const m = await ownedNumber(u.id, unset.id)
    expectErrorEnvelope(await postTwilio(h, unset.code, twilioFields(m.phone)), 401, 'UNAUTHORIZED')
    // a config naming one of Switchboard's own secrets is refused, not used as a Twilio token
    const own = await twilioProvider({ authTokenSecret: 'PROVIDER_WEBHOOK_SECRET' })
    const o = await ownedNumber(u.id, own.id)
    expectErrorEnvelope(await postTwilio(h, own.code, twilioFields(o.phone), { token: WEBHOOK_SECRET }), 401, 'UNAUTHORIZED')

    expect(await smsOfNumber(n.id)).toEqual([])
    expect(await smsOfNumber(m.id)).toEqual([])
    expect(await smsOfNumber(o.id)).toEqual([])
  })

  it("404 for a number nobody owns, a released one, and another provider's number", async () => {
    const p = await twilioProvider()
    const sandbox = await sandboxProvider()
    const u = await registerUser()
    const h = harness()
    const unknown = await postTwilio(h, p.code, twilioFields(uniqueNumber('212')))
    expectErrorEnvelope(unknown, 404, 'NOT_FOUND')

    const released = await ownedNumber(u.id, p.id, { status: 'released' })
    expectErrorEnvelope(await postTwilio(h, p.code, twilioFields(released.phone)), 404, 'NOT_FOUND')
    expect(await smsOfNumber(released.id)).toEqual([])

    const theirs = await ownedNumber(u.id, sandbox.id)
    expectErrorEnvelope(await postTwilio(h, p.code, twilioFields(theirs.phone)), 404, 'NOT_FOUND')
    expect(await smsOfNumber(theirs.id)).toEqual([])

    // the number was released and bought again by someone else: the SMS is the live owner's
    const again = await registerUser()
    const live = await ownedNumber(again.id, p.id, { phone: released.phone })
    const res = await postTwilio(h, p.code, twilioFields(released.phone))
    expect(res.status, res.text).toBe(200)
    expect((await smsOfNumber(live.id)).map((r) => r.user_id)).toEqual([again.id])
    expect(await smsOfNumber(released.id)).toEqual([])
  })

  it("Twilio's redelivery of a MessageSid is stored once with one pair of events, also when copies race", async () => {
    const p = await twilioProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, p.id)
    const h = harness()
    const fields = twilioFields(n.phone)
    const first = await postTwilio(h, p.code, fields)
    expect(first.status, first.text).toBe(200)
    const second = await postTwilio(h, p.code, fields)
    expect(second.status, second.text).toBe(200)
    expect(second.text).toContain('<Response/>')
    expect(await smsOfNumber(n.id)).toHaveLength(1)
    expect((await eventsOfNumber(n.id)).map((e) => e.type)).toEqual(['SMS_RECEIVED', 'sms.received'])

    const racing = twilioFields(n.phone, { Body: 'Code 7731' })
    const answers = await Promise.all([1, 2, 3, 4].map(() => postTwilio(h, p.code, racing)))
    for (const a of answers) expect(a.status, a.text).toBe(200)
    const rows = await smsOfNumber(n.id)
    expect(
      rows.filter((r) => r.upstream_message_id === `msg:${racing.MessageSid}`),
      JSON.stringify(rows),
    ).toHaveLength(1)
    const raced = (await eventsOfNumber(n.id)).filter((e) => e.payload.code === '7731')
    expect(
      raced.map((e) => e.type),
      JSON.stringify(raced),
    ).toEqual(['SMS_RECEIVED', 'sms.received'])
    expect(await eventsOfNumber(n.id)).toHaveLength(4)
  })

  it('an authenticated post missing a field Twilio always sends is a 400', async () => {
    const p = await twilioProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, p.id)
    const h = harness()
    const { To: _to, ...withoutTo } = twilioFields(n.phone)
    const res = await postTwilio(h, p.code, withoutTo)
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.text).toContain('To')
  })
})

// ---- the sandbox ---------------------------------------------------------------------------------

describe('the sandbox: its JSON on the same route, and the owner route', () => {
  it('{to, from, text, messageId} with the shared secret: stored once per messageId, events with phoneNumberId', async () => {
    const sandbox = await sandboxProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, sandbox.id)
    const h = harness()
    const body = { to: n.phone, from: '+15551230000', text: 'G-246810 is your Google code', messageId: `m-${hex(8)}` }
    const res = await sandboxJson(h, sandbox.code, body)
    expect(res.status, res.text).toBe(200)
    const rows = await smsOfNumber(n.id)
    expect(res.body.data, res.text).toEqual({ received: true, duplicate: false, smsId: rows[0]!.id, phoneNumberId: n.id, phoneNumber: n.phone, code: '246810' })
    expect(rows[0]).toMatchObject({ sender: '+15551230000', code: '246810', upstream_message_id: `msg:${body.messageId}` })
    const events = await eventsOfNumber(n.id)
    expect(events.map((e) => e.type)).toEqual(['SMS_RECEIVED', 'sms.received'])
    expect(events[0]!.payload).toMatchObject({ messageSid: body.messageId, phoneNumberId: n.id, numberId: n.id, from: '+15551230000', to: n.phone, direction: 'inbound', status: 'received' })
    expect(events[1]!.payload).toMatchObject({ numberId: n.id, phoneNumberId: n.id, phone: n.phone, code: '246810', sender: '+15551230000' })

    const again = await sandboxJson(h, sandbox.code, body)
    expect(again.status, again.text).toBe(200)
    expect(again.body.data, again.text).toMatchObject({ duplicate: true, smsId: rows[0]!.id, phoneNumberId: n.id, code: '246810' })
    expect(await smsOfNumber(n.id)).toHaveLength(1)
    expect(await eventsOfNumber(n.id)).toHaveLength(2)

    // without a messageId: one per (number, sender, text, receivedAt)
    const plain = { to: n.phone, from: '+15551230000', text: 'code 1357', receivedAt: '2026-01-02T03:04:05Z' }
    expect((await sandboxJson(h, sandbox.code, plain)).body.data.duplicate).toBe(false)
    const replay = await sandboxJson(h, sandbox.code, plain)
    expect(replay.body.data.duplicate, replay.text).toBe(true)
    expect((await smsOfNumber(n.id)).find((r) => r.text === 'code 1357')!.received_at).toBe(Date.parse('2026-01-02T03:04:05Z'))
  })

  it('401 without the secret, 404 for an unknown or released number, 400 for a bad `to` or both ids, 415 for a form post', async () => {
    const sandbox = await sandboxProvider()
    const other = await sandboxProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, sandbox.id)
    const released = await ownedNumber(u.id, sandbox.id, { status: 'released' })
    const h = harness()
    expectErrorEnvelope(await sandboxJson(h, sandbox.code, { to: n.phone, text: 'x 1234' }, null), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await sandboxJson(h, sandbox.code, { to: n.phone, text: 'x 1234' }, `${WEBHOOK_SECRET}x`), 401, 'UNAUTHORIZED')
    expectErrorEnvelope(await sandboxJson(h, sandbox.code, { to: uniqueNumber('646'), text: 'x 1234' }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await sandboxJson(h, sandbox.code, { to: released.phone, text: 'x 1234' }), 404, 'NOT_FOUND')
    // a provider delivers to its own numbers only
    expectErrorEnvelope(await sandboxJson(h, other.code, { to: n.phone, text: 'x 1234' }), 404, 'NOT_FOUND')
    const badTo = await sandboxJson(h, sandbox.code, { to: '4155550123', text: 'x 1234' })
    expectErrorEnvelope(badTo, 400, 'VALIDATION_ERROR')
    expect(badTo.text).toContain('E.164')
    const both = await sandboxJson(h, sandbox.code, { to: n.phone, activationId: 'num_x', text: 'x 1234' })
    expectErrorEnvelope(both, 400, 'VALIDATION_ERROR')
    const neither = await sandboxJson(h, sandbox.code, { text: 'x 1234' })
    expectErrorEnvelope(neither, 400, 'VALIDATION_ERROR')
    expect(neither.text).toContain('activationId')
    const form = await request(h, `/api/v1/webhooks/sms?provider=${sandbox.code}`, {
      method: 'POST',
      rawBody: new URLSearchParams({ To: n.phone, Body: 'x 1234' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-webhook-secret': WEBHOOK_SECRET },
    })
    expectErrorEnvelope(form, 415, 'UNSUPPORTED_MEDIA_TYPE')
    const empty = await request(h, `/api/v1/webhooks/sms?provider=${sandbox.code}`, { method: 'POST', headers: { 'x-webhook-secret': WEBHOOK_SECRET } })
    expectErrorEnvelope(empty, 400, 'VALIDATION_ERROR')
    expect(await smsOfNumber(n.id)).toEqual([])
    expect(await smsOfNumber(released.id)).toEqual([])
  })

  it('POST /api/v1/sandbox/numbers/{id}/sms delivers through the same path; each call is a new message', async () => {
    const sandbox = await sandboxProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, sandbox.id)
    const h = harness()
    const res = await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { method: 'POST', token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ received: true, duplicate: false, phoneNumberId: n.id, phoneNumber: n.phone, code: '123456' })
    expect((await smsOfNumber(n.id))[0]).toMatchObject({ text: 'Your code is 123456', sender: '+15005550006', code: '123456' })

    const key = await createApiKey(u, ['numbers:write'])
    const withBody = await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { apiKey: key.key, body: { text: 'Bank code 9911', from: 'MYBANK' } })
    expect(withBody.status, withBody.text).toBe(200)
    expect(withBody.body.data.code, withBody.text).toBe('9911')
    const same = await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { apiKey: key.key, body: { text: 'Bank code 9911', from: 'MYBANK' } })
    expect(same.body.data.duplicate, same.text).toBe(false)
    expect(await smsOfNumber(n.id)).toHaveLength(3)
    const events = await eventsOfNumber(n.id)
    expect(events.filter((e) => e.type === 'SMS_RECEIVED')).toHaveLength(3)
    expect(events.filter((e) => e.type === 'sms.received')).toHaveLength(3)
    expect(events.find((e) => e.type === 'sms.received' && e.payload.code === '9911')!.payload).toMatchObject({ sender: 'MYBANK', phoneNumberId: n.id })
    expectErrorEnvelope(await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { apiKey: key.key, body: { text: '' } }), 400, 'VALIDATION_ERROR')
  })

  it("owner route: 404 for another user's number or an unknown id, 401/403 without the right credentials, 409 for a Twilio or released number", async () => {
    const sandbox = await sandboxProvider()
    const twilio = await twilioProvider()
    const u = await registerUser()
    const n = await ownedNumber(u.id, sandbox.id)
    const h = harness()
    const other = await registerUser()
    expectErrorEnvelope(await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { method: 'POST', token: other.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await request(h, `/api/v1/sandbox/numbers/pn_unknown/sms`, { method: 'POST', token: u.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { method: 'POST' }), 401, 'UNAUTHORIZED')
    const reader = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { method: 'POST', apiKey: reader.key }), 403, 'FORBIDDEN')
    const real = await ownedNumber(u.id, twilio.id)
    expectErrorEnvelope(await request(h, `/api/v1/sandbox/numbers/${real.id}/sms`, { method: 'POST', token: u.accessToken }), 409, 'NOT_SANDBOX_NUMBER')
    const released = await ownedNumber(u.id, sandbox.id, { status: 'released' })
    expectErrorEnvelope(await request(h, `/api/v1/sandbox/numbers/${released.id}/sms`, { method: 'POST', token: u.accessToken }), 409, 'NUMBER_RELEASED')
    expect(await smsOfNumber(n.id)).toEqual([])
    expect(await smsOfNumber(real.id)).toEqual([])
    expect(await smsOfNumber(released.id)).toEqual([])
  })
})

// ---- end to end: to the number's smsUrl and the partners' endpoints -------------------------------

/** The outbox events the request's drain handed to the (fake) `events` queue. */
const drained = (h: Harness) => h.events.sent.map((m) => (m as { eventId: string }).eventId)

describe('end to end: webhook → outbox → events consumer → webhooks consumer', () => {
  it("a Twilio SMS reaches the number's smsUrl exactly once, signed with the account's number-callback secret, and every subscribed endpoint", async () => {
    const p = await twilioProvider()
    const u = await registerUser()
    const smsUrl = `https://sms.partner.example/${crypto.randomUUID()}`
    const n = await ownedNumber(u.id, p.id, { smsUrl })
    const didHook = await createEndpoint(u, { events: ['SMS_RECEIVED'] })
    const activationHook = await createEndpoint(u, { events: ['sms.received'] })
    const everything = await createEndpoint(u, { events: ['*'] })
    const calls = await createEndpoint(u, { events: ['CALL_COMPLETED'] })
    const h = harness(answers(200))

    const fields = twilioFields(n.phone)
    const res = await postTwilio(h, p.code, fields)
    expect(res.status, res.text).toBe(200)
    const events = await eventsOfNumber(n.id)
    expect(events.map((e) => e.type)).toEqual(['SMS_RECEIVED', 'sms.received'])
    const [smsReceived, legacy] = events
    expect(drained(h)).toEqual(expect.arrayContaining([smsReceived!.id, legacy!.id]))

    const consumed = await runEvents(h, [smsReceived!.id, legacy!.id])
    expect(consumed.explicitAcks, JSON.stringify(consumed)).toEqual(consumed.ids)
    const d1 = await deliveriesOf(smsReceived!.id)
    const d0 = await deliveriesOf(legacy!.id)
    expect(d1.map((d) => d.target).sort(), JSON.stringify(d1)).toEqual([didHook.id, everything.id, `sms_url:${n.id}`].sort())
    expect(d0.map((d) => d.target).sort(), JSON.stringify(d0)).toEqual([activationHook.id, everything.id].sort())
    expect([...d1, ...d0].map((d) => d.endpoint_id)).not.toContain(calls.id)

    const delivered = await runWebhooks(
      h,
      [...d1, ...d0].map((d) => d.id),
    )
    expect(delivered.explicitAcks, JSON.stringify(delivered)).toEqual(delivered.ids)
    expect(h.receiver.calls).toHaveLength(5)
    const toSmsUrl = h.receiver.calls.filter((c) => c.url === smsUrl)
    expect(toSmsUrl, JSON.stringify(h.receiver.calls.map((c) => c.url))).toHaveLength(1)

    // the smsUrl's delivery: the DID API's payload, signed with the per-account secret (as the API shows it)
    const req = toSmsUrl[0]!
    const sig = { id: req.headers.get('webhook-id')!, timestamp: req.headers.get('webhook-timestamp')!, signature: req.headers.get('webhook-signature')! }
    const secret = await numberCallbackSecret(h.services, u.id)
    const shown = await call('/api/v1/webhooks/number-callback-secret', { token: u.accessToken })
    expect(shown.body.data?.secret, shown.text).toBe(secret)
    expect(await verifyWebhookSignature(req.body, sig, secret)).toBe(true)
    expect(await verifyWebhookSignature(req.body, sig, everything.secret)).toBe(false)
    expect(sig.id).toBe(smsReceived!.id)
    expect(JSON.parse(req.body)).toMatchObject({
      id: smsReceived!.id,
      event: 'SMS_RECEIVED',
      data: { messageSid: fields.MessageSid, numberId: n.id, phoneNumberId: n.id, phoneNumber: n.phone, from: fields.From, to: n.phone, body: fields.Body, direction: 'inbound', status: 'received' },
      account: { id: u.id, email: u.email },
    })

    // the endpoints' deliveries, each signed with its own secret
    const byEndpoint = new Map([didHook, activationHook, everything].map((e) => [e.url, e]))
    for (const c of h.receiver.calls.filter((c) => c.url !== smsUrl)) {
      const e = byEndpoint.get(c.url)!
      const s = { id: c.headers.get('webhook-id')!, timestamp: c.headers.get('webhook-timestamp')!, signature: c.headers.get('webhook-signature')! }
      expect(await verifyWebhookSignature(c.body, s, e.secret), c.url).toBe(true)
    }
    const seen = (e: { url: string }) =>
      h.receiver.calls
        .filter((c) => c.url === e.url)
        .map((c) => JSON.parse(c.body).event)
        .sort()
    expect(seen(didHook)).toEqual(['SMS_RECEIVED'])
    expect(seen(activationHook)).toEqual(['sms.received'])
    expect(seen(everything)).toEqual(['SMS_RECEIVED', 'sms.received'])
    const legacyBody = JSON.parse(h.receiver.calls.find((c) => c.url === activationHook.url)!.body)
    expect(legacyBody.data).toMatchObject({ numberId: n.id, phoneNumberId: n.id, phone: n.phone, code: '482913', sender: fields.From })

    // Twilio's redelivery adds nothing anywhere
    const before = h.receiver.calls.length
    const again = await postTwilio(h, p.code, fields)
    expect(again.status, again.text).toBe(200)
    expect(await eventsOfNumber(n.id)).toHaveLength(2)
    await runEvents(h, [smsReceived!.id, legacy!.id], 2)
    expect((await deliveriesOf(smsReceived!.id)).length + (await deliveriesOf(legacy!.id)).length).toBe(5)
    expect(h.receiver.calls).toHaveLength(before)
  })

  it('the sandbox owner route reaches the smsUrl once too; a number without smsUrl gets nothing of its own', async () => {
    const sandbox = await sandboxProvider()
    const u = await registerUser()
    const smsUrl = `https://sms.partner.example/${crypto.randomUUID()}`
    const n = await ownedNumber(u.id, sandbox.id, { smsUrl })
    const bare = await ownedNumber(u.id, sandbox.id)
    const h = harness(answers(200))
    expect((await request(h, `/api/v1/sandbox/numbers/${n.id}/sms`, { method: 'POST', token: u.accessToken, body: { text: 'code 5150' } })).status).toBe(200)
    expect((await request(h, `/api/v1/sandbox/numbers/${bare.id}/sms`, { method: 'POST', token: u.accessToken })).status).toBe(200)
    const ids = [...(await eventsOfNumber(n.id)), ...(await eventsOfNumber(bare.id))].map((e) => e.id)
    expect(ids).toHaveLength(4)
    await runEvents(h, ids)
    const deliveries = (await Promise.all(ids.map(deliveriesOf))).flat()
    expect(
      deliveries.map((d) => d.target),
      JSON.stringify(deliveries),
    ).toEqual([`sms_url:${n.id}`])
    await runWebhooks(
      h,
      deliveries.map((d) => d.id),
    )
    expect(h.receiver.calls.map((c) => c.url)).toEqual([smsUrl])
    const body = JSON.parse(h.receiver.last.body)
    expect(body).toMatchObject({ event: 'SMS_RECEIVED', data: { phoneNumberId: n.id, body: 'code 5150', code: '5150' } })
    const sig = { id: h.receiver.last.headers.get('webhook-id')!, timestamp: h.receiver.last.headers.get('webhook-timestamp')!, signature: h.receiver.last.headers.get('webhook-signature')! }
    expect(await verifyWebhookSignature(h.receiver.last.body, sig, await numberCallbackSecret(h.services, u.id))).toBe(true)
  })
})

/**
 * The Twilio phone-numbers adapter against Twilio's documented answers (AvailablePhoneNumbers,
 * IncomingPhoneNumbers, the error JSON): the exact requests, the mapping, and that the auth
 * token never shows up in an error's message or details.
 */
import { describe, expect, it } from 'vitest'
import type { Provider } from '../../../src/db/schema'
import { NoNumbersAvailable, UpstreamError } from '../../../src/lib/errors'
import { numberAdapters } from '../../../src/providers/numbers/registry'
import { TwilioConfig, TwilioDids } from '../../../src/providers/numbers/twilio'
import { expectNoSecret, failure, fakeUpstream, json, slow, type Handler } from '../../helpers/upstream'

const SID = 'AC0123456789abcdef0123456789abcdef'
const TOKEN = 'tw_auth_token_5e4d3c2b1a0f9e8d7c6b5a49'
const BASIC = `Basic ${btoa(`${SID}:${TOKEN}`)}`
const BASE = 'https://twilio.test'
const ACCOUNT = `/2010-04-01/Accounts/${SID}`

function adapter(handler: Handler, config: Record<string, unknown> = {}) {
  const upstream = fakeUpstream(handler)
  const dids = new TwilioDids({ provider: 'twilio', config: TwilioConfig.parse({ baseUrl: BASE, accountSid: SID, ...config }), authToken: TOKEN, fetch: upstream.fetch })
  return { dids, upstream }
}

/** Twilio's documented AvailablePhoneNumbers list answer (Local, US). */
const AVAILABLE_LOCAL = {
  available_phone_numbers: [
    {
      friendly_name: '(415) 555-0123',
      phone_number: '+14155550123',
      lata: '722',
      locality: 'San Francisco',
      rate_center: 'SNFC ZONE 1',
      latitude: '37.77',
      longitude: '-122.41',
      region: 'CA',
      postal_code: '94102',
      iso_country: 'US',
      address_requirements: 'none',
      beta: false,
      capabilities: { voice: true, SMS: true, MMS: true, fax: false },
    },
    {
      friendly_name: '(415) 555-0199',
      phone_number: '+14155550199',
      lata: '722',
      locality: '',
      rate_center: 'SNFC ZONE 1',
      latitude: null,
      longitude: null,
      region: 'CA',
      postal_code: null,
      iso_country: 'US',
      address_requirements: 'local',
      beta: true,
      capabilities: { voice: true, SMS: false, MMS: false, fax: true },
    },
    { friendly_name: 'broken', phone_number: null, capabilities: {} },
  ],
  end: 1,
  first_page_uri: `${ACCOUNT}/AvailablePhoneNumbers/US/Local.json?PageSize=2&Page=0`,
  next_page_uri: null,
  page: 0,
  page_size: 2,
  start: 0,
  uri: `${ACCOUNT}/AvailablePhoneNumbers/US/Local.json?PageSize=2`,
}

const twilioError = (code: number, message: string, status: number) => json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, status)

describe('Twilio search (AvailablePhoneNumbers)', () => {
  it('sends the documented GET with Basic auth and maps the numbers', async () => {
    const { dids, upstream } = adapter(() => json(AVAILABLE_LOCAL))
    const found = await dids.search({ countryCode: 'us', areaCode: '415', contains: '555*', capabilities: ['SMS', 'VOICE'], limit: 5 })
    const r = upstream.last
    expect(r.method).toBe('GET')
    expect(`${r.url.origin}${r.url.pathname}`).toBe(`${BASE}${ACCOUNT}/AvailablePhoneNumbers/US/Local.json`)
    expect(Object.fromEntries(r.url.searchParams)).toEqual({ AreaCode: '415', Contains: '555*', SmsEnabled: 'true', VoiceEnabled: 'true', PageSize: '5' })
    expect(r.headers.get('authorization')).toBe(BASIC)
    expect(r.headers.get('accept')).toBe('application/json')
    expect(found).toEqual([
      {
        phoneNumber: '+14155550123',
        countryCode: 'us',
        areaCode: '415',
        region: 'CA',
        locality: 'San Francisco',
        numberType: 'LOCAL',
        capabilities: ['VOICE', 'SMS', 'MMS'],
        setupPrice: 0,
        monthlyPrice: 1_150_000,
        restrictions: [],
      },
      {
        phoneNumber: '+14155550199',
        countryCode: 'us',
        areaCode: '415',
        region: 'CA',
        locality: null,
        numberType: 'LOCAL',
        capabilities: ['VOICE', 'FAX'],
        setupPrice: 0,
        monthlyPrice: 1_150_000,
        restrictions: ['address_required', 'local_address_required', 'beta'],
      },
    ])
  })

  it('picks the resource by number type, prices it from the config, and derives NANP area codes', async () => {
    const { dids, upstream } = adapter(() => json({ available_phone_numbers: [{ phone_number: '+18885550100', iso_country: 'US', region: '', capabilities: { voice: true, SMS: true } }] }), {
      prices: { TOLL_FREE: { setup: 1, monthly: 2.5 } },
    })
    const [n] = await dids.search({ countryCode: 'us', numberType: 'TOLL_FREE', limit: 10 })
    expect(upstream.last.url.pathname).toBe(`${ACCOUNT}/AvailablePhoneNumbers/US/TollFree.json`)
    expect(Object.fromEntries(upstream.last.url.searchParams)).toEqual({ PageSize: '10' })
    expect(n).toMatchObject({ numberType: 'TOLL_FREE', areaCode: '888', region: null, setupPrice: 1_000_000, monthlyPrice: 2_500_000 })

    for (const [numberType, resource] of [
      ['MOBILE', 'Mobile'],
      ['NATIONAL', 'National'],
      ['LOCAL', 'Local'],
    ] as const) {
      const gb = adapter(() => json({ available_phone_numbers: [{ phone_number: '+447700900123', iso_country: 'GB', capabilities: { voice: true } }] }))
      const [m] = await gb.dids.search({ countryCode: 'gb', numberType, limit: 1 })
      expect(gb.upstream.last.url.pathname).toBe(`${ACCOUNT}/AvailablePhoneNumbers/GB/${resource}.json`)
      expect(m).toMatchObject({ countryCode: 'gb', areaCode: null, numberType, capabilities: ['VOICE'] })
    }
  })

  it('a country or type without an inventory resource (404) has no numbers', async () => {
    const { dids } = adapter(() => twilioError(20404, 'The requested resource /2010-04-01/Accounts/…/AvailablePhoneNumbers/ZZ/Mobile.json was not found', 404))
    expect(await dids.search({ countryCode: 'zz', numberType: 'MOBILE', limit: 5 })).toEqual([])
  })

  it('an answer that is not the list is an upstream error', async () => {
    const { dids } = adapter(() => json({ something: 'else' }))
    expect((await failure(dids.search({ countryCode: 'us', limit: 5 }))).message).toBe('twilio: search: unexpected answer')
  })
})

describe('Twilio purchase (IncomingPhoneNumbers)', () => {
  it('POSTs the form-encoded number and URLs and answers the PN sid', async () => {
    const { dids, upstream } = adapter(() => json({ sid: 'PN0123456789abcdef0123456789abcdef', account_sid: SID, phone_number: '+14155550123', friendly_name: 'Support line', status: 'in-use' }, 201))
    const bought = await dids.purchase('+14155550123', { smsUrl: 'https://api.example.com/sms', voiceUrl: 'https://api.example.com/voice', friendlyName: 'Support line' })
    expect(bought).toEqual({ status: 'active', upstreamId: 'PN0123456789abcdef0123456789abcdef' })
    const r = upstream.last
    expect(r.method).toBe('POST')
    expect(`${r.url.origin}${r.url.pathname}`).toBe(`${BASE}${ACCOUNT}/IncomingPhoneNumbers.json`)
    expect(r.headers.get('content-type')).toBe('application/x-www-form-urlencoded')
    expect(r.headers.get('authorization')).toBe(BASIC)
    expect(Object.fromEntries(new URLSearchParams(r.body))).toEqual({
      PhoneNumber: '+14155550123',
      SmsUrl: 'https://api.example.com/sms',
      VoiceUrl: 'https://api.example.com/voice',
      FriendlyName: 'Support line',
    })
  })

  it('sends only the fields given', async () => {
    const { dids, upstream } = adapter(() => json({ sid: 'PN1' }, 201))
    await dids.purchase('+14155550123', {})
    expect(Object.fromEntries(new URLSearchParams(upstream.last.body))).toEqual({ PhoneNumber: '+14155550123' })
  })

  it.each([
    [21422, 'PhoneNumber requested is not available'],
    [21452, 'No phone numbers found in area code'],
  ])('Twilio %i is NoNumbersAvailable (503)', async (code, message) => {
    const { dids } = adapter(() => twilioError(code, message, 400))
    const e = await failure(dids.purchase('+14155550123', {}))
    expect(e, e.message).toBeInstanceOf(NoNumbersAvailable)
    expect(e.status).toBe(503)
    expect(e.details).toMatchObject({ operation: 'purchase', upstreamCode: code, upstreamStatus: 400 })
    expectNoSecret(e, TOKEN, BASIC)
  })

  it('20003 is "authentication failed", without the credentials', async () => {
    const { dids } = adapter(() =>
      json({ code: 20003, detail: `Your AccountSid or AuthToken was incorrect: ${TOKEN}`, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 }, 401),
    )
    const e = await failure(dids.purchase('+14155550123', {}))
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.status).toBe(502)
    expect(e.message).toBe('twilio: purchase: authentication failed')
    expectNoSecret(e, TOKEN, BASIC, btoa(`${SID}:${TOKEN}`))
  })

  it("other Twilio errors quote Twilio's message with the credentials cut out", async () => {
    const { dids } = adapter(() => twilioError(21421, `PhoneNumber is invalid (token ${TOKEN})`, 400))
    const e = await failure(dids.purchase('+1415', {}))
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.message).toBe('twilio: purchase: Twilio error 21421 (PhoneNumber is invalid (token ***))')
    expectNoSecret(e, TOKEN)
  })

  it('429 is "rate limited", 5xx is "HTTP n", and a 201 without a sid is unexpected', async () => {
    const cases: [Response, string][] = [
      [twilioError(20429, 'Too Many Requests', 429), 'twilio: purchase: rate limited by Twilio'],
      [new Response('<html>Bad Gateway</html>', { status: 502 }), 'twilio: purchase: HTTP 502'],
      [twilioError(20500, 'Internal Server Error', 500), 'twilio: purchase: HTTP 500'],
      [json({ phone_number: '+14155550123' }, 201), 'twilio: purchase: unexpected answer (no sid)'],
    ]
    for (const [response, message] of cases) {
      const { dids } = adapter(() => response)
      const e = await failure(dids.purchase('+14155550123', {}))
      expect(e, e.message).toBeInstanceOf(UpstreamError)
      expect(e.message).toBe(message)
    }
  })
})

describe('Twilio release', () => {
  it('DELETEs the IncomingPhoneNumber (204)', async () => {
    const { dids, upstream } = adapter(() => new Response(null, { status: 204 }))
    await dids.release('PN0123456789abcdef0123456789abcdef')
    expect(upstream.last.method).toBe('DELETE')
    expect(upstream.last.url.pathname).toBe(`${ACCOUNT}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json`)
    expect(upstream.last.headers.get('authorization')).toBe(BASIC)
  })

  it('a number already gone upstream (404) counts as released; 500 is an upstream error', async () => {
    await adapter(() => twilioError(20404, 'The requested resource was not found', 404)).dids.release('PN1')
    const e = await failure(adapter(() => twilioError(20500, 'Internal Server Error', 500)).dids.release('PN1'))
    expect(e.message).toBe('twilio: release: HTTP 500')
  })
})

describe('Twilio lookup (IncomingPhoneNumbers list, filtered by PhoneNumber)', () => {
  /** Twilio's documented IncomingPhoneNumbers list answer. */
  const owned = (numbers: { sid: string; phone_number: string }[]) => ({
    incoming_phone_numbers: numbers.map((n) => ({ ...n, account_sid: SID, friendly_name: n.phone_number, status: 'in-use', capabilities: { voice: true, sms: true, mms: true, fax: false } })),
    end: Math.max(0, numbers.length - 1),
    first_page_uri: `${ACCOUNT}/IncomingPhoneNumbers.json?PhoneNumber=%2B14155550123&PageSize=50&Page=0`,
    next_page_uri: null,
    page: 0,
    page_size: 50,
    previous_page_uri: null,
    start: 0,
    uri: `${ACCOUNT}/IncomingPhoneNumbers.json?PhoneNumber=%2B14155550123&PageSize=50&Page=0`,
  })

  it('GETs the list for exactly that number and answers its PN sid', async () => {
    const { dids, upstream } = adapter(() => json(owned([{ sid: 'PN0123456789abcdef0123456789abcdef', phone_number: '+14155550123' }])))
    expect(await dids.lookup('+14155550123')).toEqual({ status: 'active', upstreamId: 'PN0123456789abcdef0123456789abcdef' })
    expect(upstream.last.method).toBe('GET')
    expect(upstream.last.url.pathname).toBe(`${ACCOUNT}/IncomingPhoneNumbers.json`)
    expect(upstream.last.url.searchParams.get('PhoneNumber')).toBe('+14155550123')
    expect(upstream.last.headers.get('authorization')).toBe(BASIC)
  })

  it('an empty list (or only other numbers) means the account does not have it', async () => {
    expect(await adapter(() => json(owned([]))).dids.lookup('+14155550123')).toBeNull()
    expect(await adapter(() => json(owned([{ sid: 'PN9', phone_number: '+14155550999' }]))).dids.lookup('+14155550123')).toBeNull()
  })

  it('a failure is an upstream error (the purchase stays unconfirmed)', async () => {
    const e = await failure(adapter(() => twilioError(20500, 'Internal Server Error', 500)).dids.lookup('+14155550123'))
    expect(e.message).toBe('twilio: lookup: HTTP 500')
  })
})

describe('Twilio transport failures', () => {
  it('a network error and a timeout are upstream errors without credentials or URL', async () => {
    const down = adapter((r) => {
      throw new TypeError(`Network connection lost to ${r.url} with ${r.headers.get('authorization')}`)
    })
    const e1 = await failure(down.dids.search({ countryCode: 'us', limit: 1 }))
    expect(e1.message).toBe('twilio: search: network error (TypeError)')
    expectNoSecret(e1, TOKEN, BASIC, SID)

    const stuck = adapter(() => slow(2_000, () => json(AVAILABLE_LOCAL)), { timeoutMs: 100 })
    const e2 = await failure(stuck.dids.search({ countryCode: 'us', limit: 1 }))
    expect(e2.message).toBe('twilio: search: no answer within 100 ms')
  })
})

describe('Twilio sync queries and registry', () => {
  it('inventoryQueries come from syncCountries', () => {
    const { dids } = adapter(() => json({}), { syncCountries: ['US', { country: 'gb', numberType: 'MOBILE', limit: 20 }, { country: 'ca', areaCode: '416' }] })
    expect(dids.inventoryQueries()).toEqual([
      { countryCode: 'us', limit: 50 },
      { countryCode: 'gb', areaCode: undefined, numberType: 'MOBILE', contains: undefined, limit: 20 },
      { countryCode: 'ca', areaCode: '416', numberType: undefined, contains: undefined, limit: 50 },
    ])
    expect(adapter(() => json({})).dids.inventoryQueries()).toEqual([])
  })

  const row = (config: Record<string, unknown>): Provider => ({ id: 'prv_t', code: 'tw', adapter: 'twilio', kinds: ['did'], config }) as unknown as Provider

  it('builds a DidProvider with the token from the named secret', async () => {
    const upstream = fakeUpstream(() => json({ available_phone_numbers: [] }))
    const adapters = numberAdapters(row({ baseUrl: BASE, accountSid: SID, authTokenSecret: 'TW_TOKEN' }), {
      fetch: upstream.fetch,
      secret: (name) => (name === 'TW_TOKEN' ? TOKEN : undefined),
    })
    expect(adapters.activation).toBeUndefined()
    expect(await adapters.did!.search({ countryCode: 'us', limit: 3 })).toEqual([])
    expect(upstream.last.headers.get('authorization')).toBe(BASIC)
  })

  it('a missing token is "credentials not configured"; a bad Account SID is an invalid config', () => {
    expect(() => numberAdapters(row({ accountSid: SID }), { fetch, secret: () => undefined })).toThrow('tw: credentials not configured')
    expect(() => numberAdapters(row({ accountSid: 'nope' }), { fetch, secret: () => TOKEN })).toThrow(/tw: invalid provider config \(accountSid: must be an Account SID/)
  })
})

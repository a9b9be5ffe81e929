/**
 * GET|POST /stubs/handler_api.php against the protocol's documented answers: every action, the
 * refusals (BAD_KEY, BAD_ACTION, BANNED, BAD_SERVICE, BAD_COUNTRY, WRONG_MAX_PRICE, NO_BALANCE,
 * NO_NUMBERS, NO_ACTIVATION, BAD_STATUS, EARLY_CANCEL_DENIED), and that no failure on this path
 * answers anything but a protocol word.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, createApiKey, registerUser, type TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sellingProvider } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'

const PATH = '/stubs/handler_api.php'

function handler(params: Record<string, string>, opts: { env?: Record<string, unknown>; method?: 'GET' | 'POST' } = {}) {
  if (opts.method === 'POST') {
    return call(PATH, { method: 'POST', rawBody: new URLSearchParams(params).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  }
  const path = `${PATH}?${new URLSearchParams(params)}`
  return opts.env ? callApp(path, { env: opts.env }) : call(path)
}

interface Client {
  user: TestUser
  key: string
  run: (action: string, params?: Record<string, string>) => Promise<{ status: number; text: string; body: any; headers: Headers }>
}

async function client(opts: { usd?: number; permissions?: string[] } = {}): Promise<Client> {
  const user = await registerUser()
  const { key } = await createApiKey(user, opts.permissions ?? ['numbers:read', 'numbers:write', 'wallet:read'])
  if (opts.usd) await fund(user.id, opts.usd)
  return { user, key, run: (action, params = {}) => handler({ api_key: key, action, ...params }) }
}

/** Our activation id behind an alias. */
async function activationOf(alias: string | number) {
  const row = await env.DB.prepare('SELECT activation_id FROM activation_aliases WHERE id = ?').bind(Number(alias)).first<{ activation_id: string }>()
  return row!.activation_id
}

/** As if the activation had been bought `ms` ago (the protocol's early-cancel window is 2 minutes). */
async function age(alias: string | number, ms = 3 * 60_000) {
  await env.DB.prepare('UPDATE activations SET created_at = ? WHERE id = ?')
    .bind(Date.now() - ms, await activationOf(alias))
    .run()
}

async function deliverSms(c: Client, alias: string | number, text: string) {
  const res = await call(`/api/v1/sandbox/activations/${await activationOf(alias)}/sms`, { apiKey: c.key, body: { text } })
  expect(res.status, res.text).toBe(200)
}

function bought(text: string): { alias: string; phone: string } {
  const m = /^ACCESS_NUMBER:(\d+):(\d{6,15})$/.exec(text)
  if (!m) throw new Error(`not ACCESS_NUMBER: ${text}`)
  return { alias: m[1]!, phone: m[2]! }
}

beforeAll(async () => {
  // Telegram (tg) in the USA (187) at 0.50; WhatsApp (wa) in the United Kingdom (16) at 1.20.
  await sellingProvider({ serviceCode: 'telegram', serviceName: 'Telegram', countryCode: 'us', costUsd: 0.5, stock: 500 })
  await sellingProvider({ serviceCode: 'whatsapp', serviceName: 'WhatsApp', countryCode: 'gb', countryName: 'United Kingdom', costUsd: 1.2, stock: 40 })
})

describe('keys and actions', () => {
  it('BAD_KEY without a key, with an unknown key, and for a key without the activation permissions', async () => {
    const c = await client()
    const readOnly = await createApiKey(c.user, ['account:read'])
    for (const params of [
      { action: 'getBalance' },
      { action: 'getBalance', api_key: '' },
      { action: 'getBalance', api_key: 'sk_live_000000000000000000000000nope' },
      { action: 'getBalance', api_key: 'junk' },
      { action: 'getNumber', api_key: readOnly.key, service: 'tg', country: '187' },
    ] as Record<string, string>[]) {
      const res = await handler(params)
      expect(res.status, res.text).toBe(200)
      expect(res.text, JSON.stringify(params)).toBe('BAD_KEY')
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    }
  })

  it('BAD_ACTION for an unknown or missing action, including names of the object prototype', async () => {
    const c = await client()
    for (const action of ['getEverything', 'constructor', '__proto__', '']) expect((await c.run(action)).text, action).toBe('BAD_ACTION')
  })

  it('BANNED:{until} for a suspension with an end, BANNED without one, ACCOUNT_INACTIVE for an inactive account', async () => {
    const until = Date.UTC(2031, 4, 6, 7, 8, 9)
    const cases: [string, number | null, string][] = [
      ['suspended', until, 'BANNED:2031-05-06 07-08-09'],
      ['suspended', null, 'BANNED'],
      ['banned', null, 'BANNED'],
      ['inactive', null, 'ACCOUNT_INACTIVE'],
    ]
    for (const [status, end, expected] of cases) {
      const c = await client()
      await env.DB.prepare('UPDATE users SET status = ?, suspended_until = ? WHERE id = ?').bind(status, end, c.user.id).run()
      expect((await c.run('getBalance')).text, status).toBe(expected)
    }
  })

  it('takes the parameters from a form-encoded POST body too', async () => {
    const c = await client({ usd: 3 })
    const res = await handler({ api_key: c.key, action: 'getBalance' }, { method: 'POST' })
    expect(res.text).toBe('ACCESS_BALANCE:3.00')
  })

  it('an internal failure is ERROR_SQL with HTTP 200, never a 5xx or an envelope', async () => {
    const broken = {
      prepare: () => {
        throw new Error('D1 secret-internal-detail')
      },
      batch: async () => {
        throw new Error('D1 secret-internal-detail')
      },
    }
    const res = await handler({ api_key: 'sk_live_000000000000000000000000nope', action: 'getBalance' }, { env: { DB: broken } })
    expect(res.status, res.text).toBe(200)
    expect(res.text).toBe('ERROR_SQL')
  })

  it('counts purchases in the purchase class: past its limit, 429 ERROR_SQL with Retry-After, and nothing bought', async () => {
    const c = await client({ usd: 5 })
    const overrides = { RATE_LIMITS: '{"purchase":{"limit":1}}' }
    const first = await handler({ api_key: c.key, action: 'getNumber', service: 'tg', country: '187' }, { env: overrides })
    bought(first.text)
    const second = await handler({ api_key: c.key, action: 'getNumber', service: 'tg', country: '187' }, { env: overrides })
    expect(second.status, second.text).toBe(429)
    expect(second.text).toBe('ERROR_SQL')
    expect(second.headers.get('retry-after')).toMatch(/^\d+$/)
    // Reads are not in the purchase class.
    expect((await handler({ api_key: c.key, action: 'getBalance' }, { env: overrides })).text).toBe('ACCESS_BALANCE:4.50')
  })
  it('a refusal by the global rate limiter, before the route runs, is 429 ERROR_SQL too, not the JSON envelope', async () => {
    const c = await client()
    const overrides = { RATE_LIMITS: '{"general":{"limit":1}}' }
    expect((await handler({ api_key: c.key, action: 'getBalance' }, { env: overrides })).text).toBe('ACCESS_BALANCE:0.00')
    const refused = await handler({ api_key: c.key, action: 'getBalance' }, { env: overrides })
    expect(refused.status, refused.text).toBe(429)
    expect(refused.text).toBe('ERROR_SQL')
    expect(refused.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/)
  })
})

describe('getBalance', () => {
  it('ACCESS_BALANCE with a dot and two decimals, of what a purchase can spend; getBalanceAndCashBack answers the same', async () => {
    const c = await client({ usd: 12.345 })
    expect((await c.run('getBalance')).text).toBe('ACCESS_BALANCE:12.34')
    expect((await c.run('getBalanceAndCashBack')).text).toBe('ACCESS_BALANCE:12.34')
    const empty = await client()
    expect((await empty.run('getBalance')).text).toBe('ACCESS_BALANCE:0.00')
  })
})

describe('getNumber and getNumberV2', () => {
  it('ACCESS_NUMBER:{integer id}:{digits}, charged once at the offer price', async () => {
    const c = await client({ usd: 2 })
    const res = await c.run('getNumber', { service: 'tg', country: '187', operator: 'any' })
    const { alias, phone } = bought(res.text)
    expect(Number.isSafeInteger(Number(alias))).toBe(true)
    expect(phone).toMatch(/^1555\d{7}$/)
    expect((await c.run('getBalance')).text).toBe('ACCESS_BALANCE:1.50')
    const row = await env.DB.prepare('SELECT * FROM activations WHERE id = ?')
      .bind(await activationOf(alias))
      .first<{ user_id: string; phone: string; service_code: string; country_code: string }>()
    expect(row).toMatchObject({ user_id: c.user.id, phone: `+${phone}`, service_code: 'telegram', country_code: 'us' })
  })

  it('country 12 (the protocol\u2019s USA virtual) buys a US number too', async () => {
    const c = await client({ usd: 1 })
    bought((await c.run('getNumber', { service: 'tg', country: '12' })).text)
  })

  it('every activation has its own integer alias, whichever API bought it', async () => {
    const c = await client({ usd: 5 })
    const viaProtocol = bought((await c.run('getNumber', { service: 'tg', country: '187' })).text)
    const viaApi = await call('/api/v1/numbers', { apiKey: c.key, body: { serviceCode: 'telegram', countryCode: 'us' } })
    expect(viaApi.status, viaApi.text).toBe(201)
    const alias = await env.DB.prepare('SELECT id FROM activation_aliases WHERE activation_id = ?').bind(viaApi.body.data.id).first<{ id: number }>()
    expect(alias!.id).toBeGreaterThan(Number(viaProtocol.alias))
    expect((await c.run('getStatus', { id: String(alias!.id) })).text).toBe('STATUS_WAIT_CODE')
  })

  it('BAD_SERVICE, BAD_COUNTRY, NO_NUMBERS, NO_BALANCE and WRONG_MAX_PRICE:{min}, none of which buys', async () => {
    const c = await client({ usd: 1 })
    expect((await c.run('getNumber', { service: 'zzz', country: '187' })).text).toBe('BAD_SERVICE')
    expect((await c.run('getNumber', { country: '187' })).text).toBe('BAD_SERVICE')
    expect((await c.run('getNumber', { service: 'tg', country: '9999' })).text).toBe('BAD_COUNTRY')
    expect((await c.run('getNumber', { service: 'tg' })).text).toBe('BAD_COUNTRY')
    // Known codes, no offer: Telegram in Germany (43).
    expect((await c.run('getNumber', { service: 'tg', country: '43' })).text).toBe('NO_NUMBERS')
    expect((await c.run('getNumber', { service: 'tg', country: '187', forward: '1' })).text).toBe('NO_NUMBERS')
    expect((await c.run('getNumber', { service: 'wa', country: '16' })).text).toBe('NO_BALANCE')
    expect((await c.run('getNumber', { service: 'tg', country: '187', maxPrice: '0.49' })).text).toBe('WRONG_MAX_PRICE:0.50')
    expect((await c.run('getNumber', { service: 'tg', country: '187', maxPrice: 'cheap' })).text).toBe('WRONG_MAX_PRICE:0.50')
    expect((await c.run('getBalance')).text).toBe('ACCESS_BALANCE:1.00')
    bought((await c.run('getNumber', { service: 'tg', country: '187', maxPrice: '0.5' })).text)
  })

  it('getNumberV2 answers the documented JSON', async () => {
    const c = await client({ usd: 2 })
    const res = await c.run('getNumberV2', { service: 'wa', country: '16' })
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.body, res.text).toEqual({
      activationId: expect.any(Number),
      phoneNumber: expect.stringMatching(/^44555\d{7}$/),
      activationCost: 1.2,
      currency: 840,
      countryCode: '16',
      canGetAnotherSms: '1',
      activationTime: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
      activationOperator: 'any',
    })
    expect((await c.run('getStatus', { id: String(res.body.activationId) })).text).toBe('STATUS_WAIT_CODE')
  })
})

describe('getStatus and setStatus', () => {
  it('STATUS_WAIT_CODE → STATUS_OK:{code} → (3) STATUS_WAIT_RETRY:{code} → a new code → (6) ACCESS_ACTIVATION → STATUS_CANCEL', async () => {
    const c = await client({ usd: 1 })
    const { alias } = bought((await c.run('getNumber', { service: 'tg', country: '187' })).text)
    expect((await c.run('getStatus', { id: alias })).text).toBe('STATUS_WAIT_CODE')
    expect((await c.run('setStatus', { id: alias, status: '1' })).text).toBe('ACCESS_READY')
    // Another code, or completion, before any SMS: refused.
    expect((await c.run('setStatus', { id: alias, status: '3' })).text).toBe('BAD_STATUS')
    expect((await c.run('setStatus', { id: alias, status: '6' })).text).toBe('BAD_STATUS')
    await deliverSms(c, alias, 'Your code is 123456')
    expect((await c.run('getStatus', { id: alias })).text).toBe('STATUS_OK:123456')
    expect((await c.run('setStatus', { id: alias, status: '3' })).text).toBe('ACCESS_RETRY_GET')
    expect((await c.run('getStatus', { id: alias })).text).toBe('STATUS_WAIT_RETRY:123456')
    await new Promise((r) => setTimeout(r, 5))
    await deliverSms(c, alias, 'Your code is 654321')
    expect((await c.run('getStatus', { id: alias })).text).toBe('STATUS_OK:654321')
    // An SMS after which no cancel is possible; completing twice answers the same.
    expect((await c.run('setStatus', { id: alias, status: '8' })).text).toBe('BAD_STATUS')
    expect((await c.run('setStatus', { id: alias, status: '6' })).text).toBe('ACCESS_ACTIVATION')
    expect((await c.run('setStatus', { id: alias, status: '6' })).text).toBe('ACCESS_ACTIVATION')
    expect((await c.run('getStatus', { id: alias })).text).toBe('STATUS_CANCEL')
    expect((await c.run('getBalance')).text).toBe('ACCESS_BALANCE:0.50')
  })

  it('cancel (8): EARLY_CANCEL_DENIED in the first 2 minutes, then ACCESS_CANCEL; cancelling twice refunds once', async () => {
    const c = await client({ usd: 1 })
    const { alias } = bought((await c.run('getNumber', { service: 'tg', country: '187' })).text)
    expect((await c.run('setStatus', { id: alias, status: '8' })).text).toBe('EARLY_CANCEL_DENIED')
    await age(alias)
    const answers = await Promise.all([c.run('setStatus', { id: alias, status: '8' }), c.run('setStatus', { id: alias, status: '8' })])
    expect(answers.map((a) => a.text)).toEqual(['ACCESS_CANCEL', 'ACCESS_CANCEL'])
    expect((await c.run('setStatus', { id: alias, status: '-1' })).text).toBe('ACCESS_CANCEL')
    expect((await c.run('getStatus', { id: alias })).text).toBe('STATUS_CANCEL')
    expect((await c.run('getBalance')).text).toBe('ACCESS_BALANCE:1.00')
    const audit = await walletAudit(c.user.id)
    // Funding, the purchase, one refund.
    expect(audit.entries, JSON.stringify(audit)).toBe(3)
    expect(audit.ledgerSum).toBe(audit.balance)
  })

  it('NO_ACTIVATION for an unknown id or another account\u2019s; WRONG_ACTIVATION_ID for an id that is not a number; BAD_STATUS for an unknown status', async () => {
    const owner = await client({ usd: 1 })
    const other = await client()
    const { alias } = bought((await owner.run('getNumber', { service: 'tg', country: '187' })).text)
    expect((await other.run('getStatus', { id: alias })).text).toBe('NO_ACTIVATION')
    expect((await other.run('setStatus', { id: alias, status: '8' })).text).toBe('NO_ACTIVATION')
    expect((await owner.run('getStatus', { id: '999999999' })).text).toBe('NO_ACTIVATION')
    expect((await owner.run('getStatus', { id: 'num_abc' })).text).toBe('NO_ACTIVATION')
    expect((await owner.run('setStatus', { id: 'abc', status: '8' })).text).toBe('WRONG_ACTIVATION_ID')
    expect((await owner.run('setStatus', { id: alias, status: '9' })).text).toBe('BAD_STATUS')
    expect((await owner.run('setStatus', { id: alias })).text).toBe('BAD_STATUS')
  })
})

describe('lists', () => {
  it('getActiveActivations: NO_ACTIVATIONS, then the running ones in the documented shape', async () => {
    const c = await client({ usd: 3 })
    expect((await c.run('getActiveActivations')).text).toBe('NO_ACTIVATIONS')
    const first = bought((await c.run('getNumber', { service: 'tg', country: '187' })).text)
    const second = bought((await c.run('getNumber', { service: 'wa', country: '16' })).text)
    await deliverSms(c, second.alias, 'Your code is 777111')
    const res = await c.run('getActiveActivations')
    expect(res.body, res.text).toEqual({
      status: 'success',
      activeActivations: [
        expect.objectContaining({
          activationId: second.alias,
          serviceCode: 'wa',
          phoneNumber: second.phone,
          activationCost: 1.2,
          smsCode: ['777111'],
          countryCode: '16',
          countryName: 'United Kingdom',
          currency: 840,
        }),
        expect.objectContaining({ activationId: first.alias, serviceCode: 'tg', phoneNumber: first.phone, activationCost: 0.5, smsCode: null, countryCode: '187', countryName: 'United States' }),
      ],
    })
  })

  it('getPrices {country: {service: {cost, count}}}, filtered by country and service; BAD_COUNTRY / BAD_SERVICE for unknown codes', async () => {
    const c = await client()
    const all = await c.run('getPrices')
    expect(all.body['187'].tg, all.text).toEqual({ cost: 0.5, count: expect.any(Number) })
    expect(all.body['16'].wa, all.text).toEqual({ cost: 1.2, count: expect.any(Number) })
    expect(Object.keys((await c.run('getPrices', { country: '16' })).body)).toEqual(['16'])
    expect((await c.run('getPrices', { country: '187', service: 'wa' })).body).toEqual({})
    expect((await c.run('getPrices', { country: '1234' })).text).toBe('BAD_COUNTRY')
    expect((await c.run('getPrices', { service: 'nope' })).text).toBe('BAD_SERVICE')
  })

  it('getNumbersStatus {service: count} and getCountries {id: {id, eng, …}}', async () => {
    const c = await client()
    const status = await c.run('getNumbersStatus', { country: '16' })
    expect(status.body, status.text).toEqual({ wa: expect.any(Number) })
    const countries = await c.run('getCountries')
    expect(countries.body['187'], countries.text).toEqual({ id: 187, eng: 'United States', visible: 1, retry: 1, rent: 0, multiService: 0 })
    expect(countries.body['0'].eng).toBe('Russia')
    expect(countries.body['16'].eng).toBe('United Kingdom')
  })
})

/**
 * The HeroSMS adapter against the handler_api.php protocol's documented answers: the exact
 * request it sends, how each answer and error word maps, and that the API key never shows up in
 * an error's message or details.
 */
import { describe, expect, it } from 'vitest'
import type { Provider } from '../../../src/db/schema'
import { NoNumbersAvailable, UpstreamError } from '../../../src/lib/errors'
import { HeroSmsActivations, HeroSmsConfig } from '../../../src/providers/numbers/herosms'
import { numberAdapters } from '../../../src/providers/numbers/registry'
import { expectNoSecret, failure, fakeUpstream, json, slow, text, type Handler } from '../../helpers/upstream'

const KEY = 'hsk_9f8e7d6c5b4a39281706f5e4d3c2b1a0'
const BASE = 'https://hero.test'

function adapter(handler: Handler, config: Partial<HeroSmsConfig> = {}) {
  const upstream = fakeUpstream(handler)
  const a = new HeroSmsActivations({
    provider: 'herosms',
    config: HeroSmsConfig.parse({ baseUrl: BASE, ...config }),
    apiKey: KEY,
    fetch: upstream.fetch,
  })
  return { a, upstream }
}

function expectRequest(r: { url: URL; method: string }, action: string, params: Record<string, string> = {}) {
  expect(r.method).toBe('GET')
  expect(`${r.url.origin}${r.url.pathname}`).toBe(`${BASE}/stubs/handler_api.php`)
  expect(Object.fromEntries(r.url.searchParams)).toEqual({ api_key: KEY, action, ...params })
}

/** The documented getPrices answer: {country id: {service: {cost, count}}}. */
const PRICES = {
  '187': { tg: { cost: 0.5, count: 120 }, wa: { cost: '1.25', count: '0' }, zz: { cost: 9, count: 1 } },
  '16': { ds: { cost: 0.21, count: 7, physicalCount: 3 } },
  '43': { go: { cost: 'n/a', count: 3 } },
  '9999': { tg: { cost: 1, count: 1 } },
}

describe('HeroSMS listOffers (getPrices)', () => {
  it('sends getPrices and maps known countries and services to offers in micro-units', async () => {
    const { a, upstream } = adapter(() => json(PRICES))
    const offers = await a.listOffers()
    expect(upstream.calls).toHaveLength(1)
    expectRequest(upstream.last, 'getPrices')
    expect(upstream.last.signal, 'the request carries a timeout signal').toBeInstanceOf(AbortSignal)
    expect(offers.sort((x, y) => x.serviceCode.localeCompare(y.serviceCode))).toEqual([
      { serviceCode: 'discord', serviceName: 'Discord', countryCode: 'gb', countryName: 'United Kingdom', upstreamCountry: '16', upstreamService: 'ds', cost: 210_000, stock: 7 },
      { serviceCode: 'telegram', serviceName: 'Telegram', countryCode: 'us', countryName: 'United States', upstreamCountry: '187', upstreamService: 'tg', cost: 500_000, stock: 120 },
      { serviceCode: 'whatsapp', serviceName: 'WhatsApp', countryCode: 'us', countryName: 'United States', upstreamCountry: '187', upstreamService: 'wa', cost: 1_250_000, stock: 0 },
    ])
  })

  it('accepts a base URL with a trailing slash, or the full handler URL', async () => {
    for (const baseUrl of [`${BASE}/`, `${BASE}/stubs/handler_api.php`]) {
      const { a, upstream } = adapter(() => json({}), { baseUrl })
      expect(await a.listOffers()).toEqual([])
      expectRequest(upstream.last, 'getPrices')
    }
  })

  it('an answer that is not the price table is an upstream error', async () => {
    const { a } = adapter(() => text('<html>maintenance</html>'))
    const e = await failure(a.listOffers())
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.message).toMatch(/getPrices: unexpected answer/)
  })
})

describe('HeroSMS buy (getNumber)', () => {
  it('maps our codes to HeroSMS ids and reads ACCESS_NUMBER:id:phone', async () => {
    const { a, upstream } = adapter(() => text('ACCESS_NUMBER:635468024:79584123456'))
    const bought = await a.buy({ serviceCode: 'telegram', countryCode: 'us' })
    expect(bought).toEqual({ upstreamId: '635468024', phone: '+79584123456' })
    expectRequest(upstream.last, 'getNumber', { service: 'tg', country: '187' })
  })

  it("prefers the offer's upstream codes and sends maxPrice in the provider currency", async () => {
    const { a, upstream } = adapter(() => text('ACCESS_NUMBER:1:447700900123'))
    await a.buy({ serviceCode: 'anything', countryCode: 'xx', upstreamService: 'ds', upstreamCountry: '16', maxCost: 1_250_000 })
    expectRequest(upstream.last, 'getNumber', { service: 'ds', country: '16', maxPrice: '1.25' })
  })

  it("reads getNumberV2's JSON answer too", async () => {
    const { a } = adapter(() =>
      json({ activationId: 635468024, phoneNumber: '79584123456', activationCost: 12.5, countryCode: '187', canGetAnotherSms: true, activationTime: '2022-06-01 17:30:57', activationOperator: 'mtt' }),
    )
    expect(await a.buy({ serviceCode: 'telegram', countryCode: 'us' })).toEqual({ upstreamId: '635468024', phone: '+79584123456' })
  })

  it('NO_NUMBERS is NoNumbersAvailable (503), in text and in JSON', async () => {
    for (const answer of [text('NO_NUMBERS'), json({ status: 'error', message: 'NO_NUMBERS' })]) {
      const { a } = adapter(() => answer)
      const e = await failure(a.buy({ serviceCode: 'telegram', countryCode: 'us' }))
      expect(e, e.message).toBeInstanceOf(NoNumbersAvailable)
      expect(e.status).toBe(503)
      expect(e.code).toBe('NO_NUMBERS_AVAILABLE')
      expectNoSecret(e, KEY)
    }
  })

  it('a service or country with no HeroSMS code is NoNumbersAvailable without asking upstream', async () => {
    const { a, upstream } = adapter(() => text('ACCESS_NUMBER:1:79000000000'))
    const e = await failure(a.buy({ serviceCode: 'no-such-service', countryCode: 'us' }))
    expect(e).toBeInstanceOf(NoNumbersAvailable)
    expect(upstream.calls).toHaveLength(0)
  })

  it.each([
    ['NO_BALANCE', /NO_BALANCE: the provider account has no balance left/],
    ['BAD_KEY', /BAD_KEY: the API key was refused/],
    ['BAD_ACTION', /BAD_ACTION/],
    ['BAD_SERVICE', /BAD_SERVICE: unknown service/],
    ['ERROR_SQL', /ERROR_SQL: upstream database error/],
    ['WRONG_MAX_PRICE:0.55', /WRONG_MAX_PRICE: the price is above the maximum price sent \(0\.55\)/],
    ['BANNED:2026-12-01 10:00:00', /BANNED: the provider account is blocked \(2026-12-01 10:00:00\)/],
    ['CHANNELS_LIMIT', /CHANNELS_LIMIT/],
  ])('%s is an UpstreamError (502) naming the error word', async (word, message) => {
    const { a } = adapter(() => text(word))
    const e = await failure(a.buy({ serviceCode: 'telegram', countryCode: 'us' }))
    expect(e, e.message).toBeInstanceOf(UpstreamError)
    expect(e.status).toBe(502)
    expect(e.code).toBe('UPSTREAM_ERROR')
    expect(e.message).toMatch(/^herosms: getNumber: /)
    expect(e.message).toMatch(message)
    expect(e.details).toMatchObject({ action: 'getNumber', upstreamCode: word.split(':')[0] })
    expectNoSecret(e, KEY)
  })

  it('BAD_KEY with HTTP 401 (as some compatible hosts answer) is still BAD_KEY', async () => {
    const { a } = adapter(() => text('BAD_KEY', 401))
    const e = await failure(a.listOffers())
    expect(e.message).toMatch(/getPrices: BAD_KEY/)
    expectNoSecret(e, KEY)
  })

  it('an answer without a usable phone is an upstream error', async () => {
    const { a } = adapter(() => text('ACCESS_NUMBER:42:'))
    expect((await failure(a.buy({ serviceCode: 'telegram', countryCode: 'us' }))).message).toMatch(/unexpected answer/)
  })
})

describe('HeroSMS status (getStatus)', () => {
  it.each([
    ['STATUS_WAIT_CODE', { status: 'waiting' }],
    ['STATUS_WAIT_RESEND', { status: 'waiting' }],
    ['STATUS_WAIT_RETRY:123456', { status: 'received', code: '123456' }],
    ['STATUS_OK:987654', { status: 'received', code: '987654' }],
    ['STATUS_OK:Your code: 55-11', { status: 'received', code: 'Your code: 55-11' }],
    ['STATUS_CANCEL', { status: 'cancelled' }],
  ])('%s → %j', async (answer, expected) => {
    const { a, upstream } = adapter(() => text(answer))
    expect(await a.status('635468024')).toEqual(expected)
    expectRequest(upstream.last, 'getStatus', { id: '635468024' })
  })

  it('NO_ACTIVATION and unknown answers are upstream errors', async () => {
    for (const [answer, message] of [
      ['NO_ACTIVATION', /getStatus: NO_ACTIVATION: unknown activation id/],
      ['STATUS_SOMETHING_NEW', /getStatus: unexpected answer 'STATUS_SOMETHING_NEW'/],
      ['STATUS_OK:', /unexpected answer/],
    ] as const) {
      const { a } = adapter(() => text(answer))
      const e = await failure(a.status('1'))
      expect(e, e.message).toBeInstanceOf(UpstreamError)
      expect(e.message).toMatch(message)
    }
  })
})

describe('HeroSMS setStatus (cancel 8, complete 6, retry 3)', () => {
  it('cancel sends status=8 and expects ACCESS_CANCEL', async () => {
    const { a, upstream } = adapter(() => text('ACCESS_CANCEL'))
    await a.cancel('635468024')
    expectRequest(upstream.last, 'setStatus', { id: '635468024', status: '8' })
  })

  it('complete sends status=6 and expects ACCESS_ACTIVATION', async () => {
    const { a, upstream } = adapter(() => text('ACCESS_ACTIVATION'))
    await a.complete('635468024')
    expectRequest(upstream.last, 'setStatus', { id: '635468024', status: '6' })
  })

  it('retry sends status=3 and expects ACCESS_RETRY_GET', async () => {
    const { a, upstream } = adapter(() => text('ACCESS_RETRY_GET'))
    await a.retry('635468024')
    expectRequest(upstream.last, 'setStatus', { id: '635468024', status: '3' })
  })

  it('EARLY_CANCEL_DENIED, BAD_STATUS, NO_ACTIVATION and a different ACCESS_ word are upstream errors', async () => {
    for (const [answer, run, pattern] of [
      ['EARLY_CANCEL_DENIED', (a: HeroSmsActivations) => a.cancel('1'), /setStatus: EARLY_CANCEL_DENIED: an activation cannot be cancelled in its first minutes/],
      ['BAD_STATUS', (a: HeroSmsActivations) => a.complete('1'), /setStatus: BAD_STATUS/],
      ['NO_ACTIVATION', (a: HeroSmsActivations) => a.cancel('1'), /setStatus: NO_ACTIVATION/],
      ['ACCESS_READY', (a: HeroSmsActivations) => a.cancel('1'), /setStatus: unexpected answer 'ACCESS_READY'/],
    ] as const) {
      const { a } = adapter(() => text(answer))
      const e = await failure(run(a))
      expect(e, `${answer}: ${e.message}`).toBeInstanceOf(UpstreamError)
      expect(e.message).toMatch(pattern)
      expectNoSecret(e, KEY)
    }
  })
})

describe('HeroSMS transport failures', () => {
  it('HTTP 500 and 503 are upstream errors naming the status, not the body', async () => {
    for (const status of [500, 503]) {
      const { a } = adapter(() => text(`<h1>${status}</h1> debug: api_key=${KEY}`, status))
      const e = await failure(a.listOffers())
      expect(e, e.message).toBeInstanceOf(UpstreamError)
      expect(e.message).toBe(`herosms: getPrices: HTTP ${status}`)
      expectNoSecret(e, KEY)
    }
  })

  it("a network error is an upstream error without the runtime's message (which quotes the URL)", async () => {
    const { a } = adapter((r) => {
      throw new TypeError(`fetch failed: connect ECONNREFUSED ${r.url.toString()}`)
    })
    const e = await failure(a.buy({ serviceCode: 'telegram', countryCode: 'us' }))
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.message).toBe('herosms: getNumber: network error (TypeError)')
    expectNoSecret(e, KEY, BASE)
  })

  it('an answer slower than timeoutMs is an upstream timeout, even from a fetch that ignores its signal', async () => {
    const { a } = adapter(() => slow(2_000, () => text('ACCESS_NUMBER:1:79000000000')), { timeoutMs: 100 })
    const started = Date.now()
    const e = await failure(a.buy({ serviceCode: 'telegram', countryCode: 'us' }))
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.message).toBe('herosms: getNumber: no answer within 100 ms')
    expectNoSecret(e, KEY)
  })

  it('a fetch that honours the signal is aborted at the timeout', async () => {
    let aborted = false
    const { a } = adapter(
      (r) =>
        new Promise<Response>((_, reject) => {
          r.signal?.addEventListener('abort', () => {
            aborted = true
            reject(new DOMException(`aborted ${r.url}`, 'AbortError'))
          })
        }),
      { timeoutMs: 100 },
    )
    const e = await failure(a.status('1'))
    expect(aborted).toBe(true)
    expect(e.message).toBe('herosms: getStatus: no answer within 100 ms')
  })

  it('an unexpected answer that echoes the key is quoted with the key cut out', async () => {
    const { a } = adapter(() => text(`WHAT api_key=${KEY}`))
    const e = await failure(a.status('1'))
    expect(e.message).toMatch(/unexpected answer 'WHAT api_key=\*\*\*'/)
    expectNoSecret(e, KEY)
  })
})

describe('HeroSMS in the registry', () => {
  const row = (config: Record<string, unknown>): Provider => ({ id: 'prv_h', code: 'hero', adapter: 'herosms', kinds: ['activation'], config }) as unknown as Provider

  it('reads the key from the secret the config names and sends it with deps.fetch', async () => {
    const upstream = fakeUpstream(() => json({ '187': { tg: { cost: 0.3, count: 5 } } }))
    const adapters = numberAdapters(row({ baseUrl: BASE, apiKeySecret: 'HERO_KEY' }), {
      fetch: upstream.fetch,
      secret: (name) => (name === 'HERO_KEY' ? KEY : undefined),
    })
    expect(adapters.did).toBeUndefined()
    expect(await adapters.activation!.listOffers()).toHaveLength(1)
    expectRequest(upstream.last, 'getPrices')
  })

  it('a missing secret is UpstreamError "credentials not configured"', () => {
    let e: unknown
    try {
      numberAdapters(row({ baseUrl: BASE, apiKeySecret: 'HERO_KEY' }), { fetch, secret: () => undefined })
    } catch (err) {
      e = err
    }
    expect(e).toBeInstanceOf(UpstreamError)
    expect((e as Error).message).toBe('hero: credentials not configured')
  })

  it("refuses a config naming one of Switchboard's own secrets, and an invalid config", () => {
    for (const config of [{ apiKeySecret: 'JWT_SECRET' }, { baseUrl: 'not a url' }, { timeoutMs: -1 }]) {
      expect(() => numberAdapters(row(config), { fetch, secret: () => 'x'.repeat(40) }), JSON.stringify(config)).toThrow(/hero: invalid provider config/)
    }
  })
})

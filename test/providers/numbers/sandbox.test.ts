/**
 * The sandbox provider is deterministic: the same config gives the same offers, inventory,
 * failures and phones every time — which is what the demo, the sync and the other tests rely on.
 */
import { describe, expect, it } from 'vitest'
import { NoNumbersAvailable, UpstreamError } from '../../../src/lib/errors'
import { newId } from '../../../src/lib/ids'
import { matchesPattern, SandboxActivations, SandboxConfig, SandboxDids, sandboxInventory, sandboxPhone } from '../../../src/providers/numbers/sandbox'
import { failure } from '../../helpers/upstream'

const activations = (config: Record<string, unknown> = {}, id = newId('prv')) => new SandboxActivations(id, SandboxConfig.parse({ activation: config }).activation)
const dids = (config: Record<string, unknown> = {}) => new SandboxDids(SandboxConfig.parse({ did: config }).did)

describe('sandbox activations', () => {
  it('lists the same default offers every call: 8 services × 6 countries, in micro-units', async () => {
    const a = activations()
    const first = await a.listOffers()
    expect(await a.listOffers()).toEqual(first)
    expect(await activations().listOffers()).toEqual(first)
    expect(first).toHaveLength(48)
    expect(first[0]).toEqual({ serviceCode: 'telegram', serviceName: 'Telegram', countryCode: 'us', countryName: 'United States', cost: 300_000, stock: 100 })
    expect(new Set(first.map((o) => `${o.serviceCode}/${o.countryCode}`)).size).toBe(48)
  })

  it('uses configured offers (USD → micro-units) and refuses a service without stock', async () => {
    const a = activations({
      offers: [
        { service: 'telegram', serviceName: 'Telegram', country: 'us', countryName: 'United States', cost: 0.125, stock: 3 },
        { service: 'whatsapp', serviceName: 'WhatsApp', country: 'us', countryName: 'United States', cost: 1, stock: 0 },
      ],
    })
    expect((await a.listOffers()).map((o) => [o.serviceCode, o.cost, o.stock])).toEqual([
      ['telegram', 125_000, 3],
      ['whatsapp', 1_000_000, 0],
    ])
    expect(await a.buy({ serviceCode: 'telegram', countryCode: 'us' })).toMatchObject({ phone: expect.stringMatching(/^\+1555\d{7}$/) })
    expect(await failure(a.buy({ serviceCode: 'whatsapp', countryCode: 'us' }))).toBeInstanceOf(NoNumbersAvailable)
    expect(await failure(a.buy({ serviceCode: 'uber', countryCode: 'us' }))).toBeInstanceOf(NoNumbersAvailable)
  })

  it("derives the phone from the upstream id: same id, same phone, in the country's 555 range", async () => {
    const bought = await activations().buy({ serviceCode: 'telegram', countryCode: 'gb' })
    expect(bought.upstreamId).toMatch(/^sbx_/)
    expect(bought.phone).toBe(sandboxPhone('gb', bought.upstreamId))
    expect(sandboxPhone('gb', bought.upstreamId)).toBe(sandboxPhone('gb', bought.upstreamId))
    expect(bought.phone).toMatch(/^\+44555\d{7}$/)
    expect(sandboxPhone('de', 'sbx_a')).not.toBe(sandboxPhone('de', 'sbx_b'))
  })

  it('failEvery: n makes exactly every n-th purchase of that provider fail with no numbers', async () => {
    const a = activations({ failEvery: 3 })
    const outcomes: string[] = []
    for (let i = 0; i < 7; i++) {
      outcomes.push(
        await a.buy({ serviceCode: 'telegram', countryCode: 'us' }).then(
          () => 'ok',
          (e) => (e instanceof NoNumbersAvailable ? 'none' : `other: ${e}`),
        ),
      )
    }
    expect(outcomes).toEqual(['ok', 'ok', 'none', 'ok', 'ok', 'none', 'ok'])
    // Counted per provider: another provider starts from its own first purchase.
    await expect(activations({ failEvery: 3 }).buy({ serviceCode: 'telegram', countryCode: 'us' })).resolves.toBeTruthy()
  })

  it('failure makes every call fail that way', async () => {
    const none = activations({ failure: 'no_numbers' })
    expect(await failure(none.buy({ serviceCode: 'telegram', countryCode: 'us' }))).toBeInstanceOf(NoNumbersAvailable)
    expect(await none.listOffers()).toHaveLength(48)

    const down = activations({ failure: 'upstream_error' })
    const e = await failure(down.listOffers())
    expect(e).toBeInstanceOf(UpstreamError)
    expect(e.message).toBe('sandbox: simulated upstream failure')
    expect(await failure(down.buy({ serviceCode: 'telegram', countryCode: 'us' }))).toBeInstanceOf(UpstreamError)
  })

  it('never reports an SMS by polling; cancel and complete succeed', async () => {
    const a = activations()
    expect(await a.status()).toEqual({ status: 'waiting' })
    await a.cancel()
    await a.complete()
  })

  it('latencyMs delays each call', async () => {
    const started = Date.now()
    await activations({ latencyMs: 60 }).listOffers()
    expect(Date.now() - started).toBeGreaterThanOrEqual(50)
  })
})

describe('sandbox DIDs', () => {
  it('the inventory is the same on every call, with unique numbers', () => {
    const config = SandboxConfig.parse({}).did
    const first = sandboxInventory(config)
    expect(sandboxInventory(config)).toEqual(first)
    expect(first).toHaveLength(6 * 40)
    expect(new Set(first.map((n) => n.phoneNumber)).size).toBe(first.length)
    expect(first[0]).toEqual({
      phoneNumber: '+12125551000',
      countryCode: 'us',
      areaCode: '212',
      region: 'NY',
      locality: 'New York',
      numberType: 'LOCAL',
      capabilities: ['VOICE', 'SMS', 'MMS'],
      setupPrice: 1_000_000,
      monthlyPrice: 1_000_000,
      restrictions: [],
    })
    const tollFree = first.filter((n) => n.numberType === 'TOLL_FREE')
    expect(tollFree.length).toBe(6 * 5)
    expect(tollFree.every((n) => n.locality === null && n.monthlyPrice === 2_000_000)).toBe(true)
  })

  it('countries and perCountry shape the inventory', () => {
    const inv = sandboxInventory(SandboxConfig.parse({ did: { countries: ['de', 'nl', 'xx'], perCountry: 3 } }).did)
    expect(inv.map((n) => n.countryCode)).toEqual(['de', 'de', 'de', 'nl', 'nl', 'nl'])
  })

  it('search filters by country, area code, type, capabilities and contains, up to the limit — the same every call', async () => {
    const d = dids()
    const q = { countryCode: 'us', areaCode: '415', limit: 100 }
    const first = await d.search(q)
    expect(await d.search(q)).toEqual(first)
    expect(first.length).toBeGreaterThan(0)
    expect(first.every((n) => n.countryCode === 'us' && n.areaCode === '415' && n.phoneNumber.startsWith('+1415555'))).toBe(true)

    expect(await d.search({ countryCode: 'us', limit: 3 })).toHaveLength(3)
    expect((await d.search({ countryCode: 'ca', numberType: 'TOLL_FREE', limit: 100 })).every((n) => n.phoneNumber.startsWith('+1855'))).toBe(true)
    const mms = await d.search({ countryCode: 'gb', capabilities: ['MMS'], limit: 100 })
    expect(mms.length).toBeGreaterThan(0)
    expect(mms.every((n) => n.capabilities.includes('MMS'))).toBe(true)
    expect(await d.search({ countryCode: 'zz', limit: 10 })).toEqual([])
  })

  it('contains is a Twilio-style pattern: digits anywhere, * for any one digit', async () => {
    expect(matchesPattern('+12125551000', '2125551000')).toBe(true)
    expect(matchesPattern('+12125551000', '555*000')).toBe(true)
    expect(matchesPattern('+12125551000', '555**00')).toBe(true)
    expect(matchesPattern('+12125551000', '555*001')).toBe(false)
    expect(matchesPattern('+12125551000', '+1 (212)')).toBe(true)
    const found = await dids().search({ countryCode: 'us', contains: '646555', limit: 100 })
    expect(found.length).toBeGreaterThan(0)
    expect(found.every((n) => n.phoneNumber.startsWith('+1646555'))).toBe(true)
  })

  it('inventoryQueries list exactly the full inventory', async () => {
    for (const config of [{}, { countries: ['fr', 'us'], perCountry: 12 }]) {
      const d = dids(config)
      const queries = d.inventoryQueries()
      const listed = (await Promise.all(queries.map((q) => d.search(q)))).flat()
      expect(listed).toEqual(sandboxInventory(SandboxConfig.parse({ did: config }).did))
    }
  })

  it('purchase: failNumbers are gone, pendingNumbers stay pending, ids are stable per number', async () => {
    const d = dids({ failNumbers: ['+12125551000'], pendingNumbers: ['+14155558919'] })
    const e = await failure(d.purchase('+12125551000'))
    expect(e).toBeInstanceOf(NoNumbersAvailable)
    expect(e.message).toBe('sandbox: +12125551000 is no longer available')
    expect(await d.purchase('+14155558919')).toMatchObject({ status: 'pending' })
    const a = await d.purchase('+16465556838')
    expect(a.status).toBe('active')
    expect(await d.purchase('+16465556838')).toEqual(a)
    expect((await d.purchase('+17185555757')).upstreamId).not.toBe(a.upstreamId)
    await d.release()
  })

  it('failure makes search and purchase fail', async () => {
    const down = dids({ failure: 'upstream_error' })
    expect(await failure(down.search({ countryCode: 'us', limit: 1 }))).toBeInstanceOf(UpstreamError)
    expect(await failure(down.purchase('+12125551000'))).toBeInstanceOf(UpstreamError)
    expect(await failure(dids({ failure: 'no_numbers' }).purchase('+12125551000'))).toBeInstanceOf(NoNumbersAvailable)
  })
})

/**
 * The provider sync: offers with margin prices and the DID inventory land in D1, re-running
 * changes nothing, what the upstream stops listing is retired, a failing provider is marked
 * unhealthy while the others still sync, and the cron runs it every 15 minutes.
 * Storage is per file and sandbox numbers are the same for every sandbox provider, so each test
 * gives its providers their own countries.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import worker from '../../../src/index'
import { priceFor } from '../../../src/modules/providers/pricing'
import { syncProvider, syncProviders } from '../../../src/modules/providers/provider-sync.job'
import { SandboxActivations, SandboxConfig, sandboxInventory } from '../../../src/providers/numbers/sandbox'
import type { ProviderDeps } from '../../../src/providers/numbers/types'
import { createServices, type Services } from '../../../src/services'
import { sandboxProvider } from '../../helpers/catalog'
import { insertProvider, inventoryOf, offersOf, providerModel, providerRow, setProviderConfig } from '../../helpers/providers'
import { fakeUpstream, json, text } from '../../helpers/upstream'

function services(deps?: ProviderDeps): Services {
  return createServices(env, createExecutionContext(), { providers: deps })
}

const OFFER = (service: string, cost: number, stock: number) => ({ service, serviceName: service, country: 'us', countryName: 'United States', cost, stock })

describe('syncProvider (sandbox)', () => {
  it('writes every offer priced with the provider margin, the inventory, and the stock summary', async () => {
    const p = await sandboxProvider({ did: { countries: ['us'], perCountry: 30 } }, { marginBps: 1500, marginFixed: 20_000 })
    const result = await syncProvider(services(), await providerModel(p.id))
    expect(result, JSON.stringify(result)).toMatchObject({ providerId: p.id, healthy: true, error: null, offers: { listed: 48, retired: 0 }, numbers: { listed: 30, gone: 0 } })

    const expected = await new SandboxActivations(p.id, SandboxConfig.parse({}).activation).listOffers()
    const rows = await offersOf(p.id)
    expect(rows).toHaveLength(48)
    for (const o of expected) {
      const row = rows.find((r) => r.service_code === o.serviceCode && r.country_code === o.countryCode)
      expect(row, `${o.serviceCode}/${o.countryCode}`).toMatchObject({ cost: o.cost, price: priceFor(o.cost, { marginBps: 1500, marginFixed: 20_000 }), stock: o.stock })
    }
    // $0.30 + 15% + $0.02 = $0.365
    expect(rows.find((r) => r.service_code === 'telegram' && r.country_code === 'us')!.price).toBe(365_000)

    const inventory = await inventoryOf(p.id)
    const listed = sandboxInventory({ countries: ['us'], perCountry: 30 })
    expect(inventory.map((n) => n.phone_number)).toEqual(listed.map((n) => n.phoneNumber).sort())
    expect(inventory.every((n) => n.status === 'available')).toBe(true)
    const first = inventory.find((n) => n.phone_number === listed[0]!.phoneNumber)!
    expect(first).toMatchObject({ country_code: 'us', area_code: '212', number_type: 'LOCAL', setup_price: 1_000_000, monthly_price: 1_000_000 })
    expect(JSON.parse(first.capabilities)).toEqual(['VOICE', 'SMS', 'MMS'])

    const row = await providerRow(p.id)
    expect(row.healthy).toBe(1)
    expect(row.last_error).toBeNull()
    expect(row.last_sync_at).toBe(Date.parse(result.syncedAt))
    expect(row.stock).toEqual({ offers: 48, numbers: 30 })
    expect(result.stock).toEqual({ offers: 48, numbers: 30 })
  })

  it('is idempotent: a second run keeps the same rows, ids, prices and stock', async () => {
    const p = await sandboxProvider({ did: { countries: ['ca'], perCountry: 15 } })
    const s = services()
    await syncProvider(s, await providerModel(p.id))
    const offers1 = await offersOf(p.id)
    const inventory1 = await inventoryOf(p.id)
    const second = await syncProvider(s, await providerModel(p.id))
    expect(second.healthy, second.error ?? '').toBe(true)
    const strip = <T extends { updated_at: number }>(rows: T[]) => rows.map(({ updated_at: _, ...r }) => r)
    expect(strip(await offersOf(p.id))).toEqual(strip(offers1))
    expect(strip(await inventoryOf(p.id))).toEqual(strip(inventory1))
    expect(second).toMatchObject({ offers: { listed: 48, retired: 0 }, numbers: { listed: 15, gone: 0 }, stock: { offers: 48, numbers: 15 } })
    expect((await providerRow(p.id)).last_sync_at).toBeGreaterThan(0)
  })

  it('offers no longer listed go to stock 0; prices and stock follow the upstream', async () => {
    const p = await sandboxProvider({
      activation: { offers: [OFFER('telegram', 0.5, 10), OFFER('whatsapp', 0.4, 5), OFFER('uber', 0.2, 0)] },
      did: { countries: [] },
    })
    const s = services()
    await syncProvider(s, await providerModel(p.id))
    expect((await providerRow(p.id)).stock).toEqual({ offers: 2, numbers: 0 })

    await setProviderConfig(p.id, { activation: { offers: [OFFER('telegram', 0.75, 4)] }, did: { countries: [] } })
    const r = await syncProvider(s, await providerModel(p.id))
    expect(r, JSON.stringify(r)).toMatchObject({ healthy: true, offers: { listed: 1, retired: 1 } })
    const rows = await offersOf(p.id)
    expect(rows.map((o) => [o.service_code, o.cost, o.price, o.stock])).toEqual([
      ['telegram', 750_000, 900_000, 4],
      ['uber', 200_000, 240_000, 0],
      ['whatsapp', 400_000, 480_000, 0],
    ])
    expect((await providerRow(p.id)).stock).toEqual({ offers: 1, numbers: 0 })

    // Listed again: back in stock, same row.
    const whatsappId = rows.find((o) => o.service_code === 'whatsapp')!.id
    await setProviderConfig(p.id, { activation: { offers: [OFFER('telegram', 0.75, 4), OFFER('whatsapp', 0.4, 9)] }, did: { countries: [] } })
    await syncProvider(s, await providerModel(p.id))
    expect((await offersOf(p.id)).find((o) => o.service_code === 'whatsapp')).toMatchObject({ id: whatsappId, stock: 9 })
  })

  it('numbers no longer listed become gone, sold ones are left alone, relisted ones come back', async () => {
    const p = await sandboxProvider({ activation: { offers: [] }, did: { countries: ['nl'], perCountry: 10 } })
    const s = services()
    await syncProvider(s, await providerModel(p.id))
    const all = sandboxInventory({ countries: ['nl'], perCountry: 10 }).map((n) => n.phoneNumber)
    const sold = all[9]!
    await env.DB.prepare(`UPDATE did_inventory SET status = 'sold' WHERE phone_number = ?`).bind(sold).run()

    await setProviderConfig(p.id, { activation: { offers: [] }, did: { countries: ['nl'], perCountry: 6 } })
    const r = await syncProvider(s, await providerModel(p.id))
    expect(r, JSON.stringify(r)).toMatchObject({ healthy: true, numbers: { listed: 6, gone: 3 }, stock: { offers: 0, numbers: 6 } })
    const status = Object.fromEntries((await inventoryOf(p.id)).map((n) => [n.phone_number, n.status]))
    expect(all.slice(0, 6).map((n) => status[n])).toEqual(Array(6).fill('available'))
    expect(all.slice(6, 9).map((n) => status[n])).toEqual(['gone', 'gone', 'gone'])
    expect(status[sold]).toBe('sold')

    await setProviderConfig(p.id, { activation: { offers: [] }, did: { countries: ['nl'], perCountry: 10 } })
    const again = await syncProvider(s, await providerModel(p.id))
    expect(again.stock).toEqual({ offers: 0, numbers: 9 })
    expect((await inventoryOf(p.id)).find((n) => n.phone_number === sold)!.status).toBe('sold')
  })

  it('writes a large inventory in chunks under the bound-parameter limit', async () => {
    const p = await sandboxProvider({ activation: { offers: [] }, did: { countries: ['fr'], perCountry: 900 } })
    const r = await syncProvider(services(), await providerModel(p.id))
    expect(r.healthy, r.error ?? '').toBe(true)
    expect(r.stock.numbers).toBe(900)
    expect(await inventoryOf(p.id)).toHaveLength(900)
  })

  it('a number another provider lists as available stays with that provider', async () => {
    const owner = await sandboxProvider({ activation: { offers: [] }, did: { countries: ['gb'], perCountry: 4 } })
    const other = await sandboxProvider({ activation: { offers: [] }, did: { countries: ['gb'], perCountry: 6 } })
    const s = services()
    await syncProvider(s, await providerModel(owner.id))
    const r = await syncProvider(s, await providerModel(other.id))
    expect(r.healthy, r.error ?? '').toBe(true)
    expect(await inventoryOf(owner.id)).toHaveLength(4)
    expect((await inventoryOf(other.id)).map((n) => n.phone_number)).toEqual(
      sandboxInventory({ countries: ['gb'], perCountry: 6 })
        .slice(4)
        .map((n) => n.phoneNumber)
        .sort(),
    )
    expect(r.stock.numbers).toBe(2)
  })
})

describe('failing providers', () => {
  it('a failing provider is marked unhealthy with its message and keeps its data; the others still sync', async () => {
    const good = await sandboxProvider({ activation: { offers: [OFFER('telegram', 0.3, 7)] }, did: { countries: ['de'], perCountry: 5 } })
    const bad = await sandboxProvider({ activation: { offers: [OFFER('discord', 0.3, 7)] }, did: { countries: [] } })
    const s = services()
    await syncProvider(s, await providerModel(bad.id))
    await setProviderConfig(bad.id, { activation: { failure: 'upstream_error' }, did: { countries: [] } })

    const run = await syncProviders(s, Date.now())
    const byCode = Object.fromEntries(run.results.map((r) => [r.code, r]))
    expect(byCode[bad.code], JSON.stringify(run)).toMatchObject({ healthy: false, error: 'sandbox: simulated upstream failure' })
    expect(byCode[good.code], JSON.stringify(run)).toMatchObject({ healthy: true, error: null, stock: { offers: 1, numbers: 5 } })
    expect(run.unhealthy).toBeGreaterThanOrEqual(1)

    const badRow = await providerRow(bad.id)
    expect(badRow.healthy).toBe(0)
    expect(badRow.last_error).toBe('sandbox: simulated upstream failure')
    expect(await offersOf(bad.id)).toMatchObject([{ service_code: 'discord', stock: 7 }])
    expect((await providerRow(good.id)).healthy).toBe(1)

    // Recovery: the next good sync clears the error.
    await setProviderConfig(bad.id, { activation: { offers: [OFFER('discord', 0.3, 7)] }, did: { countries: [] } })
    const r = await syncProvider(s, await providerModel(bad.id))
    expect(r.healthy).toBe(true)
    const recovered = await providerRow(bad.id)
    expect([recovered.healthy, recovered.last_error]).toEqual([1, null])
  })

  it('HeroSMS: offers come from getPrices with upstream codes; a refused key marks it unhealthy without the key', async () => {
    const KEY = 'hero-key-7d1e0c3b9a8f6e5d4c3b2a1f'
    let answer = json({ '187': { tg: { cost: 0.5, count: 12 }, wa: { cost: 0.8, count: 0 } }, '16': { zz: { cost: 1, count: 1 } } })
    const upstream = fakeUpstream(() => answer.clone())
    const s = services({ fetch: upstream.fetch, secret: (n) => (n === 'HEROSMS_API_KEY' ? KEY : undefined) })
    const hero = await insertProvider({ adapter: 'herosms', kinds: ['activation'], config: { baseUrl: 'https://hero.test' }, marginBps: 0, marginFixed: 100_000 })

    const ok = await syncProvider(s, await providerModel(hero.id))
    expect(ok, JSON.stringify(ok)).toMatchObject({ healthy: true, offers: { listed: 2 }, numbers: { listed: 0 }, stock: { offers: 1, numbers: 0 } })
    expect(upstream.last.url.searchParams.get('action')).toBe('getPrices')
    expect((await offersOf(hero.id)).map((o) => [o.service_code, o.country_code, o.upstream_service, o.upstream_country, o.cost, o.price, o.stock])).toEqual([
      ['telegram', 'us', 'tg', '187', 500_000, 600_000, 12],
      ['whatsapp', 'us', 'wa', '187', 800_000, 900_000, 0],
    ])

    answer = text('BAD_KEY')
    const failed = await syncProvider(s, await providerModel(hero.id))
    expect(failed.healthy).toBe(false)
    expect(failed.error).toBe(`${hero.code}: getPrices: BAD_KEY: the API key was refused`)
    const row = await providerRow(hero.id)
    expect(row.healthy).toBe(0)
    expect(JSON.stringify(row)).not.toContain(KEY)
    expect(JSON.stringify(failed)).not.toContain(KEY)

    answer = new Response('oops', { status: 500 })
    expect((await syncProvider(s, await providerModel(hero.id))).error).toBe(`${hero.code}: getPrices: HTTP 500`)
  })

  it('a provider whose secret is not set is unhealthy with "credentials not configured"', async () => {
    const hero = await insertProvider({ adapter: 'herosms', kinds: ['activation'], config: { apiKeySecret: 'NOT_SET_ANYWHERE' } })
    const r = await syncProvider(services(), await providerModel(hero.id))
    expect(r).toMatchObject({ healthy: false, error: `${hero.code}: credentials not configured` })
    expect((await providerRow(hero.id)).last_error).toBe(`${hero.code}: credentials not configured`)
  })

  it('Twilio: the configured sync countries fill the inventory with configured prices', async () => {
    const upstream = fakeUpstream((r) =>
      json({
        available_phone_numbers: r.url.pathname.endsWith('/US/Local.json')
          ? [
              { phone_number: '+13125550101', locality: 'Chicago', region: 'IL', iso_country: 'US', address_requirements: 'none', capabilities: { voice: true, SMS: true, MMS: false } },
              { phone_number: '+13125550102', locality: 'Chicago', region: 'IL', iso_country: 'US', address_requirements: 'any', capabilities: { voice: true, SMS: true } },
            ]
          : [],
      }),
    )
    const s = services({ fetch: upstream.fetch, secret: (n) => (n === 'TWILIO_AUTH_TOKEN' ? 'tok_0123456789' : undefined) })
    const tw = await insertProvider({
      adapter: 'twilio',
      kinds: ['did'],
      config: {
        baseUrl: 'https://twilio.test',
        accountSid: `AC${'0'.repeat(32)}`,
        syncCountries: [
          { country: 'us', areaCode: '312', limit: 20 },
          { country: 'us', numberType: 'TOLL_FREE' },
        ],
        prices: { LOCAL: { setup: 0.5, monthly: 1.5 } },
      },
    })
    const r = await syncProvider(s, await providerModel(tw.id))
    expect(r, JSON.stringify(r)).toMatchObject({ healthy: true, offers: { listed: 0 }, numbers: { listed: 2 }, stock: { offers: 0, numbers: 2 } })
    expect(upstream.calls.map((c) => `${c.url.pathname.split('/').slice(-2).join('/')}?${c.url.searchParams}`)).toEqual(['US/Local.json?AreaCode=312&PageSize=20', 'US/TollFree.json?PageSize=50'])
    expect(await inventoryOf(tw.id)).toMatchObject([
      { phone_number: '+13125550101', area_code: '312', setup_price: 500_000, monthly_price: 1_500_000, status: 'available' },
      { phone_number: '+13125550102', area_code: '312', status: 'available' },
    ])
  })

  it('syncProviders skips disabled providers and providers of other kinds', async () => {
    const disabled = await insertProvider({ adapter: 'sandbox', status: 'disabled', config: { did: { countries: [] } } })
    const simOnly = await insertProvider({ adapter: 'no-such-adapter', kinds: ['sim'] })
    const run = await syncProviders(services(), Date.now())
    const codes = run.results.map((r) => r.code)
    expect(codes).not.toContain(disabled.code)
    expect(codes).not.toContain(simOnly.code)
    expect((await providerRow(disabled.id)).last_sync_at).toBeNull()
    expect((await providerRow(simOnly.id)).healthy).toBe(1)
  })
})

describe('cron */15 * * * *', () => {
  it('runs the provider sync for every active provider', async () => {
    const p = await sandboxProvider({ activation: { offers: [OFFER('google', 0.3, 2)] }, did: { countries: [] } })
    const ctx = createExecutionContext()
    await worker.scheduled(createScheduledController({ cron: '*/15 * * * *', scheduledTime: Date.now() }), env, ctx)
    await waitOnExecutionContext(ctx)
    const row = await providerRow(p.id)
    expect(row.healthy).toBe(1)
    expect(row.last_sync_at).toBeGreaterThan(0)
    expect(row.stock).toEqual({ offers: 1, numbers: 0 })
    expect(await offersOf(p.id)).toMatchObject([{ service_code: 'google', price: 360_000, stock: 2 }])
  })

  it('a controller without a scheduled time still stamps the sync with the current time', async () => {
    const p = await sandboxProvider({ activation: { offers: [OFFER('google', 0.3, 2)] }, did: { countries: [] } })
    const before = Date.now()
    const ctx = createExecutionContext()
    await worker.scheduled(createScheduledController({ cron: '*/15 * * * *' }), env, ctx)
    await waitOnExecutionContext(ctx)
    expect((await providerRow(p.id)).last_sync_at).toBeGreaterThanOrEqual(before)
  })
})

import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope } from '../../helpers/api'
import { sellingProvider, uniqueService } from '../../helpers/activations'

describe('GET /api/search/offers', () => {
  it('works without auth and answers {hits, total}, cheapest first, price = cost + margin as a decimal', async () => {
    const serviceCode = uniqueService('srch')
    const dear = await sellingProvider({ serviceCode, serviceName: 'Zebragram', costUsd: 1, marginBps: 2500 })
    const cheap = await sellingProvider({ serviceCode, serviceName: 'Zebragram', costUsd: 0.5, marginBps: 1000 })
    const res = await call(`/api/search/offers?q=${serviceCode}`)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.total, res.text).toBe(2)
    expect(res.body.data.hits.map((h: { provider: string }) => h.provider)).toEqual([cheap.provider.code, dear.provider.code])
    expect(res.body.data.hits[0]).toEqual({
      id: cheap.offerId,
      service: 'Zebragram',
      serviceCode,
      country: 'United States',
      countryCode: 'us',
      price: 0.55,
      currency: 'USD',
      provider: cheap.provider.code,
      stock: 100,
    })
    expect(res.body.data.hits[1].price).toBe(1.25)
    expect(res.headers.get('x-ratelimit-limit'), 'search class: 100/min').toBe('100')
  })

  it('matches q case-insensitively on service name and code and on country name and code; country filters by code or name', async () => {
    const tag = uniqueService('qq')
    const a = await sellingProvider({ serviceCode: `${tag}a`, serviceName: `Quokka${tag}`, countryCode: 'de', countryName: 'Germany' })
    const b = await sellingProvider({ serviceCode: `${tag}b`, serviceName: `Wombat${tag}`, countryCode: 'gb', countryName: 'United Kingdom' })
    const ids = async (qs: string) => {
      const res = await call(`/api/search/offers?${qs}`)
      expect(res.status, res.text).toBe(200)
      return (res.body.data.hits as { id: string }[])
        .map((h) => h.id)
        .filter((id) => id === a.offerId || id === b.offerId)
        .sort()
    }
    const both = [a.offerId, b.offerId].sort()
    expect(await ids(`q=${tag.toUpperCase()}`), 'service code, upper case').toEqual(both)
    expect(await ids(`q=QUOKKA${tag}`), 'service name, upper case').toEqual([a.offerId])
    expect(await ids(`q=wombat${tag}`)).toEqual([b.offerId])
    expect(await ids(`q=${tag}&country=DE`), 'country code').toEqual([a.offerId])
    expect(await ids(`q=${tag}&country=kingdom`), 'part of a country name').toEqual([b.offerId])
    expect(await ids(`q=${tag}&country=fr`)).toEqual([])
    // q also matches the country: name and code.
    const byCountryName = await call(`/api/search/offers?q=germ&country=de&limit=200`)
    expect(
      byCountryName.body.data.hits.some((h: { id: string }) => h.id === a.offerId),
      byCountryName.text,
    ).toBe(true)
    expect(byCountryName.body.data.hits.every((h: { countryCode: string }) => h.countryCode === 'de')).toBe(true)
  })

  it('lists only in-stock offers of healthy providers, and pages with limit/page', async () => {
    const serviceCode = uniqueService('stk')
    const ok1 = await sellingProvider({ serviceCode, costUsd: 0.1 })
    await sellingProvider({ serviceCode, costUsd: 0.05, stock: 0 })
    await sellingProvider({ serviceCode, costUsd: 0.01, healthy: false })
    const ok2 = await sellingProvider({ serviceCode, costUsd: 0.2 })
    const res = await call(`/api/search/offers?q=${serviceCode}`)
    expect(
      res.body.data.hits.map((h: { id: string }) => h.id),
      res.text,
    ).toEqual([ok1.offerId, ok2.offerId])
    const p2 = await call(`/api/search/offers?q=${serviceCode}&limit=1&page=2`)
    expect(p2.body.data, p2.text).toMatchObject({ total: 2, hits: [{ id: ok2.offerId }] })
  })

  it('treats % and _ in q literally', async () => {
    const res = await call('/api/search/offers?q=%25')
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.total, res.text).toBe(0)
    expectErrorEnvelope(await call('/api/search/offers?limit=0'), 400, 'VALIDATION_ERROR')
  })
})

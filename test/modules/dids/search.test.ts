import { beforeAll, describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { sandboxProvider, type TestProvider } from '../../helpers/catalog'
import { fundedUser, seedDids } from '../../helpers/dids'

let p: TestProvider
let user: TestUser

beforeAll(async () => {
  p = await sandboxProvider()
  user = await registerUser()
})

/** Each test searches its own (user-assigned ISO) country, so inventories never mix. */
const search = (qs: string, u: TestUser = user) => call(`/api/v1/numbers/search?${qs}`, { token: u.accessToken })
const phonesOf = (res: { body: any }) => (res.body.data.numbers as { phoneNumber: string }[]).map((n) => n.phoneNumber).sort()

describe('GET /api/v1/numbers/search — validation', () => {
  it('requires countryCode (400 VALIDATION_ERROR naming it)', async () => {
    const res = await search('areaCode=415')
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(
      res.body.error.details.map((d: { field: string }) => d.field),
      res.text,
    ).toContain('countryCode')
  })

  it('refuses limit above 100, below 1 and non-numbers', async () => {
    for (const limit of ['101', '0', 'ten']) {
      const res = await search(`countryCode=US&limit=${limit}`)
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.text).toContain('limit')
    }
    const ok = await search('countryCode=US&limit=100')
    expect(ok.status, ok.text).toBe(200)
  })

  it('refuses unknown capabilities and number types, bad patterns and bad booleans', async () => {
    for (const qs of ['capabilities=SMS,TELEPATHY', 'numberType=SATELLITE', 'contains=12%23', 'contains=1', 'excludeRestricted=maybe', 'priceMax=-1']) {
      const res = await search(`countryCode=US&${qs}`)
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    }
  })
})

describe('GET /api/v1/numbers/search — filters', () => {
  it('answers the documented shape: decimals, features, friendly name, upper-case country, criteria', async () => {
    const [a] = await seedDids(p, [
      { phoneNumber: '+14155550101', countryCode: 'xa', areaCode: '415', capabilities: ['VOICE', 'SMS', 'MMS'], setup: 1.5, monthly: 1.25, restrictions: ['address_required'] },
    ])
    const res = await search('countryCode=xa')
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.total, res.text).toBe(1)
    expect(res.body.data.hasMore, res.text).toBe(false)
    expect(res.body.data.suggestions, res.text).toBeUndefined()
    expect(res.body.data.numbers[0], res.text).toEqual({
      phoneNumber: a,
      friendlyName: '(415) 555-0101',
      locality: 'San Francisco',
      region: 'CA',
      countryCode: 'XA',
      areaCode: '415',
      numberType: 'LOCAL',
      capabilities: ['VOICE', 'SMS', 'MMS'],
      pricing: { setupPrice: 1.5, monthlyPrice: 1.25, currency: 'USD' },
      features: { smsEnabled: true, mmsEnabled: true, voiceEnabled: true, faxEnabled: false },
      restrictions: ['address_required'],
    })
    expect(res.body.data.searchCriteria, res.text).toMatchObject({ countryCode: 'XA', limit: 20 })
  })

  it('contains: digits anywhere, * for one digit, keypad letters, + anchors at the start', async () => {
    const [n1, n2, n3] = await seedDids(p, [
      { phoneNumber: '+12125551234', countryCode: 'xb', areaCode: '212' },
      { phoneNumber: '+12127771234', countryCode: 'xb', areaCode: '212' },
      { phoneNumber: '+13055559876', countryCode: 'xb', areaCode: '305' },
    ])
    const cases: [string, string[]][] = [
      ['5551234', [n1!]],
      ['1234', [n1!, n2!]],
      ['555****', [n1!, n3!]],
      ['*7*1234', [n2!]],
      ['JKL', [n1!, n3!]], // J K L = 5 5 5
      ['%2B1212', [n1!, n2!]], // "+1212": from the start
      ['%2B212', []], // anchored: +212… matches nothing
      ['98*6', [n3!]],
    ]
    for (const [pattern, expected] of cases) {
      const res = await search(`countryCode=XB&contains=${pattern}`)
      expect(res.status, `${pattern}: ${res.text}`).toBe(200)
      expect(phonesOf(res), `${pattern}: ${res.text}`).toEqual([...expected].sort())
    }
  })

  it('capabilities: every one listed must be present (repeated or comma-separated, any case)', async () => {
    const [voice, sms, mms, fax] = await seedDids(p, [
      { countryCode: 'xc', capabilities: ['VOICE'] },
      { countryCode: 'xc', capabilities: ['VOICE', 'SMS'] },
      { countryCode: 'xc', capabilities: ['VOICE', 'SMS', 'MMS'] },
      { countryCode: 'xc', capabilities: ['FAX', 'SMS'] },
    ])
    const bySms = await search('countryCode=xc&capabilities=SMS')
    expect(phonesOf(bySms), bySms.text).toEqual([sms!, mms!, fax!].sort())
    const both = await search('countryCode=xc&capabilities=sms,mms')
    expect(phonesOf(both), both.text).toEqual([mms!])
    const repeated = await search('countryCode=xc&capabilities=SMS&capabilities=FAX')
    expect(phonesOf(repeated), repeated.text).toEqual([fax!])
    const all = await search('countryCode=xc&capabilities=VOICE')
    expect(phonesOf(all), all.text).toEqual([voice!, sms!, mms!].sort())
  })

  it('priceMax caps the monthly price (decimal USD), and results come cheapest first', async () => {
    const [one, two, three] = await seedDids(p, [
      { countryCode: 'xd', monthly: 1 },
      { countryCode: 'xd', monthly: 2 },
      { countryCode: 'xd', monthly: 3.5 },
    ])
    const res = await search('countryCode=xd&priceMax=2')
    expect(
      (res.body.data.numbers as { phoneNumber: string }[]).map((n) => n.phoneNumber),
      res.text,
    ).toEqual([one, two])
    const exact = await search('countryCode=xd&priceMax=1.99')
    expect(phonesOf(exact), exact.text).toEqual([one!])
    const none = await search('countryCode=xd&priceMax=0.5')
    expect(phonesOf(none), none.text).toEqual([])
    const all = await search('countryCode=xd')
    expect(
      (all.body.data.numbers as { phoneNumber: string }[]).map((n) => n.phoneNumber),
      all.text,
    ).toEqual([one, two, three])
  })

  it('excludeRestricted leaves out numbers with restrictions', async () => {
    const [free, restricted] = await seedDids(p, [{ countryCode: 'xe' }, { countryCode: 'xe', restrictions: ['address_required'] }])
    const ex = await search('countryCode=xe&excludeRestricted=true')
    expect(phonesOf(ex), ex.text).toEqual([free!])
    const inc = await search('countryCode=xe&excludeRestricted=false')
    expect(phonesOf(inc), inc.text).toEqual([free!, restricted!].sort())
  })

  it('areaCode and numberType (any case) filter; sold and gone numbers are never offered', async () => {
    const [local, tollFree, other] = await seedDids(p, [
      { countryCode: 'xf', areaCode: '646' },
      { countryCode: 'xf', areaCode: '800', numberType: 'TOLL_FREE', region: null, locality: null },
      { countryCode: 'xf', areaCode: '718' },
      { countryCode: 'xf', areaCode: '646', status: 'sold' },
      { countryCode: 'xf', areaCode: '646', status: 'gone' },
    ])
    const area = await search('countryCode=xf&areaCode=646')
    expect(phonesOf(area), area.text).toEqual([local!])
    const tf = await search('countryCode=xf&numberType=toll_free')
    expect(phonesOf(tf), tf.text).toEqual([tollFree!])
    expect(tf.body.data.numbers[0].region, tf.text).toBe('')
    const all = await search('countryCode=xf')
    expect(phonesOf(all), all.text).toEqual([local!, tollFree!, other!].sort())
  })

  it('limit: default 20, hasMore and total tell what is left', async () => {
    await seedDids(
      p,
      Array.from({ length: 23 }, () => ({ countryCode: 'xg' })),
    )
    const def = await search('countryCode=xg')
    expect(def.body.data.numbers.length, def.text).toBe(20)
    expect(def.body.data.total).toBe(23)
    expect(def.body.data.hasMore).toBe(true)
    const three = await search('countryCode=xg&limit=3')
    expect(three.body.data.numbers.length, three.text).toBe(3)
    expect(three.body.data.hasMore).toBe(true)
    const all = await search('countryCode=xg&limit=100')
    expect(all.body.data.numbers.length, all.text).toBe(23)
    expect(all.body.data.hasMore).toBe(false)
  })

  it('suggests other area codes and regions of the country when nothing matches', async () => {
    await seedDids(p, [
      { countryCode: 'xh', areaCode: '212', region: 'NY', locality: 'New York' },
      { countryCode: 'xh', areaCode: '305', region: 'FL', locality: 'Miami' },
      { countryCode: 'xh', areaCode: '305', region: 'FL', locality: 'Miami' },
    ])
    const res = await search('countryCode=xh&areaCode=999')
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.numbers, res.text).toEqual([])
    expect(res.body.data.total).toBe(0)
    expect(res.body.data.suggestions, res.text).toEqual({ alternativeAreaCodes: ['212', '305'], nearbyRegions: ['FL', 'NY'] })
    const other = await search('countryCode=xh&areaCode=212&contains=0000000')
    expect(other.body.data.suggestions.alternativeAreaCodes, other.text).toEqual(['305'])
    const nothingAtAll = await search('countryCode=zz')
    expect(nothingAtAll.body.data.suggestions, nothingAtAll.text).toEqual({ alternativeAreaCodes: [], nearbyRegions: [] })
  })

  it('numbers another account has reserved are hidden from others, not from the account that reserved them', async () => {
    const [held, open] = await seedDids(p, [{ countryCode: 'xi' }, { countryCode: 'xi' }])
    const other = await fundedUser(10)
    const r = await call('/api/v1/numbers/reservations', { token: other.accessToken, body: { phoneNumbers: [held] } })
    expect(r.status, r.text).toBe(201)
    const mine = await search('countryCode=xi')
    expect(phonesOf(mine), mine.text).toEqual([open!])
    expect(mine.body.data.total).toBe(1)
    const theirs = await search('countryCode=xi', other)
    expect(phonesOf(theirs), theirs.text).toEqual([held!, open!].sort())
  })
})

import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../../src/lib/ids'
import { call, expectErrorEnvelope, type TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sandboxProvider, type TestProvider } from '../../helpers/catalog'
import { buy, fundedUser, seedDids } from '../../helpers/dids'

let p: TestProvider

beforeAll(async () => {
  p = await sandboxProvider()
})

const get = (u: TestUser, path: string) => call(path, { token: u.accessToken })
const ids = (res: { body: any }) => (res.body.data as { id: string }[]).map((n) => n.id)

/** A user owning five numbers with known prices, types and creation times (oldest first). */
async function owner() {
  const phones = await seedDids(p, [
    { areaCode: '212', monthly: 1 },
    { areaCode: '305', monthly: 3 },
    { areaCode: '800', numberType: 'TOLL_FREE', monthly: 2 },
    { areaCode: '415', monthly: 1.5 },
    { areaCode: '646', monthly: 4 },
  ])
  const u = await fundedUser(100)
  const byPhone = await buy(u, phones)
  const list = phones.map((ph) => byPhone[ph]!)
  const t0 = Date.now() - 10 * 60_000
  await env.DB.batch(list.map((id, i) => env.DB.prepare(`UPDATE phone_numbers SET created_at = ? WHERE id = ?`).bind(t0 + i * 1000, id)))
  return { u, phones, ids: list }
}

async function addSms(u: TestUser, numberId: string, phone: string, receivedAt: number) {
  await env.DB.prepare(
    `INSERT INTO sms_messages (id, user_id, provider_id, upstream_message_id, phone_number_id, phone, sender, text, received_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, 'Bank', 'Your code is 1234', ?, ?)`,
  )
    .bind(newId('sms'), u.id, p.id, newId('up'), numberId, phone, receivedAt, receivedAt)
    .run()
}

describe('GET /api/v1/numbers', () => {
  it('lists live numbers newest first with page pagination and the account summary beside them', async () => {
    const { u, ids: n } = await owner()
    await env.DB.prepare(`UPDATE phone_numbers SET status = 'released', released_at = ? WHERE id = ?`).bind(Date.now(), n[4]).run()
    const res = await get(u, '/api/v1/numbers?limit=2')
    expect(res.status, res.text).toBe(200)
    expect(ids(res), res.text).toEqual([n[3], n[2]])
    expect(res.body.pagination, res.text).toEqual({ page: 1, limit: 2, total: 4, totalPages: 2, hasNext: true, hasPrevious: false })
    // Summary: live numbers only (the released $4 one is out): 1 + 3 + 2 + 1.5.
    expect(res.body.summary, res.text).toEqual({ totalNumbers: 4, activeNumbers: 4, monthlyTotal: 7.5, currency: 'USD' })
    expect(res.body.meta.requestId, res.text).toBeTruthy()
    const page2 = await get(u, '/api/v1/numbers?limit=2&page=2')
    expect(ids(page2), page2.text).toEqual([n[1], n[0]])
    expect(page2.body.pagination).toMatchObject({ page: 2, hasNext: false, hasPrevious: true })
    const one = res.body.data[0]
    expect(one, res.text).toMatchObject({ id: n[3], countryCode: 'US', numberType: 'LOCAL', status: 'active', monthlyPrice: 1.5, setupPrice: 1, currency: 'USD', tags: [] })
    expect(one.usage, res.text).toEqual({ totalCalls: 0, totalSms: 0, monthlyMinutes: 0, monthlySms: 0, lastUsedAt: null })
  })

  it('filters by status (repeatable or comma-separated; released only on request) and numberType', async () => {
    const { u, ids: n } = await owner()
    await env.DB.batch([
      env.DB.prepare(`UPDATE phone_numbers SET status = 'released' WHERE id = ?`).bind(n[0]),
      env.DB.prepare(`UPDATE phone_numbers SET status = 'suspended' WHERE id = ?`).bind(n[1]),
      env.DB.prepare(`UPDATE phone_numbers SET status = 'pending' WHERE id = ?`).bind(n[3]),
    ])
    expect(ids(await get(u, '/api/v1/numbers?status=released'))).toEqual([n[0]])
    expect(ids(await get(u, '/api/v1/numbers?status=active,pending'))).toEqual([n[4], n[3], n[2]])
    expect(ids(await get(u, '/api/v1/numbers?status=suspended&status=released'))).toEqual([n[1], n[0]])
    expect(ids(await get(u, '/api/v1/numbers?numberType=TOLL_FREE'))).toEqual([n[2]])
    expect(ids(await get(u, '/api/v1/numbers?numberType=local'))).toEqual([n[4], n[3], n[1]])
    const summary = (await get(u, '/api/v1/numbers?status=released')).body.summary
    expect(summary).toEqual({ totalNumbers: 4, activeNumbers: 2, monthlyTotal: 10.5, currency: 'USD' })
    expectErrorEnvelope(await get(u, '/api/v1/numbers?status=lost'), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await get(u, '/api/v1/numbers?limit=101'), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await get(u, '/api/v1/numbers?sortBy=price'), 400, 'VALIDATION_ERROR')
  })

  it('search matches part of the number or the friendly name (LIKE wildcards are literal)', async () => {
    const { u, phones, ids: n } = await owner()
    const put = await call(`/api/v1/numbers/${n[1]}`, { method: 'PUT', token: u.accessToken, body: { friendlyName: 'Sales 100%_line' } })
    expect(put.status, put.text).toBe(200)
    expect(ids(await get(u, `/api/v1/numbers?search=${phones[0]!.slice(-7)}`))).toEqual([n[0]])
    expect(ids(await get(u, '/api/v1/numbers?search=sales'))).toEqual([n[1]])
    expect(ids(await get(u, '/api/v1/numbers?search=100%25_'))).toEqual([n[1]])
    expect(ids(await get(u, '/api/v1/numbers?search=1%25_'))).toEqual([])
  })

  it('tags: numbers carrying every tag given', async () => {
    const { u, ids: n } = await owner()
    for (const [id, tags] of [
      [n[0], ['support', 'eu']],
      [n[1], ['support']],
      [n[2], ['eu', 'sales']],
    ] as const) {
      const r = await call(`/api/v1/numbers/${id}`, { method: 'PUT', token: u.accessToken, body: { tags } })
      expect(r.status, r.text).toBe(200)
    }
    expect(ids(await get(u, '/api/v1/numbers?tags=support'))).toEqual([n[1], n[0]])
    expect(ids(await get(u, '/api/v1/numbers?tags=support,eu'))).toEqual([n[0]])
    expect(ids(await get(u, '/api/v1/numbers?tags=eu&tags=sales'))).toEqual([n[2]])
    expect(ids(await get(u, '/api/v1/numbers?tags=nothing'))).toEqual([])
  })

  it('sorts by phoneNumber, monthlyPrice, lastUsed and createdAt, both ways', async () => {
    const { u, phones, ids: n } = await owner()
    const byPhone = [...n].sort((a, b) => phones[n.indexOf(a)]!.localeCompare(phones[n.indexOf(b)]!))
    expect(ids(await get(u, '/api/v1/numbers?sortBy=phoneNumber&sortOrder=asc'))).toEqual(byPhone)
    expect(ids(await get(u, '/api/v1/numbers?sortBy=phoneNumber&sortOrder=desc'))).toEqual([...byPhone].reverse())
    // Monthly prices: 1, 3, 2, 1.5, 4
    expect(ids(await get(u, '/api/v1/numbers?sortBy=monthlyPrice&sortOrder=asc'))).toEqual([n[0], n[3], n[2], n[1], n[4]])
    expect(ids(await get(u, '/api/v1/numbers?sortBy=monthlyPrice'))).toEqual([n[4], n[1], n[2], n[3], n[0]])
    expect(ids(await get(u, '/api/v1/numbers?sortBy=createdAt&sortOrder=asc'))).toEqual(n)
    const now = Date.now()
    await env.DB.batch([
      env.DB.prepare(`UPDATE phone_numbers SET last_used_at = ? WHERE id = ?`).bind(now - 5000, n[2]),
      env.DB.prepare(`UPDATE phone_numbers SET last_used_at = ? WHERE id = ?`).bind(now - 1000, n[0]),
    ])
    const lastUsed = ids(await get(u, '/api/v1/numbers?sortBy=lastUsed&sortOrder=desc'))
    expect(lastUsed.slice(0, 2)).toEqual([n[0], n[2]])
    const res = await get(u, '/api/v1/numbers?sortBy=lastUsed&sortOrder=desc&limit=1')
    expect(res.body.data[0].usage.lastUsedAt, res.text).toBe(new Date(now - 1000).toISOString())
  })

  it('counts the SMS each number received, in total and this month', async () => {
    const { u, phones, ids: n } = await owner()
    const lastMonth = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 1, 15)
    await addSms(u, n[0]!, phones[0]!, Date.now() - 1000)
    await addSms(u, n[0]!, phones[0]!, Date.now() - 2000)
    await addSms(u, n[0]!, phones[0]!, lastMonth)
    const res = await get(u, '/api/v1/numbers?sortBy=createdAt&sortOrder=asc&limit=1')
    expect(res.body.data[0].usage, res.text).toMatchObject({ totalSms: 3, monthlySms: 2 })
    const details = await get(u, `/api/v1/numbers/${n[0]}`)
    expect(details.body.data.analytics, details.text).toEqual({
      thisMonth: { calls: 0, minutes: 0, sms: 2, cost: 0 },
      lastMonth: { calls: 0, minutes: 0, sms: 1, cost: 0 },
    })
    expect(details.body.data.recentCalls).toEqual([])
  })
})

describe('PUT /api/v1/numbers/:id', () => {
  it('writes the whitelisted fields; configuration merges into features; null clears', async () => {
    const { u, ids: n } = await owner()
    const res = await call(`/api/v1/numbers/${n[0]}`, {
      method: 'PUT',
      token: u.accessToken,
      body: {
        friendlyName: 'Main line',
        voiceUrl: 'https://hooks.example.com/voice',
        voiceMethod: 'GET',
        voiceFallbackUrl: 'https://hooks.example.com/fallback',
        smsUrl: 'http://hooks.example.com/sms',
        statusCallback: 'https://hooks.example.com/status',
        tags: ['a', 'b', 'a'],
        notes: 'front desk',
        configuration: { recordCalls: true, voicemail: false },
      },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({
      id: n[0],
      friendlyName: 'Main line',
      voiceUrl: 'https://hooks.example.com/voice',
      voiceMethod: 'GET',
      voiceFallbackUrl: 'https://hooks.example.com/fallback',
      smsUrl: 'http://hooks.example.com/sms',
      statusCallback: 'https://hooks.example.com/status',
      tags: ['a', 'b'],
      notes: 'front desk',
      features: { recordCalls: true, voicemail: false },
    })
    const again = await call(`/api/v1/numbers/${n[0]}`, { method: 'PUT', token: u.accessToken, body: { smsUrl: null, configuration: { callScreening: true } } })
    expect(again.status, again.text).toBe(200)
    expect(again.body.data, again.text).toMatchObject({ smsUrl: null, friendlyName: 'Main line', features: { recordCalls: true, voicemail: false, callScreening: true } })
  })

  it('refuses fields outside the whitelist (400) and changes nothing', async () => {
    const { u, ids: n } = await owner()
    for (const body of [
      { status: 'released' },
      { monthlyPrice: 0 },
      { friendlyName: 'x', userId: 'usr_other' },
      { phoneNumber: '+15555550000' },
      { configuration: { recordCalls: true, sudo: true } },
      { smsUrl: 'javascript:alert(1)' },
      { voiceUrl: 'ftp://example.com' },
      { voiceMethod: 'DELETE' },
      { tags: 'not-a-list' },
    ]) {
      const res = await call(`/api/v1/numbers/${n[0]}`, { method: 'PUT', token: u.accessToken, body })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    }
    const row = await env.DB.prepare(`SELECT status, monthly_price, friendly_name, user_id FROM phone_numbers WHERE id = ?`).bind(n[0]).first()
    expect(row).toEqual({ status: 'active', monthly_price: 1_000_000, friendly_name: null, user_id: u.id })
  })

  it('smsUrl may be a receiver on this machine in development with WEBHOOK_ALLOW_LOOPBACK=true, never in production', async () => {
    const { u, ids: n } = await owner()
    const put = (env: Record<string, string>, body: Record<string, unknown>) => callApp(`/api/v1/numbers/${n[0]}`, { env, method: 'PUT', token: u.accessToken, body })
    const dev = { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: 'true' }
    const ok = await put(dev, { smsUrl: 'http://localhost:4000/sms' })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.body.data.smsUrl, ok.text).toBe('http://localhost:4000/sms')

    for (const [env, url] of [
      [{ ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: '' }, 'http://127.0.0.1:4000/sms'],
      [{ ENVIRONMENT: 'production', METRICS_TOKEN: 'metrics-token-for-this-test-0123', WEBHOOK_ALLOW_LOOPBACK: 'true' }, 'https://127.0.0.1/sms'],
      [{ ENVIRONMENT: 'production', METRICS_TOKEN: 'metrics-token-for-this-test-0123', WEBHOOK_ALLOW_LOOPBACK: 'true' }, 'https://[::1]/sms'],
      [dev, 'http://169.254.169.254/latest/meta-data/'],
      [dev, 'http://10.0.0.1/sms'],
    ] as const) {
      const res = await put(env, { smsUrl: url })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, `${url} with ${JSON.stringify(env)}: ${res.text}`).toBe('smsUrl')
    }
    // Only smsUrl is called by the API itself; the voice URLs go to the upstream carrier, for which our loopback means nothing.
    expectErrorEnvelope(await put(dev, { voiceUrl: 'http://localhost:4000/voice' }), 400, 'VALIDATION_ERROR')
    const row = await env.DB.prepare(`SELECT sms_url, voice_url FROM phone_numbers WHERE id = ?`).bind(n[0]).first()
    expect(row).toEqual({ sms_url: 'http://localhost:4000/sms', voice_url: null })
  })

  it('a released number answers 409 NUMBER_RELEASED', async () => {
    const { u, ids: n } = await owner()
    const del = await call(`/api/v1/numbers/${n[0]}`, { method: 'DELETE', token: u.accessToken })
    expect(del.status, del.text).toBe(200)
    expectErrorEnvelope(await call(`/api/v1/numbers/${n[0]}`, { method: 'PUT', token: u.accessToken, body: { notes: 'x' } }), 409, 'NUMBER_RELEASED')
  })
})

describe('POST /api/v1/numbers/:id/configure', () => {
  const config = (name: string, features: Partial<Record<string, boolean>> = {}) => ({
    name,
    routingRules: { type: 'forward', to: '+14155550100' },
    features: { recordCalls: false, transcribeCalls: false, callScreening: false, callQueue: false, voicemail: false, ...features },
  })

  it("makeDefault makes the new configuration the only active one and its features the number's", async () => {
    const { u, ids: n } = await owner()
    const first = await call(`/api/v1/numbers/${n[0]}/configure`, { token: u.accessToken, body: { configuration: config('Office', { voicemail: true }), makeDefault: true } })
    expect(first.status, first.text).toBe(201)
    expect(first.body.data, first.text).toMatchObject({ name: 'Office', isActive: true, phoneNumberId: n[0], routingRules: { type: 'forward' } })
    const second = await call(`/api/v1/numbers/${n[0]}/configure`, {
      token: u.accessToken,
      body: {
        configuration: { ...config('Night', { recordCalls: true }), schedule: { timezone: 'Europe/Berlin', businessHours: [{ dayOfWeek: [1, 2, 3, 4, 5], timeFrom: '09:00', timeTo: '17:00' }] } },
        makeDefault: true,
      },
    })
    expect(second.status, second.text).toBe(201)
    const third = await call(`/api/v1/numbers/${n[0]}/configure`, { token: u.accessToken, body: { configuration: config('Spare', { callQueue: true }) } })
    expect(third.status, third.text).toBe(201)
    expect(third.body.data.isActive, third.text).toBe(false)

    const details = await get(u, `/api/v1/numbers/${n[0]}`)
    const configs = details.body.data.configurations as { name: string; isActive: boolean; schedule: unknown }[]
    expect(
      configs.map((c) => [c.name, c.isActive]),
      details.text,
    ).toEqual([
      ['Office', false],
      ['Night', true],
      ['Spare', false],
    ])
    expect(configs[1]!.schedule, details.text).toMatchObject({ timezone: 'Europe/Berlin' })
    expect(details.body.data.features, details.text).toMatchObject({ recordCalls: true, voicemail: false, callQueue: false })
    // Another number's configurations are its own.
    const other = await get(u, `/api/v1/numbers/${n[1]}`)
    expect(other.body.data.configurations).toEqual([])
  })

  it('validates the configuration and refuses released numbers', async () => {
    const { u, ids: n } = await owner()
    for (const body of [
      {},
      { configuration: { name: 'x' } },
      { configuration: { ...config('x'), schedule: { timezone: 'UTC', businessHours: [{ dayOfWeek: [9], timeFrom: '9', timeTo: '17:00' }] } } },
    ]) {
      expectErrorEnvelope(await call(`/api/v1/numbers/${n[0]}/configure`, { token: u.accessToken, body }), 400, 'VALIDATION_ERROR')
    }
    await call(`/api/v1/numbers/${n[1]}`, { method: 'DELETE', token: u.accessToken })
    expectErrorEnvelope(await call(`/api/v1/numbers/${n[1]}/configure`, { token: u.accessToken, body: { configuration: config('x') } }), 409, 'NUMBER_RELEASED')
  })
})

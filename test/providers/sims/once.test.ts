/**
 * The 1NCE SIM adapter against 1NCE's documented answers (the Authorization, SIM Management v1 and
 * v2 OpenAPI examples): the exact requests, the mapping, the token's life (cached, refreshed on
 * expiry and once on a 401), the errors (429 → 503 with Retry-After, the rest → 502), and that the
 * client id, the secret and the tokens never show up in an error.
 */
import { describe, expect, it } from 'vitest'
import { OnceConfig, OnceSims } from '../../../src/providers/sims/once'
import { expectNoSecret, failure, fakeUpstream, json, type RecordedRequest, slow } from '../../helpers/upstream'

const BASE = 'https://once.test/management-api'
const ICCID = '8988303000123456789'
const T0 = Date.parse('2026-01-10T12:00:00.000Z')

type Route = (req: RecordedRequest) => Response | Promise<Response>

let clients = 0

/** An adapter with its own client id (the token cache is per provider and client id), a fake 1NCE and a clock. */
function setup(routes: Record<string, Route>, config: Record<string, unknown> = {}) {
  const n = ++clients
  const clientId = `api-client-${n}-7f3a9c`
  const clientSecret = `s3cr3t-${n}-b8e1d4f6a2c9`
  const issued: string[] = []
  const clock = { t: T0 }
  const upstream = fakeUpstream((req) => {
    if (req.url.pathname === '/management-api/oauth/token') {
      const token = `eyJpzhr.${n}.${issued.length + 1}.c2lnbmF0dXJl`
      issued.push(token)
      // The documented answer of Obtain Access Token.
      return json({ status_code: 200, access_token: token, token_type: 'bearer', expires_in: 3600, userId: 'user', scope: 'all' })
    }
    const route = routes[`${req.method} ${req.url.pathname.replace('/management-api', '')}`]
    return route ? route(req) : notFound()
  })
  const sims = new OnceSims({ provider: 'once', config: OnceConfig.parse({ baseUrl: BASE, ...config }), clientId, clientSecret, fetch: upstream.fetch, now: () => clock.t })
  const basic = `Basic ${btoa(`${clientId}:${clientSecret}`)}`
  return {
    sims,
    upstream,
    clock,
    issued,
    basic,
    secrets: [clientId, clientSecret, btoa(`${clientId}:${clientSecret}`)],
    tokenCalls: () => upstream.calls.filter((c) => c.url.pathname.endsWith('/oauth/token')),
    apiCalls: () => upstream.calls.filter((c) => !c.url.pathname.endsWith('/oauth/token')),
  }
}

/** 1NCE's error body (v2 NotFound, InternalServerError, …). */
const oneError = (status: number, error_token: string, message: string) => json({ error_code: 1000, error_token, message }, status)
const notFound = () => oneError(404, 'NotFound', 'Element not found')
const created = () => new Response(null, { status: 201 })

/** The documented SIM_card example (Get Single SIM). */
const SIM_CARD = {
  iccid: '8988303000123456789',
  iccid_with_luhn: '89883030001234567890',
  imsi: '901405100000018',
  imsi_2: '901405100000018',
  current_imsi: '901405100000018',
  msisdn: '882285100000018',
  imei: '0000000000000018',
  imei_lock: true,
  status: 'Disabled',
  activation_date: '2018-03-09T07:59:09.000+0000',
  ip_address: '100.100.100.18',
  current_quota: 500,
  quota_status: { id: 0, description: 'More than 20% available', threshold_reached_date: null, quota_exceeded_date: null },
  current_quota_SMS: 250,
  quota_status_SMS: { id: 0, description: 'More than 20% available' },
  label: 'DX-137-B12',
}

describe('1NCE config', () => {
  it('has defaults for everything, so an empty provider config parses', () => {
    expect(OnceConfig.parse({})).toEqual({
      baseUrl: 'https://api.1nce.com/management-api',
      clientIdSecret: 'ONCE_CLIENT_ID',
      clientSecretSecret: 'ONCE_CLIENT_SECRET',
      timeoutMs: 10_000,
      topUpPaymentMethod: 'banktransfer',
      resetSeconds: 120,
      retryAfterSeconds: 60,
      smsPageSize: 100,
      smsMaxPages: 10,
    })
    expect(OnceConfig.safeParse({ topUpPaymentMethod: 'cash' }).success).toBe(false)
  })
})

describe('1NCE token (OAuth2 client credentials)', () => {
  it('asks POST /oauth/token with Basic auth and the documented body, then sends the Bearer token', async () => {
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => json(SIM_CARD) })
    await s.sims.getSim(ICCID)
    const [t, api] = s.upstream.calls
    expect(t.method).toBe('POST')
    expect(t.url.toString()).toBe(`${BASE}/oauth/token`)
    expect(t.headers.get('authorization')).toBe(s.basic)
    expect(t.headers.get('content-type')).toBe('application/json')
    expect(JSON.parse(t.body)).toEqual({ grant_type: 'client_credentials' })
    expect(api.method).toBe('GET')
    expect(api.url.toString()).toBe(`${BASE}/v1/sims/${ICCID}`)
    expect(api.headers.get('authorization')).toBe(`Bearer ${s.issued[0]}`)
    expect(api.headers.get('accept')).toBe('application/json')
  })

  it('fetches the token once for many calls, also across instances of the same provider and client', async () => {
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => json(SIM_CARD) })
    for (let i = 0; i < 4; i++) await s.sims.getSim(ICCID)
    const other = new OnceSims({ provider: 'once', config: OnceConfig.parse({ baseUrl: BASE }), clientId: s.secrets[0], clientSecret: s.secrets[1], fetch: s.upstream.fetch, now: () => s.clock.t })
    await other.getSim(ICCID)
    expect(s.tokenCalls()).toHaveLength(1)
    expect(s.apiCalls()).toHaveLength(5)
    expect(s.apiCalls().every((c) => c.headers.get('authorization') === `Bearer ${s.issued[0]}`)).toBe(true)
  })

  it('refreshes an expiring token once: 60 s before expires_in runs out (the injected clock)', async () => {
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => json(SIM_CARD) })
    await s.sims.getSim(ICCID)
    s.clock.t = T0 + 3539_000
    await s.sims.getSim(ICCID)
    expect(s.tokenCalls()).toHaveLength(1)
    s.clock.t = T0 + 3541_000
    await s.sims.getSim(ICCID)
    await s.sims.getSim(ICCID)
    expect(s.tokenCalls()).toHaveLength(2)
    expect(s.apiCalls().map((c) => c.headers.get('authorization'))).toEqual([`Bearer ${s.issued[0]}`, `Bearer ${s.issued[0]}`, `Bearer ${s.issued[1]}`, `Bearer ${s.issued[1]}`])
  })

  it('on a 401 gets a new token once and retries once', async () => {
    let calls = 0
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => (++calls === 1 ? oneError(401, 'Unauthorized', 'Token expired') : json(SIM_CARD)) })
    expect(await s.sims.getSim(ICCID)).toMatchObject({ iccid: ICCID })
    expect(s.tokenCalls()).toHaveLength(2)
    expect(s.apiCalls().map((c) => c.headers.get('authorization'))).toEqual([`Bearer ${s.issued[0]}`, `Bearer ${s.issued[1]}`])
  })

  it('a second 401 is a 502 UPSTREAM_ERROR, after exactly one refresh and one retry', async () => {
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => oneError(401, 'Unauthorized', 'Unauthorized') })
    const e = await failure(s.sims.getSim(ICCID))
    expect(e).toMatchObject({ status: 502, code: 'UPSTREAM_ERROR', message: 'once: getSim: authentication failed (Unauthorized: Unauthorized)' })
    expect(s.tokenCalls()).toHaveLength(2)
    expect(s.apiCalls()).toHaveLength(2)
    expectNoSecret(e, ...s.secrets, ...s.issued)
  })

  it('a refused token request (400 BadCredentials, documented) is a 502 naming 1NCE’s error, without credentials', async () => {
    const refusing = fakeUpstream(() => json({ statusCode: 400, errorCode: 'BadCredentials', message: 'User does not exist.' }, 400))
    const sims = new OnceSims({ provider: 'once', config: OnceConfig.parse({ baseUrl: BASE }), clientId: 'client-refused-91ac', clientSecret: 'secret-refused-55de', fetch: refusing.fetch })
    const e = await failure(sims.getSim(ICCID))
    expect(e).toMatchObject({ status: 502, code: 'UPSTREAM_ERROR', message: 'once: getSim: access token bad request (BadCredentials: User does not exist.)' })
    expect(e.details).toEqual({ operation: 'getSim', upstreamStatus: 400, upstreamError: 'BadCredentials' })
    expect(refusing.calls).toHaveLength(1)
    expectNoSecret(e, 'client-refused-91ac', 'secret-refused-55de', btoa('client-refused-91ac:secret-refused-55de'))
  })
})

describe('1NCE SIMs', () => {
  it('getSim maps the documented SIM card; 404 is null', async () => {
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => json(SIM_CARD) })
    expect(await s.sims.getSim(ICCID)).toEqual({
      iccid: '8988303000123456789',
      imsi: '901405100000018',
      msisdn: '882285100000018',
      imei: '0000000000000018',
      imeiLock: true,
      status: 'Disabled',
      label: 'DX-137-B12',
      ipAddress: '100.100.100.18',
      ipv6Address: null,
      activationDate: new Date('2018-03-09T07:59:09.000Z'),
    })
    expect(await s.sims.getSim('8988303000000000404')).toBeNull()
    expect(s.apiCalls().at(-1)?.url.pathname).toBe('/management-api/v1/sims/8988303000000000404')
  })

  it('updateSim reads the SIM and PUTs all four fields, so a label change keeps the status and the IMEI lock', async () => {
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => json(SIM_CARD), 'PUT /v1/sims/8988303000123456789': () => new Response(null, { status: 200 }) })
    await s.sims.updateSim(ICCID, { label: 'pump-7' })
    await s.sims.updateSim(ICCID, { status: 'Enabled', label: null })
    await s.sims.updateSim(ICCID, { imeiLock: false })
    const puts = s.apiCalls().filter((c) => c.method === 'PUT')
    expect(puts.map((c) => c.headers.get('content-type'))).toEqual(['application/json', 'application/json', 'application/json'])
    expect(puts.map((c) => JSON.parse(c.body))).toEqual([
      { iccid: ICCID, label: 'pump-7', imei_lock: true, status: 'Disabled' },
      { iccid: ICCID, label: '', imei_lock: true, status: 'Enabled' },
      { iccid: ICCID, label: 'DX-137-B12', imei_lock: false, status: 'Disabled' },
    ])
    const before = s.upstream.calls.length
    await s.sims.updateSim(ICCID, {})
    expect(s.upstream.calls).toHaveLength(before)
  })

  it('updateSim of a SIM 1NCE does not know, and a 422 (expired SIM), are 502', async () => {
    const s = setup({
      'GET /v1/sims/8988303000123456789': () => json(SIM_CARD),
      'PUT /v1/sims/8988303000123456789': () => oneError(422, 'UnprocessableEntity', 'The following SIMs are expired and cannot be modified via API. Only extensions are permitted'),
    })
    expect(await failure(s.sims.updateSim('8988303000000000404', { label: 'x' }))).toMatchObject({ status: 502, message: 'once: updateSim: the SIM is not on the 1NCE account' })
    const e = await failure(s.sims.updateSim(ICCID, { status: 'Enabled' }))
    expect(e).toMatchObject({ status: 502, code: 'UPSTREAM_ERROR' })
    expect(e.message).toContain('once: updateSim: the SIM is expired (1NCE allows only extensions) (UnprocessableEntity: The following SIMs are expired')
    expect(e.details).toEqual({ operation: 'updateSim', upstreamStatus: 422, upstreamError: 'UnprocessableEntity', upstreamCode: 1000 })
  })
})

describe('1NCE connectivity', () => {
  it('maps Get SIM Status (v1 documented fields): ONLINE, the PDP context’s RAT, cell, MCC/MNC, the location', async () => {
    const s = setup({
      'GET /v1/sims/8988303000123456789/status': () =>
        json({
          status: 'ONLINE',
          location: {
            iccid: ICCID,
            imsi: '901405100000018',
            last_updated: '2026-01-10T11:58:00.000+0000',
            sgsn_number: '491600300000',
            operator_id: '2',
            operator: { id: '2', name: 'T-Mobile', country: { id: '74', name: 'Germany', 'iso-code': 'de' } },
            country: { country_id: '74', name: 'Germany', country_code: '49', mcc: '262', 'iso-code': 'de', latitude: '51', longitude: '9' },
          },
          pdp_context: {
            pdp_context_id: '1898708000',
            imsi: '901405100000018',
            created: '2026-01-10T09:19:00.000+0000',
            mcc: '262',
            mnc: '1',
            lac: '10458000',
            ci: '5559',
            ue_ip_address: '100.100.100.18',
            duration: '02:39:10',
            rat_type: { rat_type_id: '2', description: '2G' },
          },
          services: ['GPRS'],
        }),
    })
    expect(await s.sims.connectivity(ICCID)).toEqual({
      connected: true,
      cellId: '5559',
      signalStrength: null,
      signalQuality: null,
      rat: 'GSM',
      countryCode: 'DE',
      operatorName: 'T-Mobile',
      mcc: '262',
      mnc: '1',
      apn: null,
      at: new Date('2026-01-10T11:58:00.000Z'),
    })
    expect(s.apiCalls()[0].url.toString()).toBe(`${BASE}/v1/sims/${ICCID}/status`)
  })

  it('reads the v2 shape too (status object, pdp_contexts, GTPv2 location), and OFFLINE is not connected', async () => {
    let state = 'ATTACHED'
    const s = setup({
      'GET /v1/sims/8988303000123456789/status': () =>
        json({
          status: { description: state },
          data_traffic_limit_state: { description: 'NOT_REACHED' },
          location: {
            iccid: '8988303010000000000',
            imsi: '901439999999999',
            last_updated: '2023-08-06 09:59:05',
            operator: { id: 2, name: 'T-Mobile', mnc: '01', country: { id: 74, name: 'Germany', iso_code: 'de' } },
            country: { country_id: '74', name: 'Germany', country_code: '49', mcc: '262', iso_code: 'de' },
          },
          pdp_contexts: [{ pdp_context_id: '92415', mcc: '262', mnc: '01', gtp_v2_uli: { tac: '38402', eci: '12' }, rat_type: { rat_type_id: '2', description: 'NB-IoT' }, apn: 'iot.1nce.net' }],
          services: ['GPRS'],
        }),
    })
    expect(await s.sims.connectivity(ICCID)).toMatchObject({
      connected: true,
      cellId: '12',
      rat: 'NB-IoT',
      countryCode: 'DE',
      mcc: '262',
      mnc: '01',
      apn: 'iot.1nce.net',
      at: new Date('2023-08-06T09:59:05.000Z'),
    })
    state = 'OFFLINE'
    expect((await s.sims.connectivity(ICCID)).connected).toBe(false)
  })

  it('reset POSTs /reset; its status is in progress until resetSeconds after the request, then completed, without asking 1NCE', async () => {
    const s = setup({ 'POST /v1/sims/8988303000123456789/reset': created })
    expect(await s.sims.reset(ICCID)).toEqual({ expectedCompletion: new Date(T0 + 120_000) })
    expect(s.apiCalls()).toHaveLength(1)
    expect(s.apiCalls()[0]).toMatchObject({ method: 'POST', body: '' })
    const requestedAt = new Date(T0)
    s.clock.t = T0 + 119_000
    expect(await s.sims.resetStatus(ICCID, requestedAt)).toBe('in_progress')
    s.clock.t = T0 + 120_000
    expect(await s.sims.resetStatus(ICCID, requestedAt)).toBe('completed')
    expect(s.upstream.calls).toHaveLength(2)
  })
})

describe('1NCE usage and quotas', () => {
  it('usage sends start_dt/end_dt and maps the documented daily record (MB of 1024 KB → bytes; SMS rx = MO)', async () => {
    const record = (date: string, rx: string, tx: string) => ({
      date,
      data: { cost: '0.002803', currency: { id: 1, symbol: '€', code: 'EUR' }, traffic_type: { description: 'Data', id: 1, unit: 'MB' }, volume: '0.002803', volume_rx: rx, volume_tx: tx },
      sms: { cost: '4', currency: { id: 1, symbol: '€', code: 'EUR' }, traffic_type: { description: 'SMS', id: 1, unit: 'SMS' }, volume: '3', volume_rx: '2', volume_tx: '1' },
    })
    const s = setup({
      'GET /v1/sims/8988303000123456789/usage': () =>
        json({ stats: [record('2021-07-01T00:00:00.000Z', '2', '0.5'), record('2021-06-30T00:00:00.000Z', '0.001482', '0.001321'), record('2021-05-01T00:00:00.000Z', '9', '9')] }),
    })
    expect(await s.sims.usage(ICCID, '2021-06-30', '2021-07-01')).toEqual([
      { date: '2021-06-30', volumeRx: 1554, volumeTx: 1385, smsMo: 2, smsMt: 1, sessionCount: 0 },
      { date: '2021-07-01', volumeRx: 2_097_152, volumeTx: 524_288, smsMo: 2, smsMt: 1, sessionCount: 0 },
    ])
    const r = s.apiCalls()[0]
    expect(r.url.pathname).toBe(`/management-api/v1/sims/${ICCID}/usage`)
    expect(Object.fromEntries(r.url.searchParams)).toEqual({ start_dt: '2021-06-30', end_dt: '2021-07-01' })
  })

  it('quota (data, the documented v1 Quota): total, used = total − remaining, in bytes; status derived', async () => {
    const s = setup({
      'GET /v1/sims/8988303000123456789/quota/data': () =>
        json({
          volume: 435.787951,
          total_volume: 500,
          expiry_date: '2029-01-01T00:00:00.000Z',
          peak_throughput: 1000000,
          last_volume_added: 500,
          last_status_change_date: '2018-10-01T11:59:44.000Z',
          threshold_percentage: 20,
        }),
    })
    expect(await s.sims.quota(ICCID, 'data')).toEqual({
      type: 'data',
      volume: 524_288_000,
      usedVolume: Math.round((500 - 435.787951) * 1024 * 1024),
      status: 'Active',
      lastVolumeAdded: 524_288_000,
      lastStatusChangeDate: new Date('2018-10-01T11:59:44.000Z'),
      expiryDate: new Date('2029-01-01T00:00:00.000Z'),
    })
  })

  it('quota (sms, the v2 SimsQuota fields): the accumulated total of every grant, 1NCE’s status', async () => {
    const s = setup({
      'GET /v1/sims/8988303000123456789/quota/sms': () =>
        json({
          id: 1,
          status: { id: 0, description: 'EXHAUSTED' },
          volume: -2,
          total_volume: 250,
          accumulated_total_volume: 500,
          last_volume_added: 250,
          service: 'sms',
          threshold_percentage: 20,
          threshold_volume: 50,
          expiry_date: '2027-07-26T13:13:21Z',
          created_at: '2024-08-24T13:13:21Z',
        }),
    })
    expect(await s.sims.quota(ICCID, 'sms')).toEqual({
      type: 'sms',
      volume: 500,
      usedVolume: 502,
      status: 'Exhausted',
      lastVolumeAdded: 250,
      lastStatusChangeDate: null,
      expiryDate: new Date('2027-07-26T13:13:21.000Z'),
    })
    expect(s.apiCalls()[0].url.pathname).toBe(`/management-api/v1/sims/${ICCID}/quota/sms`)
  })

  it('an answer without the volumes is an unexpected answer (502)', async () => {
    const s = setup({ 'GET /v1/sims/8988303000123456789/quota/data': () => json({ id: 1 }) })
    expect(await failure(s.sims.quota(ICCID, 'data'))).toMatchObject({ status: 502, message: 'once: quota: unexpected answer' })
  })
})

describe('1NCE top-ups', () => {
  const A = '8988303000000000001'
  const B = '8988303000000000002'
  const C = '8988303000000000003'

  it('sends one Create Single Top Up per request with the payment method, and answers one outcome each (quota null)', async () => {
    const s = setup(
      {
        [`POST /v1/sims/${A}/topup`]: () => new Response(null, { status: 201, headers: { Location: 'https://api.1nce.com/management-api/v1/orders/1234' } }),
        [`POST /v1/sims/${B}/topup`]: created,
      },
      { topUpPaymentMethod: 'monthlyinvoice' },
    )
    const out = await s.sims.topUp([
      { iccid: A, quotaType: 'data', volume: 524_288_000, reference: 'tu_1' },
      { iccid: B, quotaType: 'sms', volume: 250, reference: 'tu_2' },
    ])
    expect(out).toEqual([
      { reference: 'tu_1', ok: true, quota: null },
      { reference: 'tu_2', ok: true, quota: null },
    ])
    expect(s.apiCalls().map((c) => `${c.method} ${c.url.pathname}?${c.url.searchParams}`)).toEqual([
      `POST /management-api/v1/sims/${A}/topup?payment_method=monthlyinvoice`,
      `POST /management-api/v1/sims/${B}/topup?payment_method=monthlyinvoice`,
    ])
    expect(s.apiCalls().map((c) => c.body)).toEqual(['', ''])
    expect(s.tokenCalls()).toHaveLength(1)
    expect(await s.sims.topUp([])).toEqual([])
  })

  it('maps 1NCE’s documented refusals per SIM and goes on with the others', async () => {
    const s = setup({
      [`POST /v1/sims/${A}/topup`]: () => json({ message: 'Payment method used is not valid.' }, 400),
      [`POST /v1/sims/${B}/topup`]: () => new Response(null, { status: 403 }),
      [`POST /v1/sims/${C}/topup`]: () => oneError(422, 'UnprocessableEntity', 'The following SIMs are expired and cannot be modified via API. Only extensions are permitted'),
      'POST /v1/sims/8988303000000000005/topup': () => oneError(500, 'InternalServerError', 'Internal Server Error'),
      'POST /v1/sims/8988303000000000006/topup': created,
    })
    const out = await s.sims.topUp(
      [A, B, C, '8988303000000000004', '8988303000000000005', '8988303000000000006'].map((iccid, i) => ({ iccid, quotaType: 'data' as const, volume: 1, reference: `r${i}` })),
    )
    expect(out.map((o) => (o.ok ? 'ok' : o.code))).toEqual(['TOPUP_REFUSED', 'SIM_NOT_ON_ACCOUNT', 'SIM_EXPIRED', 'SIM_NOT_FOUND', 'UPSTREAM_ERROR', 'ok'])
    expect(out[0]).toEqual({ reference: 'r0', ok: false, code: 'TOPUP_REFUSED', message: 'once: topUp: bad request (Payment method used is not valid.)' })
    expect(out[1]).toMatchObject({ message: 'once: topUp: forbidden' })
    expect(out[4]).toMatchObject({ message: 'once: topUp: HTTP 500 (InternalServerError: Internal Server Error)' })
    expect(s.apiCalls()).toHaveLength(6)
  })

  it('a 429 on the first top-up throws 503 with Retry-After; later in the batch it ends the batch (RATE_LIMITED, NOT_SENT)', async () => {
    const first = setup({ [`POST /v1/sims/${A}/topup`]: () => json({ message: 'Too Many Requests' }, 429) })
    const e = await failure(first.sims.topUp([{ iccid: A, quotaType: 'data', volume: 1, reference: 'r1' }]))
    expect(e).toMatchObject({ status: 503, code: 'UPSTREAM_ERROR', headers: { 'Retry-After': '60' } })

    const later = setup({
      [`POST /v1/sims/${A}/topup`]: created,
      [`POST /v1/sims/${B}/topup`]: () => new Response('{}', { status: 429, headers: { 'Retry-After': '30' } }),
      [`POST /v1/sims/${C}/topup`]: created,
    })
    const out = await later.sims.topUp([A, B, C].map((iccid, i) => ({ iccid, quotaType: 'sms' as const, volume: 250, reference: `r${i}` })))
    expect(out).toEqual([
      { reference: 'r0', ok: true, quota: null },
      { reference: 'r1', ok: false, code: 'RATE_LIMITED', message: 'once: topUp: rate limited by 1NCE, retry in 30 s' },
      { reference: 'r2', ok: false, code: 'NOT_SENT', message: 'once: topUp: not sent, an earlier top-up of the batch failed (RATE_LIMITED)' },
    ])
    expect(later.apiCalls()).toHaveLength(2)
  })

  it('a timeout on a top-up is UPSTREAM_UNKNOWN (it may have been ordered) and ends the batch', async () => {
    const s = setup(
      {
        [`POST /v1/sims/${A}/topup`]: created,
        [`POST /v1/sims/${B}/topup`]: () => slow(2_000, created),
      },
      { timeoutMs: 100 },
    )
    const out = await s.sims.topUp([A, B, C].map((iccid, i) => ({ iccid, quotaType: 'data' as const, volume: 1, reference: `r${i}` })))
    expect(out.map((o) => (o.ok ? 'ok' : o.code))).toEqual(['ok', 'UPSTREAM_UNKNOWN', 'NOT_SENT'])
    expect(out[1]).toMatchObject({ message: 'once: topUp: no answer within 100 ms (the top-up may have been ordered)' })
    // A timeout on the very first top-up is an outcome too: 1NCE may have ordered it.
    const t = setup({ [`POST /v1/sims/${A}/topup`]: () => slow(2_000, created) }, { timeoutMs: 100 })
    expect((await t.sims.topUp([{ iccid: A, quotaType: 'data', volume: 1, reference: 'x' }]))[0]).toMatchObject({ ok: false, code: 'UPSTREAM_UNKNOWN' })
  })
})

/** The documented SimsSms example (v2 Get MT/MO-SMS). */
const SMS = {
  submit_date: '2019-09-29T07:33:15.000Z',
  delivery_date: '2019-09-29T07:33:15.000Z',
  expiry_date: '2019-09-30T07:33:15.000Z',
  final_date: '2019-09-29T07:33:18.000Z',
  retry_date: null,
  last_delivery_attempt: '2019-09-29T07:33:15.000Z',
  retry_count: 0,
  gsm_map_error: null,
  dcs: 0,
  pid: 0,
  source_address: '1234',
  endpoint: { id: 166, name: 'Your Endpoint' },
  sim_id: 0,
  iccid: '8988303000000001000',
  msisdn: '883XXXXXXXXXXXX',
  imsi: '901XXXXXXXXXXXX',
  msc: 491770940000,
  udh: '',
  payload: '***',
  id: 589,
  status: { description: 'DELIVERED', id: 4 },
  sms_type: { description: 'MT', id: 1 },
  source_address_type: { description: 'National', id: 161 },
}

describe('1NCE SMS', () => {
  it('sendSms POSTs the documented SMS message (GSM 7-bit text, DCS 0) and answers 1NCE’s id', async () => {
    const s = setup({ 'POST /v2/sims/8988303000123456789/sms': () => json({ id: '590' }, 201) })
    expect(await s.sims.sendSms(ICCID, { message: 'Wake up', encoding: 'GSM7', expiryDate: new Date('2026-01-11T12:00:00.000Z'), sourceAddress: '1234567890' })).toEqual({ upstreamId: '590' })
    const r = s.apiCalls()[0]
    expect(r.url.toString()).toBe(`${BASE}/v2/sims/${ICCID}/sms`)
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(JSON.parse(r.body)).toEqual({ payload: 'Wake up', dcs: 0, source_address: '1234567890', expiry_date: '2026-01-11T12:00:00.000Z' })
  })

  it('UCS2 goes as DCS 8 with the UTF-16BE hex payload; an international or alphanumeric sender says its type', async () => {
    const s = setup({ 'POST /v2/sims/8988303000123456789/sms': () => json({ id: 591 }, 201) })
    expect(await s.sims.sendSms(ICCID, { message: 'Zürich €', encoding: 'UCS2', expiryDate: null, sourceAddress: '+491701234567' })).toEqual({ upstreamId: '591' })
    await s.sims.sendSms(ICCID, { message: 'hi', encoding: 'GSM7', expiryDate: null, sourceAddress: 'ACME' })
    const [ucs2, alpha] = s.apiCalls().map((c) => JSON.parse(c.body))
    expect(ucs2).toEqual({ payload: '005A00FC0072006900630068002020AC', dcs: 8, source_address: '491701234567', source_address_type: { id: 145 } })
    expect(alpha).toEqual({ payload: 'hi', dcs: 0, source_address: 'ACME', source_address_type: { id: 208 } })
  })

  it('an answer without an id is a 502', async () => {
    const s = setup({ 'POST /v2/sims/8988303000123456789/sms': created })
    expect(await failure(s.sims.sendSms(ICCID, { message: 'x', encoding: 'GSM7', expiryDate: null }))).toMatchObject({ status: 502, message: 'once: sendSms: unexpected answer (no id)' })
  })

  it('listSms pages through MT and MO, keeps those since `since`, oldest first, and maps the status', async () => {
    const mo = {
      ...SMS,
      id: 601,
      submit_date: '2019-09-29T08:00:00.000Z',
      delivery_date: null,
      final_date: null,
      status: { description: 'PENDING', id: 2 },
      sms_type: { description: 'MO', id: 2 },
      payload: 'temp=21',
    }
    const pending = { ...SMS, id: 600, submit_date: '2019-09-29T07:50:00.000Z', delivery_date: null, status: { description: 'PENDING', id: 2 }, payload: 'ping' }
    const failed = { ...SMS, id: 599, submit_date: '2019-09-29T07:40:00.000Z', status: { description: 'EXPIRED', id: 6 }, dcs: 8, payload: '00480069' }
    const old = { ...SMS, id: 500, submit_date: '2019-09-01T00:00:00.000Z' }
    const pages: Record<string, unknown[]> = { '1': [mo, pending], '2': [SMS, failed], '3': [old] }
    const s = setup({ 'GET /v2/sims/8988303000123456789/sms': (req) => json(pages[req.url.searchParams.get('page') ?? ''] ?? []) }, { smsPageSize: 2 })
    const list = await s.sims.listSms(ICCID, new Date('2019-09-29T00:00:00.000Z'))
    expect(s.apiCalls().map((c) => Object.fromEntries(c.url.searchParams))).toEqual([
      { page: '1', per_page: '2' },
      { page: '2', per_page: '2' },
      { page: '3', per_page: '2' },
    ])
    expect(list).toEqual([
      {
        upstreamId: '589',
        direction: 'MT',
        message: '***',
        status: 'delivered',
        sourceAddress: '1234',
        createdAt: new Date('2019-09-29T07:33:15.000Z'),
        sentAt: new Date('2019-09-29T07:33:15.000Z'),
        deliveredAt: new Date('2019-09-29T07:33:15.000Z'),
      },
      {
        upstreamId: '599',
        direction: 'MT',
        message: 'Hi',
        status: 'failed',
        sourceAddress: '1234',
        createdAt: new Date('2019-09-29T07:40:00.000Z'),
        sentAt: new Date('2019-09-29T07:40:00.000Z'),
        deliveredAt: null,
      },
      {
        upstreamId: '600',
        direction: 'MT',
        message: 'ping',
        status: 'sent',
        sourceAddress: '1234',
        createdAt: new Date('2019-09-29T07:50:00.000Z'),
        sentAt: new Date('2019-09-29T07:50:00.000Z'),
        deliveredAt: null,
      },
      { upstreamId: '601', direction: 'MO', message: 'temp=21', status: 'received', sourceAddress: '1234', createdAt: new Date('2019-09-29T08:00:00.000Z'), sentAt: null, deliveredAt: null },
    ])
  })

  it('listSms reads at most smsMaxPages pages', async () => {
    const s = setup({ 'GET /v2/sims/8988303000123456789/sms': () => json([SMS]) }, { smsPageSize: 1, smsMaxPages: 3 })
    expect(await s.sims.listSms(ICCID, new Date(0))).toHaveLength(1)
    expect(s.apiCalls()).toHaveLength(3)
  })

  it('cancelSms DELETEs the message (documented 200 {id})', async () => {
    const s = setup({ 'DELETE /v2/sims/8988303000123456789/sms/600': () => json({ id: '600' }) })
    await s.sims.cancelSms(ICCID, '600')
    expect(s.apiCalls()[0]).toMatchObject({ method: 'DELETE' })
    expect(s.apiCalls()[0].url.toString()).toBe(`${BASE}/v2/sims/${ICCID}/sms/600`)
    const e = await failure(s.sims.cancelSms(ICCID, '601'))
    expect(e).toMatchObject({ status: 502, message: 'once: cancelSms: not found (NotFound: Element not found)' })
  })
})

describe('1NCE limits and readiness', () => {
  it('setLimits sends nothing: 1NCE’s limits are account-wide, and one customer’s must not reach the others’ SIMs', async () => {
    const s = setup({})
    await s.sims.setLimits([ICCID], { dailyDataLimit: 1, monthlyDataLimit: 2, dailySmsLimit: 3, monthlySmsLimit: 4, enforceLimits: true })
    expect(s.upstream.calls).toHaveLength(0)
  })

  it('ping gets a token and reads one SIM of the list', async () => {
    const s = setup({ 'GET /v1/sims': () => json([SIM_CARD], 200) })
    await s.sims.ping()
    expect(s.upstream.calls.map((c) => `${c.method} ${c.url.pathname}${c.url.search}`)).toEqual(['POST /management-api/oauth/token', 'GET /management-api/v1/sims?page=1&pageSize=1'])
  })
})

describe('1NCE errors', () => {
  it('429 is 503 UPSTREAM_ERROR with 1NCE’s Retry-After; calls then wait it out without reaching 1NCE', async () => {
    let limited = true
    const s = setup({ 'GET /v1/sims/8988303000123456789': () => (limited ? new Response('', { status: 429, headers: { 'Retry-After': '120' } }) : json(SIM_CARD)) })
    const e = await failure(s.sims.getSim(ICCID))
    expect(e).toMatchObject({ status: 503, code: 'UPSTREAM_ERROR', message: 'once: getSim: rate limited by 1NCE, retry in 120 s', headers: { 'Retry-After': '120' } })
    expect(e.details).toEqual({ operation: 'getSim', upstreamStatus: 429, retryAfter: 120 })
    limited = false
    s.clock.t = T0 + 90_000
    const waiting = await failure(s.sims.quota(ICCID, 'data'))
    expect(waiting).toMatchObject({ status: 503, code: 'UPSTREAM_ERROR', headers: { 'Retry-After': '30' } })
    expect(s.apiCalls()).toHaveLength(1)
    s.clock.t = T0 + 120_000
    expect(await s.sims.getSim(ICCID)).not.toBeNull()
    expect(s.apiCalls()).toHaveLength(2)
  })

  it('a Retry-After date is read as the seconds until then; none at all gives the configured wait', async () => {
    const dated = setup({ 'GET /v1/sims/8988303000123456789': () => new Response('', { status: 429, headers: { 'Retry-After': new Date(T0 + 45_000).toUTCString() } }) })
    expect(await failure(dated.sims.getSim(ICCID))).toMatchObject({ headers: { 'Retry-After': '45' } })
    const bare = setup({ 'GET /v1/sims/8988303000123456789': () => new Response('', { status: 429 }) }, { retryAfterSeconds: 15 })
    expect(await failure(bare.sims.getSim(ICCID))).toMatchObject({ status: 503, headers: { 'Retry-After': '15' } })
  })

  it('5xx and 1NCE error bodies are 502 UPSTREAM_ERROR with 1NCE’s error token and message', async () => {
    const s = setup({
      'GET /v1/sims/8988303000123456789': () => oneError(500, 'InternalServerError', 'Internal Server Error'),
      'GET /v1/sims/8988303000123456789/status': () => new Response('<html>Bad gateway</html>', { status: 502 }),
      'POST /v1/sims/8988303000123456789/reset': () => oneError(409, 'Conflict', 'Conflicting request'),
      'GET /v1/sims/8988303000123456789/quota/data': () => oneError(403, 'Forbidden', 'Forbidden'),
    })
    expect(await failure(s.sims.getSim(ICCID))).toMatchObject({ status: 502, code: 'UPSTREAM_ERROR', message: 'once: getSim: HTTP 500 (InternalServerError: Internal Server Error)' })
    expect(await failure(s.sims.connectivity(ICCID))).toMatchObject({ status: 502, message: 'once: connectivity: HTTP 502', details: { operation: 'connectivity', upstreamStatus: 502 } })
    expect(await failure(s.sims.reset(ICCID))).toMatchObject({ status: 502, message: 'once: reset: conflict (Conflict: Conflicting request)' })
    expect(await failure(s.sims.quota(ICCID, 'data'))).toMatchObject({ status: 502, message: 'once: quota: forbidden (Forbidden: Forbidden)' })
  })

  it('never quotes the client id, the secret or a token, even when 1NCE echoes them', async () => {
    let echoed: string[] = []
    const s = setup({ 'GET /v1/sims/8988303000123456789': (req) => oneError(400, 'BadRequest', `bad header ${req.headers.get('authorization')} for ${echoed.join(' / ')}`) })
    echoed = s.secrets
    const e = await failure(s.sims.getSim(ICCID))
    expect(e.status).toBe(502)
    expect(e.message).toContain('bad header Bearer *** for *** / *** / ***')
    expectNoSecret(e, ...s.secrets, ...s.issued)
    const refused = fakeUpstream((req) => json({ statusCode: 400, errorCode: 'BadCredentials', message: `no user ${req.headers.get('authorization')}` }, 400))
    const sims = new OnceSims({ provider: 'once', config: OnceConfig.parse({ baseUrl: BASE }), clientId: 'client-echo-41bd', clientSecret: 'secret-echo-99fa', fetch: refused.fetch })
    expectNoSecret(await failure(sims.ping()), 'client-echo-41bd', 'secret-echo-99fa', btoa('client-echo-41bd:secret-echo-99fa'))
  })

  it('a network error and a timeout are 502 without credentials or URL', async () => {
    const down = fakeUpstream(() => {
      throw new TypeError(`fetch failed: ${BASE}/oauth/token`)
    })
    const sims = new OnceSims({ provider: 'once', config: OnceConfig.parse({ baseUrl: BASE }), clientId: 'client-down-12ab', clientSecret: 'secret-down-34cd', fetch: down.fetch })
    const e1 = await failure(sims.getSim(ICCID))
    expect(e1).toMatchObject({ status: 502, code: 'UPSTREAM_ERROR', message: 'once: token: network error (TypeError)' })
    expectNoSecret(e1, 'client-down-12ab', 'secret-down-34cd', BASE)

    const s = setup({ 'GET /v1/sims/8988303000123456789/usage': () => slow(2_000, () => json({ stats: [] })) }, { timeoutMs: 100 })
    const e2 = await failure(s.sims.usage(ICCID, '2026-01-01', '2026-01-09'))
    expect(e2).toMatchObject({ status: 502, message: 'once: usage: no answer within 100 ms', details: { operation: 'usage', reason: 'timeout' } })
    expectNoSecret(e2, ...s.secrets, ...s.issued)
  })
})

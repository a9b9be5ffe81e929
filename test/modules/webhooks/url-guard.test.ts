import { describe, expect, it } from 'vitest'
import { checkWebhookUrl } from '../../../src/modules/webhooks/url-guard'
import { call, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { createEndpoint } from '../../helpers/webhooks'

/** Every spelling of an address inside a network (SSRF), each refused over https and http alike. */
const REFUSED = [
  // IPv4 loopback, private, link-local, metadata, unspecified
  'https://127.0.0.1/hook',
  'https://127.0.0.1:8443/hook',
  'https://10.0.0.1/',
  'https://172.16.0.1/',
  'https://172.31.255.254/',
  'https://192.168.1.1/',
  'https://169.254.169.254/latest/meta-data/',
  'https://0.0.0.0/',
  'https://0/',
  'https://100.64.0.1/', // carrier-grade NAT
  'https://224.0.0.1/', // multicast
  'https://255.255.255.255/',
  // the same addresses in other IPv4 spellings
  'https://2130706433/', // decimal 127.0.0.1
  'https://0x7f000001/', // hex
  'https://0x7F.0x0.0x0.0x1/',
  'https://0177.0.0.1/', // octal
  'https://127.1/', // short
  'https://127.0.1/',
  'https://2852039166/', // decimal 169.254.169.254
  'https://0xa9fea9fe/', // hex 169.254.169.254
  'https://012.0.0.1/', // octal 10.0.0.1
  'https://%31%32%37.0.0.1/', // percent-encoded
  'https://１２７.0.0.1/', // fullwidth digits
  'https://127.0.0.1./', // trailing dot
  // IPv6
  'https://[::1]/',
  'https://[0:0:0:0:0:0:0:1]/',
  'https://[::]/',
  'https://[::ffff:127.0.0.1]/',
  'https://[::ffff:7f00:1]/',
  'https://[::ffff:169.254.169.254]/',
  'https://[::ffff:a9fe:a9fe]/',
  'https://[::ffff:10.0.0.1]/',
  'https://[::127.0.0.1]/', // IPv4-compatible
  'https://[::ffff:0:127.0.0.1]/', // IPv4-translated
  'https://[64:ff9b::127.0.0.1]/', // NAT64
  'https://[2002:7f00:1::]/', // 6to4 of 127.0.0.1
  'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', // Teredo
  'https://[fe80::1]/',
  'https://[fd00::1]/',
  'https://[fd00:ec2::254]/', // AWS IPv6 metadata
  'https://[fc00::1]/',
  'https://[ff02::1]/',
  // names
  'https://localhost/',
  'https://LOCALHOST./',
  'https://localhost../',
  'https://foo.localhost/',
  'https://localhost.localdomain/',
  'https://ip6-localhost/',
  'https://metadata.google.internal/computeMetadata/v1/',
  'https://metadata/',
  'https://instance-data/',
  'https://api.internal/',
  'https://printer.local/',
  'https://router.lan/',
  'https://nas.home.arpa/',
  'https://intranet/', // single label
  // credentials in the URL (userinfo), which also hides the real host from a reader
  'https://user:pass@hooks.partner.example/',
  'https://hooks.partner.example@127.0.0.1/',
  'https://token@hooks.partner.example/',
  // not a URL at all, or not http(s)
  'not a url',
  '/relative/path',
  'ftp://hooks.partner.example/',
  'file:///etc/passwd',
  'javascript:alert(1)',
  'gopher://hooks.partner.example/',
]

const ALLOWED = [
  'https://hooks.partner.example/switchboard',
  'https://example.com/hook?token=abc#frag',
  'https://api.partner.io:8443/v1/events',
  'https://8.8.8.8/hook',
  'https://93.184.216.34/',
  'https://172.32.0.1/', // just outside 172.16.0.0/12
  'https://[2606:4700:4700::1111]/hook',
  'https://[::ffff:8.8.8.8]/', // IPv4-mapped public address
  'https://xn--bcher-kva.example/', // IDN
]

/** Loopback in the spellings people type (and odd ones): a receiver on the developer's own machine. */
const LOOPBACK = [
  'http://127.0.0.1:4000/hook',
  'http://127.0.0.1:8787/',
  'https://127.0.0.1/hook',
  'http://127.255.255.254/',
  'http://localhost:4000/hook',
  'http://LOCALHOST.:4000/',
  'http://receiver.localhost:4000/',
  'http://a.b.localhost/',
  'http://2130706433:4000/', // decimal 127.0.0.1
  'http://0x7f000001/', // hex
  'http://0177.0.0.1/', // octal
  'http://127.1:4000/', // short
  'http://127.0.0.1./', // trailing dot
  'http://[::1]:4000/',
  'http://[0:0:0:0:0:0:0:1]/',
  'http://[::ffff:127.0.0.1]:4000/', // IPv4-mapped
  'http://[::ffff:7f00:1]/',
]

/** What stays refused with loopback allowed: everything in REFUSED that is not loopback itself. */
const NOT_LOOPBACK = REFUSED.filter(
  (u) =>
    !/^https:\/\/(127\.0\.0\.1(:8443)?|2130706433|0x7f000001|0x7F\.0x0\.0x0\.0x1|0177\.0\.0\.1|127\.1|127\.0\.1|%31%32%37\.0\.0\.1|１２７\.0\.0\.1|127\.0\.0\.1\.|\[::1\]|\[0:0:0:0:0:0:0:1\]|\[::ffff:127\.0\.0\.1\]|\[::ffff:7f00:1\]|localhost|LOCALHOST\.|localhost\.\.|foo\.localhost)\//.test(
      u,
    ),
)

describe('checkWebhookUrl', () => {
  it.each(REFUSED)('refuses %s', (url) => {
    const https = checkWebhookUrl(url, { allowHttp: false })
    expect(https.ok, `${url}: ${JSON.stringify(https)}`).toBe(false)
    const http = checkWebhookUrl(url.replace(/^https:/, 'http:'), { allowHttp: true })
    expect(http.ok, `${url} over http in local dev: ${JSON.stringify(http)}`).toBe(false)
  })

  it.each(ALLOWED)('allows %s', (url) => {
    const v = checkWebhookUrl(url, { allowHttp: false })
    expect(v.ok, `${url}: ${JSON.stringify(v)}`).toBe(true)
  })

  it('refuses plain http unless allowed (local dev), and says why', () => {
    const prod = checkWebhookUrl('http://hooks.partner.example/', { allowHttp: false })
    expect(prod).toEqual({ ok: false, reason: 'must use https' })
    expect(checkWebhookUrl('http://hooks.partner.example/', { allowHttp: true }).ok).toBe(true)
    // local dev still refuses loopback: a dev server's own admin ports are a target too
    expect(checkWebhookUrl('http://127.0.0.1:8787/', { allowHttp: true }).ok).toBe(false)
  })

  it.each(LOOPBACK)('allows loopback %s only when asked to (local dev with WEBHOOK_ALLOW_LOOPBACK)', (url) => {
    const allowed = checkWebhookUrl(url, { allowHttp: true, allowLoopback: true })
    expect(allowed.ok, `${url}: ${JSON.stringify(allowed)}`).toBe(true)
    const refused = checkWebhookUrl(url, { allowHttp: true })
    expect(refused.ok, `${url} without allowLoopback: ${JSON.stringify(refused)}`).toBe(false)
  })

  it('with loopback allowed, every other internal address is still refused', () => {
    expect(NOT_LOOPBACK.length).toBeGreaterThan(40)
    for (const url of NOT_LOOPBACK) {
      for (const u of [url, url.replace(/^https:/, 'http:')]) {
        const v = checkWebhookUrl(u, { allowHttp: true, allowLoopback: true })
        expect(v.ok, `${u}: ${JSON.stringify(v)}`).toBe(false)
      }
    }
    // the ones a developer might mistake for loopback, spelled out
    for (const url of [
      'http://10.0.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:169.254.169.254]/',
      'http://0.0.0.0:4000/',
      'http://[::]:4000/',
      'http://[::127.0.0.1]/', // IPv4-compatible: not the loopback interface
      'http://[64:ff9b::127.0.0.1]/', // NAT64: a gateway's loopback, not ours
      'http://[2002:7f00:1::]/', // 6to4
      'http://localhost.localdomain/',
      'http://ip6-localhost/',
      'http://user:pass@localhost:4000/',
      'http://localhost@10.0.0.1/',
    ]) {
      const v = checkWebhookUrl(url, { allowHttp: true, allowLoopback: true })
      expect(v.ok, `${url}: ${JSON.stringify(v)}`).toBe(false)
    }
  })

  it('answers the normalised URL, so what is stored is what was checked', () => {
    const v = checkWebhookUrl('HTTPS://Hooks.Partner.EXAMPLE:443/a/../b', { allowHttp: false })
    expect(v.ok && v.url.toString()).toBe('https://hooks.partner.example/b')
  })

  it('names the reason of a refusal', () => {
    expect(checkWebhookUrl('https://10.0.0.1/', { allowHttp: false })).toMatchObject({ ok: false, reason: expect.stringMatching(/private|loopback/) })
    expect(checkWebhookUrl('https://localhost/', { allowHttp: false })).toMatchObject({ ok: false, reason: expect.stringMatching(/local/) })
    expect(checkWebhookUrl('https://a:b@example.com/', { allowHttp: false })).toMatchObject({ ok: false, reason: expect.stringMatching(/credentials/) })
  })
})

describe('webhook URLs over HTTP', () => {
  it.each(REFUSED)('POST /api/v1/webhooks refuses %s with 400 VALIDATION_ERROR on `url`', async (url) => {
    const u = await registerUser()
    const res = await call('/api/v1/webhooks', { token: u.accessToken, body: { url, events: ['*'] } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.body.error.field, res.text).toBe('url')
  })

  it('PUT /api/v1/webhooks/:id refuses an SSRF URL and keeps the old one', async () => {
    const u = await registerUser()
    const e = await createEndpoint(u)
    for (const url of ['https://169.254.169.254/', 'https://[::ffff:127.0.0.1]/', 'https://0x7f000001/']) {
      const res = await call(`/api/v1/webhooks/${e.id}`, { method: 'PUT', token: u.accessToken, body: { url } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, res.text).toBe('url')
    }
    const got = await call(`/api/v1/webhooks/${e.id}`, { token: u.accessToken })
    expect(got.body.data.url, got.text).toBe(e.url)
  })

  it('allows http:// in local dev and tests (ENVIRONMENT=test)', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/webhooks', { token: u.accessToken, body: { url: 'http://hooks.partner.example/dev', events: ['*'] } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.url).toBe('http://hooks.partner.example/dev')
  })

  it('requires https in production: http:// is a 400 on create and update', async () => {
    const u = await registerUser()
    const production = { ENVIRONMENT: 'production', METRICS_TOKEN: 'metrics-token-for-this-test-0123' }
    const created = await callApp('/api/v1/webhooks', { env: production, token: u.accessToken, body: { url: 'http://hooks.partner.example/x', events: ['*'] } })
    expectErrorEnvelope(created, 400, 'VALIDATION_ERROR')
    expect(created.body.error.field, created.text).toBe('url')
    expect(created.body.error.message, created.text).toMatch(/https/)

    const ok = await callApp('/api/v1/webhooks', { env: production, token: u.accessToken, body: { url: 'https://hooks.partner.example/x', events: ['*'] } })
    expect(ok.status, ok.text).toBe(201)
    const updated = await callApp(`/api/v1/webhooks/${ok.body.data.id}`, {
      env: production,
      method: 'PUT',
      token: u.accessToken,
      body: { url: 'http://hooks.partner.example/y' },
    })
    expectErrorEnvelope(updated, 400, 'VALIDATION_ERROR')
    expect(updated.body.error.field, updated.text).toBe('url')
  })
})

describe("webhooks to a receiver on the developer's machine (WEBHOOK_ALLOW_LOOPBACK)", () => {
  const devLoopback = { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: 'true' }

  it('development with WEBHOOK_ALLOW_LOOPBACK=true accepts loopback URLs on create and update', async () => {
    const u = await registerUser()
    const created = await callApp('/api/v1/webhooks', { env: devLoopback, token: u.accessToken, body: { url: 'http://127.0.0.1:4000/hook', events: ['*'] } })
    expect(created.status, created.text).toBe(201)
    expect(created.body.data.url).toBe('http://127.0.0.1:4000/hook')
    const updated = await callApp(`/api/v1/webhooks/${created.body.data.id}`, {
      env: devLoopback,
      method: 'PUT',
      token: u.accessToken,
      body: { url: 'http://localhost:4000/other' },
    })
    expect(updated.status, updated.text).toBe(200)
    expect(updated.body.data.url).toBe('http://localhost:4000/other')
  })

  it('ENVIRONMENT=test with the flag accepts loopback too', async () => {
    const u = await registerUser()
    const res = await callApp('/api/v1/webhooks', { env: { ENVIRONMENT: 'test', WEBHOOK_ALLOW_LOOPBACK: 'true' }, token: u.accessToken, body: { url: 'http://[::1]:4000/', events: ['*'] } })
    expect(res.status, res.text).toBe(201)
  })

  it('without the flag, development refuses loopback and says how to allow it', async () => {
    const u = await registerUser()
    for (const flag of [undefined, '', 'false']) {
      const res = await callApp('/api/v1/webhooks', {
        env: { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: flag },
        token: u.accessToken,
        body: { url: 'http://127.0.0.1:4000/hook', events: ['*'] },
      })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, res.text).toBe('url')
      expect(res.body.error.message, res.text).toMatch(/WEBHOOK_ALLOW_LOOPBACK=true/)
    }
  })

  it('production refuses loopback even with WEBHOOK_ALLOW_LOOPBACK=true, and does not mention the flag', async () => {
    const u = await registerUser()
    const production = { ENVIRONMENT: 'production', METRICS_TOKEN: 'metrics-token-for-this-test-0123', WEBHOOK_ALLOW_LOOPBACK: 'true' }
    for (const url of ['https://127.0.0.1/hook', 'https://localhost/hook', 'https://[::1]/', 'https://2130706433/', 'http://127.0.0.1:4000/hook']) {
      const res = await callApp('/api/v1/webhooks', { env: production, token: u.accessToken, body: { url, events: ['*'] } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, `${url}: ${res.text}`).toBe('url')
      expect(res.body.error.message, res.text).not.toMatch(/WEBHOOK_ALLOW_LOOPBACK/)
    }
    const staging = await callApp('/api/v1/webhooks', { env: { ENVIRONMENT: 'staging', WEBHOOK_ALLOW_LOOPBACK: 'true' }, token: u.accessToken, body: { url: 'https://127.0.0.1/', events: ['*'] } })
    expectErrorEnvelope(staging, 400, 'VALIDATION_ERROR')
  })

  it('development with the flag still refuses private, link-local and metadata addresses', async () => {
    const u = await registerUser()
    for (const url of [
      'http://10.0.0.1/',
      'http://192.168.1.10:4000/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:169.254.169.254]/',
      'http://metadata.google.internal/',
      'http://0.0.0.0:4000/',
    ]) {
      const res = await callApp('/api/v1/webhooks', { env: devLoopback, token: u.accessToken, body: { url, events: ['*'] } })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, `${url}: ${res.text}`).toBe('url')
    }
  })

  it('a flag that is neither true nor false is a configuration error, not a silent default', async () => {
    const res = await callApp('/health/live', { env: { ENVIRONMENT: 'development', WEBHOOK_ALLOW_LOOPBACK: 'yes' } })
    expectErrorEnvelope(res, 500, 'INTERNAL_ERROR')
  })
})

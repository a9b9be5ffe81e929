import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import { createApp } from '../../../src/app'
import worker from '../../../src/index'
import { newId } from '../../../src/lib/ids'
import { JOB_HANDLERS, jobBackoffSeconds } from '../../../src/queue'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { activationRow, outboxRows, purchase, sellingProvider, smsRows, uniqueService } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'

async function boughtNumber(activation: Record<string, unknown> = {}) {
  const offer = await sellingProvider({ serviceCode: uniqueService('sbx'), costUsd: 0.5, activation })
  const u = await registerUser()
  await fund(u.id, 2)
  const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
  expect(res.status, res.text).toBe(201)
  return { offer, u, id: res.body.data.id as string }
}

const sandboxSms = (path: string, opts: Parameters<typeof call>[1]) => call(path, { method: 'POST', ...opts })

async function runJobs(messages: { id: string; body: unknown; attempts?: number }[], events?: Queue) {
  const batch = createMessageBatch(
    'jobs',
    messages.map((m) => ({ id: m.id, timestamp: new Date(), attempts: m.attempts ?? 1, body: m.body })),
  )
  const ctx = createExecutionContext()
  await worker.queue(batch, events ? { ...env, EVENTS: events } : env, ctx)
  return getQueueResult(batch, ctx)
}

describe('POST /api/v1/sandbox/activations/{id}/sms', () => {
  it('delivers the default SMS through the inbound path: stored with its code, sms_received, event emitted', async () => {
    const { u, id } = await boughtNumber()
    const res = await sandboxSms(`/api/v1/sandbox/activations/${id}/sms`, { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ duplicate: false, activationId: id, code: '123456', status: 'sms_received', billing: 'captured' })
    expect((await smsRows(id))[0]).toMatchObject({ text: 'Your code is 123456', sender: 'Sandbox', code: '123456' })
    expect(await outboxRows('sms.received', id)).toHaveLength(1)
    const seen = await call(`/api/numbers/${id}`, { token: u.accessToken })
    expect(seen.body.data, seen.text).toMatchObject({ status: 'sms_received', code: '123456' })
  })

  it('takes text and sender; each call is a new message; works with an API key with numbers:write', async () => {
    const { u, id } = await boughtNumber()
    const key = await createApiKey(u, ['numbers:write'])
    const res = await sandboxSms(`/api/v1/sandbox/activations/${id}/sms`, { apiKey: key.key, body: { text: 'G-778899 is your code', sender: 'Google' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.code).toBe('778899')
    const again = await sandboxSms(`/api/v1/sandbox/activations/${id}/sms`, { apiKey: key.key, body: { text: 'G-778899 is your code', sender: 'Google' } })
    expect(again.body.data.duplicate, again.text).toBe(false)
    expect(await smsRows(id)).toHaveLength(2)
    expectErrorEnvelope(await sandboxSms(`/api/v1/sandbox/activations/${id}/sms`, { apiKey: key.key, body: { text: '' } }), 400, 'VALIDATION_ERROR')
  })

  it("404 for another user's number, 401 without auth, 403 for a read-only key, 409 for a number of a real provider", async () => {
    const { u, id } = await boughtNumber()
    const other = await registerUser()
    expectErrorEnvelope(await sandboxSms(`/api/v1/sandbox/activations/${id}/sms`, { token: other.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await sandboxSms(`/api/v1/sandbox/activations/${id}/sms`, {}), 401, 'UNAUTHORIZED')
    const reader = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await sandboxSms(`/api/v1/sandbox/activations/${id}/sms`, { apiKey: reader.key }), 403, 'FORBIDDEN')
    expect(await smsRows(id)).toHaveLength(0)

    // A number bought from a non-sandbox upstream.
    const providerId = newId('prv')
    const now = Date.now()
    await env.DB.prepare(`INSERT INTO providers (id, code, name, adapter, kinds, config, created_at, updated_at) VALUES (?, ?, 'Hero', 'herosms', '["activation"]', '{}', ?, ?)`)
      .bind(providerId, `hero-${providerId.slice(-6)}`, now, now)
      .run()
    const realId = newId('num')
    await env.DB.prepare(
      `INSERT INTO activations (id, user_id, provider_id, upstream_id, phone, country_code, service_code, price, status, billing, hold_id, expires_at, updated_at)
       VALUES (?, ?, ?, '424242', '+15550001111', 'us', 'tg', 100000, 'active', 'captured', ?, ?, ?)`,
    )
      .bind(realId, u.id, providerId, newId('hld'), now + 600_000, now)
      .run()
    expectErrorEnvelope(await sandboxSms(`/api/v1/sandbox/activations/${realId}/sms`, { token: u.accessToken }), 409, 'NOT_SANDBOX_NUMBER')
  })
})

describe('automatic sandbox SMS in local dev (activation.autoSmsSeconds)', () => {
  function fakeQueue() {
    const sent: { body: any; options?: QueueSendOptions }[] = []
    return {
      sent,
      queue: {
        send: async (body: unknown, options?: QueueSendOptions) => void sent.push({ body, options }),
        sendBatch: async (messages: Iterable<MessageSendRequest>) => {
          for (const m of messages) sent.push({ body: m.body })
        },
      },
    }
  }

  it('in development, a purchase schedules a sandbox.sms job after autoSmsSeconds; the jobs consumer delivers it once', async () => {
    const offer = await sellingProvider({ serviceCode: uniqueService('auto'), costUsd: 0.5, activation: { autoSmsSeconds: 5 } })
    const u = await registerUser()
    await fund(u.id, 2)
    const jobs = fakeQueue()
    const res = await callApp('/api/numbers/purchase', {
      app: createApp(),
      env: { ENVIRONMENT: 'development', JOBS: jobs.queue },
      token: u.accessToken,
      body: { countryCode: 'us', serviceCode: offer.serviceCode },
    })
    expect(res.status, res.text).toBe(201)
    const id = res.body.data.id
    expect(jobs.sent, JSON.stringify(jobs.sent)).toEqual([{ body: { type: 'sandbox.sms', activationId: id, messageId: `auto_${id}` }, options: { delaySeconds: 5 } }])

    const msg = { id: `job-${id}`, body: jobs.sent[0]!.body }
    const events = fakeQueue()
    const first = await runJobs([msg], events.queue as unknown as Queue)
    expect(first.explicitAcks, JSON.stringify(first)).toEqual([msg.id])
    expect(await smsRows(id)).toHaveLength(1)
    // The job sent the events it wrote, as a request does, without waiting for the sweeper.
    const [event] = await outboxRows('sms.received', id)
    expect(events.sent.map((m) => m.body)).toContainEqual({ eventId: event!.id })
    expect(await activationRow(id)).toMatchObject({ status: 'sms_received', billing: 'captured' })
    // Delivered again (at-least-once): acknowledged, nothing stored twice.
    const second = await runJobs([msg])
    expect(second.explicitAcks, JSON.stringify(second)).toEqual([msg.id])
    expect(await smsRows(id)).toHaveLength(1)
    expect(await outboxRows('sms.received', id)).toHaveLength(1)
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
  })

  it('outside development (or without autoSmsSeconds) nothing is scheduled', async () => {
    const auto = await sellingProvider({ serviceCode: uniqueService('auto'), costUsd: 0.1, activation: { autoSmsSeconds: 5 } })
    const manual = await sellingProvider({ serviceCode: uniqueService('man'), costUsd: 0.1 })
    const u = await registerUser()
    await fund(u.id, 2)
    const app = createApp()
    for (const [offer, environment] of [
      [auto, 'test'],
      [auto, 'production'],
      [manual, 'development'],
    ] as const) {
      const jobs = fakeQueue()
      const res = await callApp('/api/numbers/purchase', {
        app,
        // Production needs a METRICS_TOKEN (the app refuses to run without one there).
        env: { ENVIRONMENT: environment, METRICS_TOKEN: 'metrics-token-for-this-test-0123', JOBS: jobs.queue },
        token: u.accessToken,
        body: { countryCode: 'us', serviceCode: offer.serviceCode },
      })
      expect(res.status, res.text).toBe(201)
      expect(jobs.sent, `${environment}: ${JSON.stringify(jobs.sent)}`).toEqual([])
    }
  })

  it('a job for a number no longer waiting, an unknown number or a malformed job is acknowledged without an SMS', async () => {
    const { u, id } = await boughtNumber()
    expect((await call('/api/numbers/cancel', { token: u.accessToken, body: { numberId: id } })).status).toBe(200)
    const msgs = [
      { id: 'm-cancelled', body: { type: 'sandbox.sms', activationId: id, messageId: `auto_${id}` } },
      { id: 'm-unknown', body: { type: 'sandbox.sms', activationId: 'num_nope', messageId: 'auto_num_nope' } },
      { id: 'm-malformed', body: { type: 'sandbox.sms', activationId: 42 } },
    ]
    const result = await runJobs(msgs)
    expect([...result.explicitAcks].sort(), JSON.stringify(result)).toEqual(['m-cancelled', 'm-malformed', 'm-unknown'])
    expect(await smsRows(id)).toHaveLength(0)
    expect(await activationRow(id)).toMatchObject({ status: 'cancelled', billing: 'refunded' })
  })
})

describe('the jobs queue consumer', () => {
  it('retries a failing job with backoff and keeps messages of unknown types', async () => {
    JOB_HANDLERS['test.fail'] = async () => {
      throw new Error('boom')
    }
    try {
      const batch = createMessageBatch('jobs', [
        { id: 'fail-1', timestamp: new Date(), attempts: 3, body: { type: 'test.fail' } },
        { id: 'unknown-1', timestamp: new Date(), attempts: 1, body: { type: 'no.such.type' } },
      ])
      // The test batch does not record retry delays; watch the calls instead.
      const retries = batch.messages.map((m) => vi.spyOn(m, 'retry'))
      const ctx = createExecutionContext()
      await worker.queue(batch, env, ctx)
      const result = await getQueueResult(batch, ctx)
      expect(result.explicitAcks, JSON.stringify(result)).toEqual([])
      expect(result.retryMessages.map((m) => m.msgId).sort(), JSON.stringify(result)).toEqual(['fail-1', 'unknown-1'])
      expect(retries[0]!.mock.calls[0]?.[0]?.delaySeconds).toBe(jobBackoffSeconds(3))
      expect(retries[1]!.mock.calls[0]?.[0]?.delaySeconds).toBeGreaterThan(0)
    } finally {
      delete JOB_HANDLERS['test.fail']
    }
    expect(jobBackoffSeconds(1)).toBe(10)
    expect(jobBackoffSeconds(3)).toBe(40)
    expect(jobBackoffSeconds(20)).toBe(600)
  })
})

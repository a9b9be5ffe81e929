import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import worker from '../../../src/index'
import { runSweeper } from '../../../src/modules/maintenance/sweeper.job'
import { createServices } from '../../../src/services'
import { call, expectErrorEnvelope } from '../../helpers/api'
import { sandboxProvider, type TestProvider } from '../../helpers/catalog'
import { buy, fundedUser, inventoryStatus, lockState, numberRows, outboxEvents, purchase, seedDids } from '../../helpers/dids'

let p: TestProvider

beforeAll(async () => {
  p = await sandboxProvider()
})

async function owned() {
  const [phone] = await seedDids(p, [{}])
  const u = await fundedUser(20)
  const id = (await buy(u, [phone!]))[phone!]!
  return { u, phone: phone!, id }
}

async function runCron(scheduledTime: number) {
  const ctx = createExecutionContext()
  await worker.scheduled(createScheduledController({ cron: '* * * * *', scheduledTime }), env, ctx)
  await waitOnExecutionContext(ctx)
}

describe('DELETE /api/v1/numbers/:id — now', () => {
  it('releases now: status released, NUMBER_RELEASED event, lock free, back on sale for others', async () => {
    const { u, phone, id } = await owned()
    const res = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken, body: { reason: 'no longer needed' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ id, status: 'released', releaseReason: 'no longer needed', scheduledReleaseAt: null, nextRenewalAt: null })
    expect(res.body.data.releasedAt, res.text).not.toBeNull()
    const [row] = await numberRows(phone)
    expect(row, JSON.stringify(row)).toMatchObject({ status: 'released', release_reason: 'no longer needed', next_renewal_at: null })
    const events = await outboxEvents('NUMBER_RELEASED', u.id)
    expect(
      events.map((e) => e.payload),
      JSON.stringify(events),
    ).toEqual([expect.objectContaining({ numberId: id, phoneNumber: phone, numberType: 'LOCAL', reason: 'no longer needed' })])
    expect(await lockState(phone)).toBeNull()
    expect(await inventoryStatus(phone)).toBe('available')
    // Not listed any more (unless asked for), still readable.
    const list = await call('/api/v1/numbers', { token: u.accessToken })
    expect(
      list.body.data.map((n: { id: string }) => n.id),
      list.text,
    ).not.toContain(id)
    expect((await call(`/api/v1/numbers/${id}`, { token: u.accessToken })).body.data.status).toBe('released')
    // Someone else can buy it now: the old row stays released, a new live row appears.
    const other = await fundedUser(10)
    const again = await purchase(other, [phone])
    expect(again.status, again.text).toBe(201)
    expect(again.body.data.results[0].status, again.text).toBe('SUCCESS')
    expect((await numberRows(phone)).map((r) => `${r.user_id === other.id ? 'other' : 'first'}:${r.status}`)).toEqual(['first:released', 'other:active'])
  })

  it('without a body, and again on a released number: the same answer, one event', async () => {
    const { u, id } = await owned()
    const first = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken })
    expect(first.status, first.text).toBe(200)
    const second = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken })
    expect(second.status, second.text).toBe(200)
    expect(second.body.data.releasedAt, second.text).toBe(first.body.data.releasedAt)
    expect((await outboxEvents('NUMBER_RELEASED', u.id)).length).toBe(1)
  })

  it('a body that is not JSON is refused (415), not read as "release now"', async () => {
    const { u, phone, id } = await owned()
    const res = await call(`/api/v1/numbers/${id}`, {
      method: 'DELETE',
      token: u.accessToken,
      rawBody: JSON.stringify({ releaseDate: new Date(Date.now() + 86_400_000).toISOString() }),
      headers: { 'content-type': 'text/plain' },
    })
    expectErrorEnvelope(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect((await numberRows(phone))[0]?.status).toBe('active')
  })

  it('a releaseDate in the past releases now', async () => {
    const { u, id } = await owned()
    const res = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken, body: { releaseDate: new Date(Date.now() - 60_000).toISOString() } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status, res.text).toBe('released')
  })

  it('transferTo is refused (400 TRANSFER_NOT_SUPPORTED); bad dates are 400; nothing changes', async () => {
    const { u, phone, id } = await owned()
    const t = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken, body: { transferTo: 'usr_someone' } })
    expectErrorEnvelope(t, 400, 'TRANSFER_NOT_SUPPORTED')
    const d = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken, body: { releaseDate: 'tomorrow' } })
    expectErrorEnvelope(d, 400, 'VALIDATION_ERROR')
    expect((await numberRows(phone))[0]?.status).toBe('active')
  })

  it('an upstream failure is a 502 and leaves the number as it was', async () => {
    const [phone] = await seedDids(p, [{}])
    const own = await sandboxProvider()
    await env.DB.prepare(`UPDATE did_inventory SET provider_id = ? WHERE phone_number = ?`).bind(own.id, phone).run()
    const u = await fundedUser(10)
    const id = (await buy(u, [phone!]))[phone!]!
    await env.DB.prepare(`UPDATE providers SET adapter = 'unplugged' WHERE id = ?`).bind(own.id).run()
    const res = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken })
    expectErrorEnvelope(res, 502, 'UPSTREAM_ERROR')
    expect((await numberRows(phone!))[0]?.status).toBe('active')
    expect(await lockState(phone!)).toEqual({ holder: u.id, expiresAt: null })
    expect(await outboxEvents('NUMBER_RELEASED', u.id)).toEqual([])
  })
})

describe('DELETE /api/v1/numbers/:id — scheduled, and the sweeper', () => {
  it('a future releaseDate schedules; the cron sweeper releases it once the date passes, once', async () => {
    const { u, phone, id } = await owned()
    const when = new Date(Date.now() + 3 * 86_400_000).toISOString()
    const res = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken, body: { releaseDate: when, reason: 'end of campaign' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data, res.text).toMatchObject({ status: 'active', scheduledReleaseAt: when, releaseReason: 'end of campaign', releasedAt: null })

    // Before the date the sweeper leaves it alone.
    await runCron(Date.now())
    expect((await numberRows(phone))[0]?.status).toBe('active')

    // The date passes.
    await env.DB.prepare(`UPDATE phone_numbers SET release_at = ? WHERE id = ?`)
      .bind(Date.now() - 1000, id)
      .run()
    await runCron(Date.now())
    const [row] = await numberRows(phone)
    expect(row, JSON.stringify(row)).toMatchObject({ status: 'released', release_reason: 'end of campaign', release_at: null })
    expect(await lockState(phone)).toBeNull()
    const events = await outboxEvents('NUMBER_RELEASED', u.id)
    expect(
      events.map((e) => e.payload),
      JSON.stringify(events),
    ).toEqual([expect.objectContaining({ numberId: id, reason: 'end of campaign' })])

    // Again (a repeated or overlapping trigger): nothing changes, no second event.
    await runCron(Date.now())
    await runCron(Date.now())
    expect((await outboxEvents('NUMBER_RELEASED', u.id)).length).toBe(1)
    expect((await numberRows(phone)).map((r) => r.released_at)).toEqual([row!.released_at])
  })

  it('the sweeper step reports what it released and is idempotent', async () => {
    const a = await owned()
    const b = await owned()
    const past = Date.now() - 1000
    await env.DB.batch([
      env.DB.prepare(`UPDATE phone_numbers SET release_at = ? WHERE id = ?`).bind(past, a.id),
      env.DB.prepare(`UPDATE phone_numbers SET release_at = ? WHERE id = ?`).bind(past, b.id),
    ])
    const ctx = createExecutionContext()
    const services = createServices(env, ctx)
    const first = (await runSweeper(services, Date.now())) as Record<string, unknown>
    expect(first.releases, JSON.stringify(first)).toEqual({ released: 2, failed: 0 })
    const second = (await runSweeper(services, Date.now())) as Record<string, unknown>
    expect(second.releases, JSON.stringify(second)).toEqual({ released: 0, failed: 0 })
    await waitOnExecutionContext(ctx)
    expect((await numberRows(a.phone))[0]?.status).toBe('released')
    expect((await numberRows(b.phone))[0]?.status).toBe('released')
  })

  it('a scheduled number can still be released now before its date', async () => {
    const { u, id } = await owned()
    await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken, body: { releaseDate: new Date(Date.now() + 86_400_000).toISOString() } })
    const now = await call(`/api/v1/numbers/${id}`, { method: 'DELETE', token: u.accessToken })
    expect(now.status, now.text).toBe(200)
    expect(now.body.data, now.text).toMatchObject({ status: 'released', scheduledReleaseAt: null })
  })
})

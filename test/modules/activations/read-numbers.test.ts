import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser } from '../../helpers/api'
import { purchase, sellingProvider, smsWebhook, uniqueService } from '../../helpers/activations'
import { fund } from '../../helpers/catalog'

async function userWithNumbers(count: number) {
  const offer = await sellingProvider({ serviceCode: uniqueService('rd'), costUsd: 0.1 })
  const u = await registerUser()
  await fund(u.id, 5)
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
    expect(res.status, res.text).toBe(201)
    ids.push(res.body.data.id)
  }
  return { offer, u, ids }
}

describe('GET /api/numbers/my', () => {
  it('lists only your numbers, newest first, with page/limit pagination and a status filter', async () => {
    const { offer, u, ids } = await userWithNumbers(3)
    const stranger = await userWithNumbers(1)
    expect((await smsWebhook(offer.provider.code, { activationId: ids[0], text: 'code 5566' })).status).toBe(200)

    const all = await call('/api/numbers/my', { token: u.accessToken })
    expect(all.status, all.text).toBe(200)
    expect(
      all.body.data.map((n: { id: string }) => n.id),
      all.text,
    ).toEqual([...ids].reverse())
    expect(all.body.data.some((n: { id: string }) => n.id === stranger.ids[0])).toBe(false)
    expect(all.body.pagination).toEqual({ page: 1, limit: 20, total: 3, totalPages: 1, hasNext: false, hasPrevious: false })
    expect(all.body.data[2]).toMatchObject({ id: ids[0], status: 'sms_received', code: '5566' })
    expect(all.body.data[0]).toMatchObject({ id: ids[2], status: 'active', code: null, provider: offer.provider.code })

    const page2 = await call('/api/numbers/my?page=2&limit=2', { token: u.accessToken })
    expect(page2.status, page2.text).toBe(200)
    expect(page2.body.data.map((n: { id: string }) => n.id)).toEqual([ids[0]])
    expect(page2.body.pagination).toMatchObject({ page: 2, limit: 2, total: 3, totalPages: 2, hasNext: false, hasPrevious: true })

    const waiting = await call('/api/numbers/my?status=active', { token: u.accessToken })
    expect(
      waiting.body.data.map((n: { id: string }) => n.id),
      waiting.text,
    ).toEqual([ids[2], ids[1]])
    expect(waiting.body.pagination.total).toBe(2)

    expectErrorEnvelope(await call('/api/numbers/my?status=bogus', { token: u.accessToken }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await call('/api/numbers/my'), 401, 'UNAUTHORIZED')
  })
})

describe('GET /api/numbers/{id}', () => {
  it('shows your number with its SMS; another user gets 404, as does an unknown id', async () => {
    const { offer, u, ids } = await userWithNumbers(1)
    const id = ids[0]!
    const before = await call(`/api/numbers/${id}`, { token: u.accessToken })
    expect(before.status, before.text).toBe(200)
    expect(before.body.data).toMatchObject({ id, status: 'active', sms: [], code: null })

    expect((await smsWebhook(offer.provider.code, { activationId: id, text: 'Your code is 111-222', sender: 'Telegram', messageId: 'm-1' })).status).toBe(200)
    const after = await call(`/api/numbers/${id}`, { token: u.accessToken })
    expect(after.body.data, after.text).toMatchObject({ id, status: 'sms_received', code: '111222' })
    expect(after.body.data.sms, after.text).toHaveLength(1)
    expect(after.body.data.sms[0]).toMatchObject({ code: '111222', text: 'Your code is 111-222', sender: 'Telegram' })

    const other = await registerUser()
    expectErrorEnvelope(await call(`/api/numbers/${id}`, { token: other.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call('/api/numbers/num_doesnotexist', { token: u.accessToken }), 404, 'NOT_FOUND')
  })
})

describe('GET /api/v1/sms/{activationId}', () => {
  it('answers {activationId, status, phone, sms, code} to an API key with numbers:read; 404 for others; 403/401 without rights', async () => {
    const { offer, u, ids } = await userWithNumbers(1)
    const id = ids[0]!
    const key = await createApiKey(u, ['numbers:read'])
    const waiting = await call(`/api/v1/sms/${id}`, { apiKey: key.key })
    expect(waiting.status, waiting.text).toBe(200)
    expect(waiting.body.data).toMatchObject({ activationId: id, status: 'active', sms: [], code: null })
    expect(waiting.body.data.phone).toMatch(/^\+/)

    await smsWebhook(offer.provider.code, { activationId: id, text: 'first 1111', messageId: 'a', receivedAt: '2026-01-01T10:00:00Z' })
    await smsWebhook(offer.provider.code, { activationId: id, text: 'second 2222', messageId: 'b', receivedAt: '2026-01-01T10:01:00Z' })
    const got = await call(`/api/v1/sms/${id}`, { apiKey: key.key })
    expect(got.status, got.text).toBe(200)
    expect(got.body.data.code, got.text).toBe('2222')
    expect(got.body.data.sms.map((s: { code: string }) => s.code)).toEqual(['1111', '2222'])
    expect(got.body.data.sms[1]).toEqual({ code: '2222', text: 'second 2222', sender: null, receivedAt: '2026-01-01T10:01:00.000Z' })

    const other = await registerUser()
    const otherKey = await createApiKey(other, ['numbers:read'])
    expectErrorEnvelope(await call(`/api/v1/sms/${id}`, { apiKey: otherKey.key }), 404, 'NOT_FOUND')
    const wrongScope = await createApiKey(u, ['wallet:read'])
    expectErrorEnvelope(await call(`/api/v1/sms/${id}`, { apiKey: wrongScope.key }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call(`/api/v1/sms/${id}`), 401, 'UNAUTHORIZED')
  })
})

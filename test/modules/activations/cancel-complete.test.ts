import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { activationRow, purchase, sellingProvider, smsWebhook, uniqueService, walletStub } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'

async function boughtNumber(costUsd = 0.5) {
  const offer = await sellingProvider({ serviceCode: uniqueService('cx'), costUsd })
  const u = await registerUser()
  await fund(u.id, 2)
  const res = await purchase(u, { countryCode: 'us', serviceCode: offer.serviceCode })
  expect(res.status, res.text).toBe(201)
  return { offer, u, id: res.body.data.id as string }
}

const cancel = (u: TestUser, numberId: string) => call('/api/numbers/cancel', { token: u.accessToken, body: { numberId } })
const complete = (u: TestUser, id: string) => call(`/api/numbers/${id}/complete`, { token: u.accessToken, method: 'POST' })

describe('POST /api/numbers/cancel', () => {
  it('cancels before any SMS and refunds: balance restored, one refund entry, status cancelled/refunded', async () => {
    const { offer, u, id } = await boughtNumber()
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
    const res = await cancel(u, id)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data).toMatchObject({ id, status: 'cancelled', billing: 'refunded' })
    const audit = await walletAudit(u.id)
    expect(audit).toMatchObject({ balance: 2_000_000, ledgerSum: 2_000_000, activeHolds: 0, entries: 3 })
    const refunds = (await walletStub(u.id).history(u.id, 1, 10)).entries.filter((e) => e.type === 'credit' && e.referenceId === id)
    expect(refunds, JSON.stringify(refunds)).toHaveLength(1)
    expect(refunds[0]!.amount).toBe(offer.price)
    expect(await activationRow(id)).toMatchObject({ status: 'cancelled', billing: 'refunded' })
  })

  it('a second cancel is refused (409 ACTIVATION_NOT_ACTIVE) and refunds nothing', async () => {
    const { u, id } = await boughtNumber()
    expect((await cancel(u, id)).status).toBe(200)
    expectErrorEnvelope(await cancel(u, id), 409, 'ACTIVATION_NOT_ACTIVE')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 2_000_000, entries: 3 })
  })

  it('concurrent cancels refund exactly once', async () => {
    const { u, id } = await boughtNumber()
    const answers = await Promise.all(Array.from({ length: 5 }, () => cancel(u, id)))
    const texts = answers.map((a) => `${a.status} ${a.text}`).join('\n')
    expect(answers.filter((a) => a.status === 200).length, texts).toBe(1)
    for (const a of answers.filter((x) => x.status !== 200)) expectErrorEnvelope(a, 409, 'ACTIVATION_NOT_ACTIVE')
    const audit = await walletAudit(u.id)
    expect(audit, JSON.stringify(audit)).toMatchObject({ balance: 2_000_000, ledgerSum: 2_000_000, entries: 3 })
  })

  it('is refused once an SMS arrived (409 ACTIVATION_HAS_SMS): the number stays paid', async () => {
    const { offer, u, id } = await boughtNumber()
    const sms = await smsWebhook(offer.provider.code, { activationId: id, text: 'Your code is 4455' })
    expect(sms.status, sms.text).toBe(200)
    const res = await cancel(u, id)
    expectErrorEnvelope(res, 409, 'ACTIVATION_HAS_SMS')
    expect(await activationRow(id)).toMatchObject({ status: 'sms_received', billing: 'captured' })
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
  })

  it("another user's number is a 404 and stays untouched; bad input is a 400; no auth is a 401", async () => {
    const { offer, u, id } = await boughtNumber()
    const other = await registerUser()
    expectErrorEnvelope(await cancel(other, id), 404, 'NOT_FOUND')
    expect(await activationRow(id)).toMatchObject({ status: 'active', billing: 'captured' })
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
    expectErrorEnvelope(await call('/api/numbers/cancel', { token: u.accessToken, body: {} }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await call('/api/numbers/cancel', { body: { numberId: id } }), 401, 'UNAUTHORIZED')
    const readOnly = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await call('/api/numbers/cancel', { apiKey: readOnly.key, body: { numberId: id } }), 403, 'FORBIDDEN')
  })
})

describe('POST /api/numbers/{id}/complete', () => {
  it('completes a number whose SMS arrived (again is fine), refuses one still waiting, 404 for others', async () => {
    const { offer, u, id } = await boughtNumber()
    expectErrorEnvelope(await complete(u, id), 409, 'ACTIVATION_NO_SMS')
    expect((await smsWebhook(offer.provider.code, { activationId: id, text: 'code 918273' })).status).toBe(200)
    const other = await registerUser()
    expectErrorEnvelope(await complete(other, id), 404, 'NOT_FOUND')
    const done = await complete(u, id)
    expect(done.status, done.text).toBe(200)
    expect(done.body.data).toMatchObject({ id, status: 'completed', billing: 'captured' })
    const again = await complete(u, id)
    expect(again.status, again.text).toBe(200)
    expect(again.body.data.status).toBe('completed')
    expect(await activationRow(id)).toMatchObject({ status: 'completed', billing: 'captured' })
    expectErrorEnvelope(await cancel(u, id), 409, 'ACTIVATION_HAS_SMS')
    expect((await walletAudit(u.id)).balance).toBe(2_000_000 - offer.price)
  })

  it('a cancelled number cannot be completed (409 ACTIVATION_NOT_ACTIVE)', async () => {
    const { u, id } = await boughtNumber()
    expect((await cancel(u, id)).status).toBe(200)
    expectErrorEnvelope(await complete(u, id), 409, 'ACTIVATION_NOT_ACTIVE')
  })
})

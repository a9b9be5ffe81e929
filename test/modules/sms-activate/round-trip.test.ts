/**
 * Both ends of the protocol agree: the project's own HeroSMS adapter (the protocol's client), its
 * `fetch` pointed at our own handler_api.php inside workerd, reads the offers, buys a number,
 * reads the code the sandbox delivers and completes it — charged exactly once; and cancels a
 * number twice, refunded once.
 */
import { env } from 'cloudflare:test'
import { exports } from 'cloudflare:workers'
import { beforeAll, describe, expect, it } from 'vitest'
import { HeroSmsActivations, HeroSmsConfig } from '../../../src/providers/numbers/herosms'
import { call, createApiKey, registerUser } from '../../helpers/api'
import { sellingProvider } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'

async function customer(usd: number) {
  const user = await registerUser()
  const { key } = await createApiKey(user, ['numbers:read', 'numbers:write', 'wallet:read'])
  await fund(user.id, usd)
  const requests: string[] = []
  const adapter = new HeroSmsActivations({
    provider: 'switchboard-itself',
    config: HeroSmsConfig.parse({ baseUrl: 'http://switchboard.test' }),
    apiKey: key,
    fetch: async (input, init) => {
      const request = new Request(input, init)
      requests.push(new URL(request.url).searchParams.get('action') ?? '')
      return (exports as any).default.fetch(request)
    },
  })
  return { user, key, adapter, requests }
}

async function activationOf(alias: string) {
  const row = await env.DB.prepare('SELECT activation_id FROM activation_aliases WHERE id = ?').bind(Number(alias)).first<{ activation_id: string }>()
  return row!.activation_id
}

let price = 0

beforeAll(async () => {
  price = (await sellingProvider({ serviceCode: 'telegram', serviceName: 'Telegram', countryCode: 'us', costUsd: 0.75, stock: 50 })).price
})

describe('the HeroSMS adapter against our handler_api.php', () => {
  it('lists our offers, buys, reads the delivered code, completes — the wallet charged exactly once', async () => {
    const c = await customer(5)
    const offers = await c.adapter.listOffers()
    expect(offers).toContainEqual(expect.objectContaining({ serviceCode: 'telegram', countryCode: 'us', upstreamService: 'tg', upstreamCountry: '187', cost: price }))

    const bought = await c.adapter.buy({ serviceCode: 'telegram', countryCode: 'us' })
    expect(bought.upstreamId).toMatch(/^\d+$/)
    expect(bought.phone).toMatch(/^\+1555\d{7}$/)
    expect(await c.adapter.status(bought.upstreamId)).toEqual({ status: 'waiting' })

    const id = await activationOf(bought.upstreamId)
    const sms = await call(`/api/v1/sandbox/activations/${id}/sms`, { apiKey: c.key, body: { text: 'Telegram code 482913' } })
    expect(sms.status, sms.text).toBe(200)
    expect(await c.adapter.status(bought.upstreamId)).toEqual({ status: 'received', code: '482913' })

    await c.adapter.complete(bought.upstreamId)
    const row = await env.DB.prepare('SELECT status, billing, phone FROM activations WHERE id = ?').bind(id).first()
    expect(row).toEqual({ status: 'completed', billing: 'captured', phone: bought.phone })
    expect(c.requests).toEqual(['getPrices', 'getNumber', 'getStatus', 'getStatus', 'setStatus'])

    const audit = await walletAudit(c.user.id)
    expect(audit.balance, JSON.stringify(audit)).toBe(5_000_000 - price)
    // The funding and one charge.
    expect(audit.entries).toBe(2)
    expect(audit.ledgerSum).toBe(audit.balance)
    expect(audit.activeHolds).toBe(0)
  })

  it('cancels twice (after the protocol’s 2 minutes): both answered ACCESS_CANCEL, refunded once', async () => {
    const c = await customer(2)
    const bought = await c.adapter.buy({ serviceCode: 'telegram', countryCode: 'us' })
    const id = await activationOf(bought.upstreamId)
    await env.DB.prepare('UPDATE activations SET created_at = ? WHERE id = ?')
      .bind(Date.now() - 3 * 60_000, id)
      .run()
    await c.adapter.cancel(bought.upstreamId)
    await c.adapter.cancel(bought.upstreamId)
    expect(await c.adapter.status(bought.upstreamId)).toEqual({ status: 'cancelled' })
    const audit = await walletAudit(c.user.id)
    expect(audit.balance, JSON.stringify(audit)).toBe(2_000_000)
    // Funding, the charge, one refund.
    expect(audit.entries).toBe(3)
  })

  it('refusals reach the adapter as the protocol words it knows', async () => {
    const poor = await customer(0.1)
    await expect(poor.adapter.buy({ serviceCode: 'telegram', countryCode: 'us' })).rejects.toThrow(/getNumber: NO_BALANCE/)
    await expect(poor.adapter.buy({ serviceCode: 'telegram', countryCode: 'gb' })).rejects.toMatchObject({ code: 'NO_NUMBERS_AVAILABLE' })
    await expect(poor.adapter.status('424242424')).rejects.toThrow(/getStatus: NO_ACTIVATION/)
  })
})

import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/app'
import { registerUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { activationsOfUser, sellingProvider, uniqueService } from '../../helpers/activations'
import { fund, walletAudit } from '../../helpers/catalog'

/** The purchase class allows 10/min per user; these tests are about money, not about that limit. */
const RAISED = { RATE_LIMITS: JSON.stringify({ purchase: { limit: 1000 } }) }

async function race(n: number, affordable: number) {
  const offer = await sellingProvider({ serviceCode: uniqueService('race'), costUsd: 0.5 })
  expect(offer.price).toBe(500_000)
  const u = await registerUser()
  await fund(u.id, (affordable * offer.price) / 1_000_000)
  const app = createApp()
  const answers = await Promise.all(
    Array.from({ length: n }, () => callApp('/api/numbers/purchase', { app, env: RAISED, token: u.accessToken, body: { countryCode: 'us', serviceCode: offer.serviceCode } })),
  )
  const won = answers.filter((a) => a.status === 201)
  const lost = answers.filter((a) => a.status !== 201)
  const texts = answers.map((a) => `${a.status} ${a.text}`).join('\n')
  expect(won.length, texts).toBe(affordable)
  expect(lost.length, texts).toBe(n - affordable)
  for (const a of lost) {
    expect(a.status, a.text).toBe(400)
    expect(a.body.error.code, a.text).toBe('INSUFFICIENT_BALANCE')
  }
  expect(new Set(won.map((a) => a.body.data.id)).size, texts).toBe(affordable)

  const rows = await activationsOfUser(u.id)
  expect(rows.length).toBe(affordable)
  expect(rows.every((r) => r.billing === 'captured' && r.status === 'active')).toBe(true)
  const audit = await walletAudit(u.id)
  expect(audit.balance, JSON.stringify(audit)).toBe(0)
  expect(audit.ledgerSum, JSON.stringify(audit)).toBe(audit.balance)
  expect(audit.activeHolds, JSON.stringify(audit)).toBe(0)
  expect(audit.reserved, JSON.stringify(audit)).toBe(0)
  expect(audit.negativeAvailable).toBe(false)
  expect(audit.entries, 'one funding credit + one capture per number').toBe(1 + affordable)
}

describe('concurrent purchases on one wallet', () => {
  it('10 at once on a wallet that pays for 4: exactly 4 succeed, 6 get 400 INSUFFICIENT_BALANCE, the ledger sums to the balance', async () => {
    await race(10, 4)
  })

  it('50 at once on a wallet that pays for 20 (purchase rate limit raised): exactly 20 succeed', async () => {
    await race(50, 20)
  }, 60_000)
})

/**
 * Concurrency: many purchases of one number at once. The invariant, not a timing: exactly one
 * owner, the owner charged exactly once, every loser's money back in full with no hold left.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../../src/app'
import type { TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { sandboxProvider, walletAudit, type TestProvider } from '../../helpers/catalog'
import { fundedUser, lockState, micros, numberRows, seedDids } from '../../helpers/dids'

const RAISED = { RATE_LIMITS: JSON.stringify({ purchase: { limit: 1000 } }) }
let p: TestProvider

beforeAll(async () => {
  p = await sandboxProvider()
})

function buyConcurrently(users: TestUser[], phone: string) {
  const app = createApp()
  return Promise.all(users.map((u) => callApp('/api/v1/numbers/purchase', { app, token: u.accessToken, body: { numbers: [{ phoneNumber: phone }] }, env: RAISED })))
}

describe('8 accounts racing for one DID', () => {
  for (const round of [1, 2, 3]) {
    it(`round ${round}: exactly one owner, charged once; every loser whole, with no hold left`, async () => {
      const [n] = await seedDids(p, [{ setup: 1, monthly: 2 }])
      const users = await Promise.all(Array.from({ length: 8 }, () => fundedUser(10)))
      const responses = await buyConcurrently(users, n!)
      const summary = responses.map((r) => `${r.status} ${r.text.slice(0, 300)}`).join('\n')

      const wins = responses.map((r, i) => ({ r, u: users[i]! })).filter(({ r }) => r.status === 201 && r.body.data.results[0].status === 'SUCCESS')
      expect(wins.length, summary).toBe(1)
      const winner = wins[0]!.u
      for (const [i, r] of responses.entries()) {
        if (users[i] === winner) continue
        // A loser is refused by the NumberLock (or the sold inventory) before any money moves or
        // any upstream call: 409, no order. (A FAILED result here would mean two accounts bought it upstream.)
        expect(r.status === 409 && r.body.error?.code === 'NUMBER_NOT_AVAILABLE', `loser ${i}: ${r.status} ${r.text}`).toBe(true)
      }

      const rows = await numberRows(n!)
      expect(rows.length, JSON.stringify(rows)).toBe(1)
      expect(rows[0]!.user_id).toBe(winner.id)
      expect(await lockState(n!)).toEqual({ holder: winner.id, expiresAt: null })

      const w = await walletAudit(winner.id)
      expect(w, JSON.stringify(w)).toMatchObject({ balance: micros(7), available: micros(7), reserved: 0, activeHolds: 0, entries: 2, ledgerSum: micros(7) })
      for (const u of users.filter((x) => x !== winner)) {
        const lw = await walletAudit(u.id)
        expect(lw, `${u.id}: ${JSON.stringify(lw)}`).toMatchObject({ balance: micros(10), available: micros(10), reserved: 0, activeHolds: 0, entries: 1 })
      }
      const charged = await env.DB.prepare(`SELECT COALESCE(SUM(charged), 0) AS s FROM orders WHERE id IN (SELECT order_id FROM order_items WHERE phone_number = ?)`).bind(n).first<{ s: number }>()
      expect(charged?.s).toBe(micros(3))
    })
  }
})

describe('one account racing itself for one DID', () => {
  it('two concurrent purchases by the same account: one number row, charged once (D1 refuses the second owner row)', async () => {
    const [n] = await seedDids(p, [{ setup: 1, monthly: 2 }])
    const u = await fundedUser(10)
    const responses = await buyConcurrently([u, u, u], n!)
    const summary = responses.map((r) => `${r.status} ${r.text.slice(0, 400)}`).join('\n')
    const successes = responses.filter((r) => r.status === 201 && r.body.data.results[0].status === 'SUCCESS')
    expect(successes.length, summary).toBe(1)
    const rows = await numberRows(n!)
    expect(rows.length, JSON.stringify(rows)).toBe(1)
    const w = await walletAudit(u.id)
    expect(w, `${JSON.stringify(w)}\n${summary}`).toMatchObject({ balance: micros(7), reserved: 0, activeHolds: 0, ledgerSum: micros(7) })
    // The owner keeps the lock for good, whatever order the losing flows finished in.
    expect(await lockState(n!)).toEqual({ holder: u.id, expiresAt: null })
  })
})

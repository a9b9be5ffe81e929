import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { runSweeper } from '../../../src/modules/maintenance/sweeper.job'
import { createServices } from '../../../src/services'
import { registerUser } from '../../helpers/api'

async function order(userId: string, status: string, ageMs: number, holdId: string | null, items = 1) {
  const id = `ord_stuck_${Math.random().toString(36).slice(2, 10)}`
  const at = Date.now() - ageMs
  await env.DB.prepare(
    `INSERT INTO orders (id, order_number, user_id, type, status, payment_status, total, charged, refunded, currency, hold_id, billing, created_at, updated_at)
     VALUES (?, ?, ?, 'number_purchase', ?, 'held', 1000000, 0, 0, 'USD', ?, '{}', ?, ?)`,
  )
    .bind(id, `ORD-${id}`, userId, status, holdId, at, at)
    .run()
  for (let i = 0; i < items; i++) {
    await env.DB.prepare(
      `INSERT INTO order_items (id, order_id, user_id, phone_number, status, setup_price, monthly_price, request, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'pending', 0, 0, '{}', ?, ?)`,
    )
      .bind(`${id}_i${i}`, id, userId, `+1415555${String(1000 + i)}`, at, at)
      .run()
  }
  return id
}

const sweep = (at = Date.now()) => runSweeper(createServices(env as unknown as Env, createExecutionContext()), at)
const statusOf = async (id: string) => (await env.DB.prepare('SELECT status, payment_status FROM orders WHERE id = ?').bind(id).first<{ status: string; payment_status: string }>())!

describe('sweeper: orders a crash left processing', () => {
  it('closes an order stuck past its hold as failed, with its pending items and a timeline entry; a second run changes nothing', async () => {
    const u = await registerUser()
    const stuck = await order(u.id, 'processing', 20 * 60_000, 'hld_stuck_1', 2)
    const fresh = await order(u.id, 'processing', 60_000, 'hld_fresh_1')
    const done = await order(u.id, 'completed', 60 * 60_000, 'hld_done_1')
    await sweep()
    expect(await statusOf(stuck)).toEqual({ status: 'failed', payment_status: 'failed' })
    expect(await statusOf(fresh)).toEqual({ status: 'processing', payment_status: 'held' })
    expect((await statusOf(done)).status).toBe('completed')
    const items = await env.DB.prepare('SELECT status, error FROM order_items WHERE order_id = ?').bind(stuck).all<{ status: string; error: string }>()
    expect(items.results.map((i) => i.status)).toEqual(['failed', 'failed'])
    expect(items.results[0]!.error).toMatch(/INTERRUPTED/)
    const events = await env.DB.prepare('SELECT status FROM order_events WHERE order_id = ?').bind(stuck).all()
    expect(events.results).toHaveLength(1)
    await sweep()
    expect((await env.DB.prepare('SELECT status FROM order_events WHERE order_id = ?').bind(stuck).all()).results).toHaveLength(1)
  })

  it('leaves an order whose hold recorded an outcome (its last batch ran)', async () => {
    const u = await registerUser()
    const id = await order(u.id, 'processing', 20 * 60_000, 'hld_settled_1')
    await env.DB.prepare(`INSERT INTO hold_outcomes (hold_id, user_id, outcome, amount, created_at) VALUES ('hld_settled_1', ?, 'capture', 1000000, ?)`).bind(u.id, Date.now()).run()
    await sweep()
    expect((await statusOf(id)).status).toBe('processing')
  })
})

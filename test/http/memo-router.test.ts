import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { MEMO_SIZE, MemoRouter } from '../../src/http/memo-router'

describe('MemoRouter', () => {
  it('answers a repeated (method, path) from memory, with the same handlers and parameters', () => {
    const r = new MemoRouter<string>()
    r.add('GET', '/api/numbers/:id', 'number')
    r.add('POST', '/api/numbers/purchase', 'purchase')
    r.add('ALL', '*', 'every')
    const first = r.match('GET', '/api/numbers/num_1')
    expect(r.match('GET', '/api/numbers/num_1')).toBe(first)
    const other = r.match('GET', '/api/numbers/num_2')
    expect(other).not.toBe(first)
    expect(r.match('POST', '/api/numbers/purchase')).not.toBe(r.match('GET', '/api/numbers/purchase'))
  })

  it('keeps at most MEMO_SIZE paths, the oldest going first', () => {
    const r = new MemoRouter<string>()
    r.add('GET', '/n/:id', 'n')
    const oldest = r.match('GET', '/n/0')
    const newest = r.match('GET', '/n/1')
    for (let i = 2; i <= MEMO_SIZE; i++) r.match('GET', `/n/${i}`)
    // MEMO_SIZE + 1 paths seen: the first went, the second is still kept.
    expect(r.match('GET', '/n/1')).toBe(newest)
    expect(r.match('GET', '/n/0')).not.toBe(oldest)
    expect(r.match('GET', '/n/0')[0]).toEqual(oldest[0])
  })

  it('routes a Hono app exactly as its default router does, parameters included', async () => {
    const app = new Hono({ router: new MemoRouter() })
    app.use('*', async (c, next) => {
      await next()
      c.header('x-seen', '1')
    })
    app.get('/api/numbers/:id', (c) => c.json({ id: c.req.param('id') }))
    app.post('/api/numbers/purchase', (c) => c.json({ bought: true }))
    for (const id of ['num_a', 'num_b', 'num_a', 'caf%C3%A9']) {
      const res = await app.request(`/api/numbers/${id}`)
      expect(res.headers.get('x-seen')).toBe('1')
      expect(await res.json()).toEqual({ id: decodeURIComponent(id) })
    }
    expect(await (await app.request('/api/numbers/purchase', { method: 'POST' })).json()).toEqual({ bought: true })
    expect((await app.request('/api/missing')).status).toBe(404)
  })
})

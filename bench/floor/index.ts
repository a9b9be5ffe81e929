/**
 * The floor of `npm run bench`: a minimal Hono Worker on the same runtime as Switchboard.
 *
 *   GET /hello  — a small JSON answer, no I/O: the floor of GET /health.
 *   GET /do-d1  — one Durable Object RPC (a read of the object's SQLite storage, as the Wallet's
 *                 balance is) and one D1 point read by primary key: the floor of every route that
 *                 needs an account's object and a row.
 *   POST /do-d1-write — the same two calls, each writing: the object updates a row of its storage
 *                 (as a Wallet operation does) and D1 inserts a row. A reference for routes that
 *                 change money, which must write both (no target is judged against it).
 *
 * Nothing else: no middleware, no validation, no envelope. The bench seeds the D1 row
 * (`floor_kv`, id 'k1') and creates the `floor_log` table; the object creates its own table.
 */
import { DurableObject } from 'cloudflare:workers'
import { Hono } from 'hono'

interface Env {
  DB: D1Database
  FLOOR: DurableObjectNamespace<FloorObject>
}

export class FloorObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`)
      ctx.storage.sql.exec(`INSERT OR IGNORE INTO kv (key, value) VALUES ('balance', 0)`)
    })
  }

  write(): { value: number } {
    const row = this.ctx.storage.sql.exec(`UPDATE kv SET value = value + 1 WHERE key = 'balance' RETURNING value`).one()
    return { value: Number(row.value) }
  }

  read(): { value: number } {
    const row = this.ctx.storage.sql.exec(`SELECT value FROM kv WHERE key = 'balance'`).one()
    return { value: Number(row.value) }
  }
}

const app = new Hono<{ Bindings: Env }>()

app.get('/hello', (c) => c.json({ ok: true, timestamp: new Date().toISOString() }))

app.get('/do-d1', async (c) => {
  const object = await c.env.FLOOR.get(c.env.FLOOR.idFromName('floor')).read()
  const row = await c.env.DB.prepare('SELECT id, value FROM floor_kv WHERE id = ?').bind('k1').first<{ id: string; value: string }>()
  return c.json({ ok: true, object: object.value, row: row?.value ?? null })
})

app.post('/do-d1-write', async (c) => {
  const object = await c.env.FLOOR.get(c.env.FLOOR.idFromName('floor')).write()
  const id = crypto.randomUUID()
  await c.env.DB.prepare('INSERT INTO floor_log (id, value, created_at) VALUES (?, ?, ?)').bind(id, object.value, Date.now()).run()
  return c.json({ ok: true, id, object: object.value }, 201)
})

export default app

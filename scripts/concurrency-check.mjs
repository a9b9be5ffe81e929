#!/usr/bin/env node
// `npm run check:concurrency`: no promise and no I/O object may cross requests. In workerd, work a
// request starts belongs to that request: another request that awaits it is cancelled ("Promise
// will never complete") or refused ("Cannot perform I/O on behalf of a different request"), and the
// work is dropped. vitest runs every call of a test file in one request context, so it cannot see
// this; here the Worker runs as in production — built as `wrangler deploy` builds it, in workerd
// through Miniflare, every HTTP request its own context, the API-key cache on — under mixed load:
// purchases (slow, with deferred work) and reads, several API keys of one account at once, waves
// that start while the last one's deferred work still runs, and clients that leave early.
// It passes when every request a client waited for was answered, every API-key request that was
// answered is metered exactly once, and workerd logged no cross-request error. Exit code 1 otherwise.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './seed.mjs'
import { connect } from './bench/profile.mjs'
import { build, startWorker } from './bench/runtime.mjs'
import { createAccounts, fund, migrate } from './bench/seed.mjs'

const SECONDS = Number(process.env.CONCURRENCY_CHECK_SECONDS ?? 20)
const PER_WAVE = 40
const KEYS = 6
const STATE = join(root, '.cache', 'concurrency-check')
const BAD = /never complete|different request|will never generate a response|Uncaught/i
const log = (msg) => process.stderr.write(`[concurrency] ${msg}\n`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

rmSync(STATE, { recursive: true, force: true })
mkdirSync(join(STATE, 'out'), { recursive: true })
const logFile = join(STATE, 'worker.log')
writeFileSync(logFile, '')

log('building the Worker (wrangler deploy --dry-run) …')
const scriptPath = build('wrangler.toml', join(STATE, 'out'))
const secret = 'concurrency-check-secret-0123456789abcdefghij'
const { mf, url, inspectorUrl } = await startWorker({
  configPath: 'wrangler.toml',
  scriptPath,
  persistTo: join(STATE, 'state'),
  logFile,
  // The runtime reports uncaught errors of the isolate (a cancelled promise, I/O from another
  // request) to its inspector, as `wrangler dev` shows them; they never reach the log stream.
  inspector: true,
  vars: {
    // development: the API-key cache is on (it is off under ENVIRONMENT=test only).
    ENVIRONMENT: 'development',
    APP_URL: 'http://localhost:8787',
    JWT_SECRET: secret,
    ENCRYPTION_KEY: secret,
    PROVIDER_WEBHOOK_SECRET: secret,
    METRICS_TOKEN: secret,
    RATE_LIMITS: JSON.stringify({ general: { limit: 1_000_000 }, purchase: { limit: 1_000_000 }, public: { limit: 1_000_000 } }),
  },
})

const uncaught = []
const base = inspectorUrl.replace(/^ws/, 'http').replace(/\/$/, '')
const target = (await (await fetch(`${base}/json`)).json()).find((t) => t.id === 'core:user:')
if (!target) throw new Error('no inspector target for the Worker')
const inspector = await connect(target.webSocketDebuggerUrl)
inspector.on('Runtime.exceptionThrown', (p) => uncaught.push(p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text ?? 'exception'))
await inspector.send('Runtime.enable')

let failed = false
try {
  const db = await mf.getD1Database('DB')
  await migrate(db)
  const now = Date.now()
  await db
    .prepare(
      `INSERT INTO providers (id, code, name, adapter, kinds, status, healthy, priority, config, created_at, updated_at)
       VALUES ('prv_check', 'sandbox', 'Sandbox', 'sandbox', '["activation","did"]', 'active', 1, 100, '{"activation":{},"did":{}}', ?, ?)`,
    )
    .bind(now, now)
    .run()
  const sync = await (await mf.getWorker()).scheduled({ cron: '*/15 * * * *' })
  if (sync.outcome !== 'ok') throw new Error(`provider sync failed: ${JSON.stringify(sync)}`)
  const offer = await db.prepare(`SELECT service_code AS serviceCode, country_code AS countryCode FROM offers WHERE stock > 0 ORDER BY price LIMIT 1`).first()
  // One account, several keys (rows of their own; the key cache holds each for 10 s).
  const [account] = await createAccounts(db, ['concurrency'])
  const extra = await createAccounts(
    db,
    Array.from({ length: KEYS - 1 }, (_, i) => `concurrency-key-${i}`),
  )
  await db
    .prepare(`UPDATE api_keys SET user_id = ? WHERE user_id IN (${extra.map(() => '?').join(', ')})`)
    .bind(account.userId, ...extra.map((a) => a.userId))
    .run()
  const keys = [account.key, ...extra.map((a) => a.key)]
  await fund(mf, [account], 100_000)

  log(`${SECONDS} s of waves of ${PER_WAVE} concurrent requests (purchases, cancels, reads; some clients leave early) with ${KEYS} keys against ${url} …`)
  const statuses = {}
  let answered = 0
  let abandoned = 0
  const post = (path, key, body, signal) => fetch(`${url}${path}`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body), signal })
  for (let wave = 0, end = Date.now() + SECONDS * 1000; Date.now() < end; wave++) {
    await Promise.all(
      Array.from({ length: PER_WAVE }, async (_, i) => {
        const key = keys[(wave + i) % keys.length]
        const leave = i % 7 === 3
        const ac = new AbortController()
        if (leave) setTimeout(() => ac.abort(), i % 4)
        try {
          let res
          if (i % 8 === 0) {
            res = await post('/api/numbers/purchase', key, offer, ac.signal)
            const body = await res.json()
            if (body?.data?.id && i % 16 === 0) {
              statuses[res.status] = (statuses[res.status] ?? 0) + 1
              answered++
              res = await post('/api/numbers/cancel', key, { numberId: body.data.id }, ac.signal)
            }
          } else res = await fetch(`${url}${i % 2 ? '/api/wallet/balance' : '/api/numbers/my'}`, { headers: { 'x-api-key': key }, signal: ac.signal })
          await res.arrayBuffer().catch(() => {})
          statuses[res.status] = (statuses[res.status] ?? 0) + 1
          answered++
        } catch (e) {
          if (!ac.signal.aborted) throw e
          abandoned++
        }
      }),
    )
    await sleep((wave % 4) * 5)
  }
  const metered = async () => Number((await db.prepare(`SELECT COALESCE(SUM(quantity), 0) AS n FROM usage_records WHERE user_id = ? AND resource_type = 'api_calls'`).bind(account.userId).first()).n)
  let n = 0
  for (const end = Date.now() + 20_000; Date.now() < end; await sleep(200)) {
    n = await metered()
    if (n >= answered) break
  }
  await sleep(1000)
  n = await metered()
  const bad = [
    ...uncaught,
    ...readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => BAD.test(l)),
  ]
  const ok = Object.entries(statuses).reduce((s, [k, v]) => s + (k === '200' || k === '201' ? v : 0), 0)
  log(`answers: ${JSON.stringify(statuses)}, left early: ${abandoned}; metered ${n} of ${answered} answered (+ up to ${abandoned} left early); uncaught errors: ${bad.length}`)
  for (const l of bad.slice(0, 3)) log(`  ${l.slice(0, 240)}`)
  if (ok !== answered) failed = true
  // A request whose client left may or may not have reached the meter; every answered one did.
  if (n < answered || n > answered + abandoned) failed = true
  if (bad.length) failed = true
} finally {
  inspector.close()
  await mf.dispose()
}
console.log(failed ? 'concurrency check FAILED' : 'concurrency check passed')
process.exit(failed ? 1 : 0)

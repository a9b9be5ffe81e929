#!/usr/bin/env node
// `npm run bench`: Switchboard's hot paths under load, each next to a floor measured in the same run.
//
//   npm run bench                         full run (10 s per path after 2 s of warm-up, 8 connections)
//   npm run bench -- --quick              development run (3 s per path, 4 connections, 200 webhook events)
//   npm run bench -- --duration 20 --connections 16 --events 5000 --only health,balance
//   npm run bench -- --quick --only floor-do-d1,purchase-50 --profile purchase-50   (CPU profile of that path)
//   npm run bench -- --app-config /tmp/before/wrangler.toml   (another build of the app: before/after comparisons)
//   npm run bench -- --trace   (the D1/DO/queue round trips of each benchmarked request; vitest, no load)
//
// What it does (BENCHMARKS.md has the method and the targets):
//   1. builds the app and the floor Worker (bench/floor) with `wrangler deploy --dry-run`; the
//      app's gzipped output is the bundle figure
//   2. runs both in workerd through Miniflare directly (no `wrangler dev` proxy), storage in a
//      fresh .bench-state/ (never the dev state in .wrangler/)
//   3. seeds: migrations, accounts with API keys, funded wallets, the sandbox provider and its
//      offers (the project's provider sync), 10,000 and 100 numbers, a webhook endpoint
//   4. drives every path from a second process (scripts/bench/load.mjs, autocannon)
//   5. checks the wallets after the purchase runs (no money lost or created)
//   6. prints one table and writes bench-results.json
// Rate limits are raised for the app (RATE_LIMITS) so they do not throttle the load; the
// RateLimiter object is still called on every limited request, as in production.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { root } from '../seed.mjs'
import { startProfiles, summarize } from './profile.mjs'
import { build, bundleSize, startWorker } from './runtime.mjs'
import { seedApp, seedEvents, seedFloor } from './seed.mjs'

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    events: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string', default: 'bench-results.json' },
    profile: { type: 'string' },
    'app-config': { type: 'string', default: 'wrangler.toml' },
    trace: { type: 'boolean', default: false },
  },
})
const settings = {
  mode: argv.quick ? 'quick (development run)' : 'full',
  duration: Number(argv.duration ?? (argv.quick ? 3 : 10)),
  warmup: Number(argv.warmup ?? (argv.quick ? 1 : 2)),
  connections: Number(argv.connections ?? (argv.quick ? 4 : 8)),
  events: Number(argv.events ?? (argv.quick ? 200 : 2000)),
}
const only = argv.only ? new Set(argv.only.split(',').map((s) => s.trim())) : null
const wanted = (id) => !only || only.has(id)

const STATE = join(root, '.bench-state')
const RECEIVER_HOST = 'receiver.bench.example'
const MiB = 1024 * 1024
const log = (msg) => process.stderr.write(`[bench] ${msg}\n`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const secret = () => randomBytes(32).toString('base64url')

// ---- load runs -----------------------------------------------------------------------------

/** One autocannon run in a child process (scripts/bench/load.mjs); resolves with its figures. */
function load(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'bench', 'load.mjs'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load driver exited with ${code}`))
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)))
      } catch (_e) {
        reject(new Error(`load driver printed no result: ${out.slice(0, 200)}`))
      }
    })
  })
}

function spec(base, path, extra = {}) {
  return { url: `${base}${path}`, connections: settings.connections, duration: settings.duration, warmup: settings.warmup, ...extra }
}

// ---- the webhook receiver -----------------------------------------------------------------

/** A local HTTP server that answers 200 and notes when each event's delivery arrived. */
async function startReceiver() {
  const arrivals = new Map()
  let requests = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      requests += 1
      const id = req.headers['webhook-id']
      if (typeof id === 'string' && !arrivals.has(id)) arrivals.set(id, performance.now())
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    server,
    port: server.address().port,
    arrivals,
    get requests() {
      return requests
    },
  }
}

/**
 * The app's outbound fetch: the receiver's public-looking name goes to the local server (the URL
 * guard refuses loopback addresses even in development), anything else is refused — the bench
 * never reaches the network.
 */
function outboundTo(receiver) {
  return async (request) => {
    const u = new URL(request.url)
    if (u.hostname !== RECEIVER_HOST) return new Response('bench: no outbound network', { status: 502 })
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer()
    const res = await fetch(`http://127.0.0.1:${receiver.port}${u.pathname}${u.search}`, { method: request.method, headers: request.headers, body })
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers })
  }
}

/** Puts `eventIds` on the `events` queue and waits until the receiver has every delivery. */
async function measureWebhooks(mf, receiver, eventIds) {
  const producer = await mf.getQueueProducer('EVENTS')
  const sentAt = new Map()
  const started = performance.now()
  for (let i = 0; i < eventIds.length; i += 100) {
    const part = eventIds.slice(i, i + 100)
    await producer.sendBatch(part.map((eventId) => ({ body: { eventId } })))
    const at = performance.now()
    for (const id of part) sentAt.set(id, at)
  }
  const deadline = Date.now() + Math.max(60_000, eventIds.length * 100)
  while (eventIds.some((id) => !receiver.arrivals.has(id)) && Date.now() < deadline) await sleep(100)
  const got = eventIds.filter((id) => receiver.arrivals.has(id))
  const last = Math.max(...got.map((id) => receiver.arrivals.get(id)))
  const elapsed = (last - started) / 1000
  const latencies = got.map((id) => receiver.arrivals.get(id) - sentAt.get(id)).sort((a, b) => a - b)
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null)
  return {
    events: eventIds.length,
    delivered: got.length,
    requests: receiver.requests,
    seconds: elapsed,
    rps: got.length / elapsed,
    latency: { p50: pct(50), p99: pct(99), max: latencies.at(-1) ?? null },
  }
}

// ---- the ledger check ---------------------------------------------------------------------

/**
 * Money after a purchase run, per account: balance = funding − Σ price of its charged
 * activations; the ledger sums to the balance; no hold left active; available ≥ 0; every
 * activation charged. And the activations written match the 201 answers.
 */
async function ledgerCheck(mf, accounts, run) {
  // Answered 201, warm-up included; requests still in flight when a phase ended (at most one per
  // connection and phase) may have bought without their answer being counted.
  const created = (run.warmupCodes['201'] ?? 0) + (run.statusCodes['201'] ?? 0)
  const inFlight = 2 * run.connections
  const db = await mf.getD1Database('DB')
  const ns = await mf.getDurableObjectNamespace('WALLET')
  // Purchases answered just before the run ended may still be settling.
  await sleep(1500)
  const ids = accounts.map((a) => a.userId)
  const placeholders = ids.map(() => '?').join(', ')
  const { results } = await db
    .prepare(
      `SELECT user_id AS userId, COUNT(*) AS n, COALESCE(SUM(CASE WHEN billing = 'captured' THEN price ELSE 0 END), 0) AS charged,
              SUM(CASE WHEN billing <> 'captured' THEN 1 ELSE 0 END) AS uncharged
       FROM activations WHERE user_id IN (${placeholders}) GROUP BY user_id`,
    )
    .bind(...ids)
    .all()
  const byUser = new Map(results.map((r) => [r.userId, r]))
  const problems = []
  let activations = 0
  let charged = 0
  let activeHolds = 0
  for (const a of accounts) {
    const row = byUser.get(a.userId) ?? { n: 0, charged: 0, uncharged: 0 }
    const audit = await ns.get(ns.idFromName(a.userId)).audit()
    activations += row.n
    charged += row.charged
    activeHolds += audit.activeHolds
    const expected = a.funded - row.charged
    if (audit.balance !== expected) problems.push(`${a.tag}: balance ${audit.balance} ≠ funding ${a.funded} − charged ${row.charged} = ${expected}`)
    if (audit.ledgerSum !== audit.balance) problems.push(`${a.tag}: ledger sums to ${audit.ledgerSum}, balance is ${audit.balance}`)
    if (audit.negativeAvailable) problems.push(`${a.tag}: available < 0`)
    if (audit.activeHolds) problems.push(`${a.tag}: ${audit.activeHolds} hold(s) still active`)
    if (row.uncharged) problems.push(`${a.tag}: ${row.uncharged} activation(s) not charged (billing ≠ captured)`)
  }
  if (activations < created || activations > created + inFlight) {
    problems.push(`${created} purchases answered 201 (≤ ${inFlight} more in flight) but ${activations} activations exist`)
  }
  return { accounts: accounts.length, activations, created, inFlight, charged, activeHolds, ok: problems.length === 0, problems }
}

/** Waits until the outbox has nothing unsent and the queues had a moment, so one run's tail does not load the next. */
async function settle(mf) {
  const db = await mf.getD1Database('DB')
  const end = Date.now() + 30_000
  while (Date.now() < end) {
    const row = await db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL').first()
    if (!row.n) break
    await sleep(250)
  }
  await sleep(2000)
}

// ---- the table ----------------------------------------------------------------------------

const fmt = (n, d = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : Number(n).toFixed(d))

function printTable(rows) {
  const head = ['path', 'req/s', 'p50 ms', 'p99 ms', 'ratio to floor', 'target', 'measured', 'met?']
  const body = rows.map((r) => [r.path, fmt(r.rps, 0), fmt(r.p50, 1), fmt(r.p99, 1), r.ratioText, r.target, r.measured, r.met === null ? '–' : r.met ? 'yes' : 'NO'])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)))
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ')
  console.log(line(head))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const b of body) console.log(line(b))
}

function markdownTable(rows) {
  const out = ['| path | req/s | p50 ms | p99 ms | ratio to floor | target | measured | met? |', '| --- | ---: | ---: | ---: | --- | --- | --- | --- |']
  for (const r of rows)
    out.push(`| ${r.path} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${r.ratioText} | ${r.target} | ${r.measured} | ${r.met === null ? '–' : r.met ? 'yes' : '**no**'} |`)
  return out.join('\n')
}

// ---- main ---------------------------------------------------------------------------------

/** `--trace`: the round-trip tracer (scripts/bench/trace) under vitest, then exit. */
function trace() {
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
  const child = spawn(process.execPath, [vitest, 'run', '--config', join('scripts', 'bench', 'trace', 'vitest.config.ts')], { cwd: root, stdio: 'inherit' })
  child.on('exit', (code) => process.exit(code ?? 1))
}

async function main() {
  if (argv.trace) return trace()
  const date = new Date()
  const machine = {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  }
  log(`${settings.mode}: ${settings.duration} s per path after ${settings.warmup} s warm-up, ${settings.connections} connections; ${machine.cores} cores`)
  rmSync(STATE, { recursive: true, force: true })
  mkdirSync(STATE, { recursive: true })

  log('building the app and the floor (wrangler deploy --dry-run) …')
  const appConfig = argv['app-config']
  const appMain = build(appConfig, join(STATE, 'build', 'app'))
  const floorMain = build('bench/floor/wrangler.toml', join(STATE, 'build', 'floor'))
  const bundle = bundleSize(join(STATE, 'build', 'app'))

  const receiver = await startReceiver()
  const rateLimits = Object.fromEntries(['general', 'purchase', 'admin', 'public', 'auth', 'search'].map((c) => [c, { limit: 1_000_000_000 }]))
  let app = null
  let floor = null
  try {
    app = await startWorker({
      configPath: appConfig,
      scriptPath: appMain,
      persistTo: join(STATE, 'app'),
      logFile: join(STATE, 'app.log'),
      outbound: outboundTo(receiver),
      inspector: !!argv.profile && !argv.profile.startsWith('floor'),
      vars: {
        // development: http webhook URLs are allowed (the receiver is plain http).
        ENVIRONMENT: 'development',
        APP_URL: 'http://localhost:8787',
        CORS_ORIGINS: '',
        METRICS_TOKEN: '',
        RATE_LIMITS: JSON.stringify(rateLimits),
        JWT_SECRET: secret(),
        ENCRYPTION_KEY: secret(),
        PROVIDER_WEBHOOK_SECRET: secret(),
      },
    })
    floor = await startWorker({
      configPath: 'bench/floor/wrangler.toml',
      scriptPath: floorMain,
      persistTo: join(STATE, 'floor'),
      logFile: join(STATE, 'floor.log'),
      inspector: !!argv.profile?.startsWith('floor'),
    })
    log(`app on ${app.url}, floor on ${floor.url}; worker logs in .bench-state/*.log`)

    log('seeding …')
    await seedFloor(floor.mf)
    const fx = await seedApp({ mf: app.mf, url: app.url, webhookUrl: `http://${RECEIVER_HOST}/hook`, log })

    const results = {}
    const run = async (id, s) => {
      if (!wanted(id)) return
      log(`${id} …`)
      if (argv.profile !== id) {
        results[id] = await load(s)
        return
      }
      const profiling = await startProfiles((id.startsWith('floor') ? floor : app).inspectorUrl, ['core:user:', 'd1:db'])
      results[id] = await load(s)
      for (const { target, profile } of await profiling.stop()) {
        const file = join(STATE, `profile-${id}-${target.replace(/[^a-z0-9]+/gi, '_')}.cpuprofile`)
        writeFileSync(file, JSON.stringify(profile))
        const sum = summarize(profile)
        profiles.push({ path: id, target, file, ...sum })
        console.log(`\nCPU profile of ${id}, isolate ${target}: busy ${(sum.busyShare * 100).toFixed(0)}% of ${sum.totalMs} ms (${file})`)
        console.log(`  self ms      ${sum.self.map((f) => `${String(f.ms).padStart(6)}  ${f.fn}`).join('\n               ')}`)
        console.log(`  inclusive ms ${sum.inclusive.map((f) => `${String(f.ms).padStart(6)}  ${f.fn}`).join('\n               ')}`)
      }
    }
    const profiles = []
    const purchase = { method: 'POST', body: { serviceCode: fx.offer.serviceCode, countryCode: fx.offer.countryCode } }

    // The floor first and again last; the mean of the two is the floor of this run.
    await run('floor-hello', spec(floor.url, '/hello'))
    await run('floor-do-d1', spec(floor.url, '/do-d1'))
    await run('health', spec(app.url, '/health'))
    await run('balance', spec(app.url, '/api/wallet/balance', { headers: { 'x-api-key': fx.balance.key } }))
    await run('numbers-100', spec(app.url, '/api/v1/numbers?page=1&limit=20', { headers: { 'x-api-key': fx.numbers100.key } }))
    await run('numbers-10k', spec(app.url, '/api/v1/numbers?page=1&limit=20', { headers: { 'x-api-key': fx.numbers10k.key } }))

    let webhooks = null
    if (wanted('webhooks')) {
      log(`webhooks: ${settings.events} events …`)
      const ids = await seedEvents(app.mf, fx.hooks.userId, settings.events)
      webhooks = await measureWebhooks(app.mf, receiver, ids)
      await settle(app.mf)
    }

    let spreadLedger = null
    let singleLedger = null
    if (wanted('purchase-50')) {
      await run('purchase-50', spec(app.url, '/api/numbers/purchase', { ...purchase, keys: fx.spread.map((a) => a.key) }))
      spreadLedger = await ledgerCheck(app.mf, fx.spread, results['purchase-50'])
      await settle(app.mf)
    }
    if (wanted('purchase-1')) {
      await run('purchase-1', spec(app.url, '/api/numbers/purchase', { ...purchase, headers: { 'x-api-key': fx.single.key } }))
      singleLedger = await ledgerCheck(app.mf, [fx.single], results['purchase-1'])
      await settle(app.mf)
    }

    const floorAgain = {}
    for (const [id, path] of [
      ['floor-hello', '/hello'],
      ['floor-do-d1', '/do-d1'],
    ]) {
      if (!wanted(id)) continue
      log(`${id} (again) …`)
      floorAgain[id] = await load(spec(floor.url, path))
    }

    // ---- figures and targets ----
    const floorOf = (id) => {
      const a = results[id]
      const b = floorAgain[id]
      if (!a) return null
      return b ? { rps: (a.rps + b.rps) / 2, first: a.rps, last: b.rps } : { rps: a.rps, first: a.rps, last: a.rps }
    }
    const hello = floorOf('floor-hello')
    const doD1 = floorOf('floor-do-d1')
    const rows = []
    const add = (id, label, floorFig, floorName, target, check) => {
      const r = results[id]
      if (!r) return
      const isFloor = floorName === 'itself'
      const rps = isFloor ? floorFig.rps : r.rps
      const ratio = isFloor ? 1 : floorFig ? r.rps / floorFig.rps : null
      const verdict = check ? check(r, ratio) : { measured: '', met: null }
      rows.push({
        id,
        path: label,
        rps,
        p50: r.latency.p50,
        p99: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors + r.timeouts,
        ratio,
        ratioText: isFloor ? '1 (the floor)' : ratio === null ? '–' : `${ratio.toFixed(2)} of ${floorName}`,
        target,
        ...verdict,
      })
    }
    const errorsOf = (r) => (r.non2xx || r.errors || r.timeouts ? ` (${r.non2xx} non-2xx, ${r.errors + r.timeouts} errors)` : '')
    // Without its floor in the run (--only) a ratio target cannot be judged: met stays '–'.
    const atLeast = (min) => (r, ratio) => ({
      measured: `${ratio === null ? 'no floor in this run' : ratio.toFixed(2)}${errorsOf(r)}`,
      met: ratio === null ? null : ratio >= min && !r.non2xx && !r.errors,
    })

    add('floor-hello', 'floor GET /hello', hello, 'itself', 'floor', (r) => ({ measured: `mean of first ${fmt(hello.first)} and last ${fmt(hello.last)} req/s${errorsOf(r)}`, met: null }))
    add('floor-do-d1', 'floor GET /do-d1 (1 DO RPC + 1 D1 read)', doD1, 'itself', 'floor', (r) => ({
      measured: `mean of first ${fmt(doD1.first)} and last ${fmt(doD1.last)} req/s${errorsOf(r)}`,
      met: null,
    }))
    add('health', 'GET /health', hello, 'hello', '≥ 0.85 of hello', atLeast(0.85))
    add('balance', 'GET /api/wallet/balance (API key)', doD1, 'do-d1', '≥ 0.5 of do-d1', atLeast(0.5))
    add('numbers-100', 'GET /api/v1/numbers, 100 numbers', doD1, 'do-d1', 'reference for 10k', (r) => ({ measured: errorsOf(r).trim() || '–', met: null }))
    add('numbers-10k', 'GET /api/v1/numbers, 10,000 numbers', doD1, 'do-d1', 'p50 ≤ 1.2× of 100 numbers', (r) => {
      const base = results['numbers-100']
      if (!base) return { measured: 'needs numbers-100', met: null }
      const k = r.latency.p50 / base.latency.p50
      return { measured: `p50 ${k.toFixed(2)}× (p99 ${(r.latency.p99 / base.latency.p99).toFixed(2)}×)${errorsOf(r)}`, met: k <= 1.2 && !r.non2xx }
    })
    add('purchase-50', 'POST /api/numbers/purchase, 50 accounts', doD1, 'do-d1', '≥ 0.25 of do-d1', (r, ratio) => {
      const v = atLeast(0.25)(r, ratio)
      return { measured: `${v.measured}; ledger ${spreadLedger?.ok ? 'ok' : 'BROKEN'}`, met: spreadLedger?.ok === false ? false : v.met }
    })
    add('purchase-1', 'POST /api/numbers/purchase, 1 account', doD1, 'do-d1', 'ledger ok, p99 < 10× p50', (r) => {
      const k = r.latency.p99 / r.latency.p50
      return { measured: `ledger ${singleLedger?.ok ? 'ok' : 'BROKEN'}, p99 = ${k.toFixed(1)}× p50${errorsOf(r)}`, met: !!singleLedger?.ok && k < 10 && !r.non2xx }
    })
    if (webhooks) {
      const ratio = doD1 ? webhooks.rps / doD1.rps : null
      rows.push({
        id: 'webhooks',
        path: 'webhook deliveries, events queue → receiver',
        rps: webhooks.rps,
        p50: webhooks.latency.p50,
        p99: webhooks.latency.p99,
        ratio,
        ratioText: ratio === null ? '–' : `${ratio.toFixed(2)} of do-d1`,
        target: 'measured (deliveries/s)',
        measured: `${webhooks.delivered}/${webhooks.events} delivered in ${webhooks.seconds.toFixed(1)} s`,
        met: webhooks.delivered === webhooks.events ? null : false,
      })
    }
    rows.push({
      id: 'bundle',
      path: 'bundle (wrangler deploy --dry-run, gzip)',
      rps: null,
      p50: null,
      p99: null,
      ratio: null,
      ratioText: '–',
      target: '≤ 1 MiB gzipped',
      measured: `${(bundle.gzip / 1024).toFixed(1)} KiB gzip (${(bundle.raw / 1024).toFixed(0)} KiB raw)`,
      met: bundle.gzip <= MiB,
    })

    console.log(
      `\nSwitchboard bench — ${date.toISOString()} — ${machine.cores} cores (${machine.cpu}), ${settings.mode}: ` +
        `${settings.duration} s per path, ${settings.connections} connections, load generator and workerd on the same machine\n`,
    )
    printTable(rows)
    if (spreadLedger)
      console.log(
        `\nledger, 50 accounts: ${spreadLedger.ok ? 'ok' : 'BROKEN'} — ${spreadLedger.activations} activations, ${spreadLedger.created} answered 201${spreadLedger.problems.length ? `\n  ${spreadLedger.problems.slice(0, 10).join('\n  ')}` : ''}`,
      )
    if (singleLedger)
      console.log(
        `ledger, 1 account:   ${singleLedger.ok ? 'ok' : 'BROKEN'} — ${singleLedger.activations} activations, ${singleLedger.created} answered 201${singleLedger.problems.length ? `\n  ${singleLedger.problems.join('\n  ')}` : ''}`,
      )
    const markdown = markdownTable(rows)
    console.log(`\nMarkdown (for BENCHMARKS.md):\n\n${markdown}\n`)

    const out = resolve(root, argv.out)
    writeFileSync(
      out,
      `${JSON.stringify({ date: date.toISOString(), machine, settings: { ...settings, appConfig }, rows, raw: { results, floorAgain }, profiles, ledger: { spread: spreadLedger, single: singleLedger }, webhooks, bundle, markdown }, null, 2)}\n`,
    )
    log(`wrote ${argv.out}`)
    const missed = rows.filter((r) => r.met === false).map((r) => r.id)
    if (missed.length) log(`targets missed: ${missed.join(', ')}`)
  } finally {
    await Promise.allSettled([app?.mf.dispose(), floor?.mf.dispose()])
    receiver.server.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})

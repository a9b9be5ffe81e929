#!/usr/bin/env node
// The load driver: one HTTP load run with autocannon, in its own process (the runner starts one per
// path, so the load generator never shares an event loop with the runner or workerd).
//
//   node scripts/bench/load.mjs '<json spec>'     → prints one JSON line with the figures
//
// spec: { url, method?, body?, headers?, keys?: [API key…] (rotated per request as X-API-Key),
//         targets?: [{ key, path, body? }…] (rotated per request: the key, the path of the URL's host and, when
//         given, the JSON body), targetsFile? (the same list as a JSON file, for lists too long for an argument),
//         connections, duration (s), amount? (requests in all: then no duration), warmup (s), timeout (s),
//         cpuPid? (the serving workerd's process id: its CPU time per request is measured) }
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'
import { cpuMsOf } from './cpu.mjs'

const spec = JSON.parse(process.argv[2] ?? '{}')
const keys = spec.keys ?? []
const targets = spec.targetsFile ? JSON.parse(readFileSync(spec.targetsFile, 'utf8')) : (spec.targets ?? [])
let n = 0

const request = {
  method: spec.method ?? 'GET',
  headers: { ...(spec.body ? { 'content-type': 'application/json' } : {}), ...spec.headers },
  ...(spec.body ? { body: JSON.stringify(spec.body) } : {}),
}
if (keys.length) {
  // A different account on every request, round robin.
  request.setupRequest = (req) => ({ ...req, headers: { ...req.headers, 'x-api-key': keys[n++ % keys.length] } })
}
if (targets.length) {
  // An account and a resource of its own on every request (a path that names the account's SIM, a body that names its connector), round robin.
  request.setupRequest = (req) => {
    const t = targets[n++ % targets.length]
    return { ...req, path: t.path, headers: { ...req.headers, 'x-api-key': t.key }, ...(t.body ? { body: JSON.stringify(t.body) } : {}) }
  }
}

const options = {
  url: spec.url,
  connections: spec.connections ?? 4,
  duration: spec.duration ?? 5,
  // A fixed number of requests (autocannon then ignores the duration).
  ...(spec.amount ? { amount: spec.amount } : {}),
  timeout: spec.timeout ?? 10,
  requests: [request],
}

const codes = (r) => Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, v]) => [code, v.count]))

let warmupCodes = {}
if (spec.warmup > 0) {
  // Not measured: wakes the isolate, the Durable Objects and SQLite's caches.
  const { amount: _amount, ...timed } = options
  warmupCodes = codes(await autocannon({ ...timed, duration: spec.warmup }))
}
/** When the measured run began (epoch ms: this machine's clock, which workerd's rows use too). */
const startedAt = Date.now()
const cpuBefore = cpuMsOf(spec.cpuPid)
const r = await autocannon(options)
const cpuAfter = cpuMsOf(spec.cpuPid)
const endedAt = Date.now()

const statusCodes = codes(r)
const responses = Object.values(statusCodes).reduce((a, b) => a + b, 0)
process.stdout.write(
  `${JSON.stringify({
    duration: r.duration,
    connections: r.connections,
    requests: responses,
    startedAt,
    endedAt,
    rps: responses / r.duration,
    /** CPU time the serving workerd process used during the measured run, per answered request (ms). */
    cpuMsPerRequest: cpuBefore !== null && cpuAfter !== null && responses ? (cpuAfter - cpuBefore) / responses : null,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    /** The warm-up's answers (not measured, but a POST's warm-up writes too). */
    warmupCodes,
    latency: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
  })}\n`,
)

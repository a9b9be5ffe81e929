// The bench's runtime: builds a Worker exactly as `wrangler deploy` would (`--dry-run --outdir`),
// measures the gzipped bundle, and runs it in workerd through Miniflare directly — no `wrangler dev`,
// no proxy Worker in front: the load generator talks to the workerd socket itself.
import { spawnSync } from 'node:child_process'
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { root } from '../seed.mjs'

const WRANGLER = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js')

/** `wrangler deploy --dry-run --outdir <outdir>` for `configPath`; returns the entry module's path. */
export function build(configPath, outdir) {
  const r = spawnSync(process.execPath, [WRANGLER, 'deploy', '--dry-run', '--config', configPath, '--outdir', outdir], {
    cwd: root,
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
    encoding: 'utf8',
  })
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`)
    throw new Error(`wrangler deploy --dry-run --config ${configPath} failed (exit ${r.status ?? r.signal})`)
  }
  const main = join(outdir, 'index.js')
  statSync(main) // throws when the build wrote something else
  return main
}

/** Raw and gzipped (level 9, as an upload would compress) bytes of what the dry run wrote, source maps and README excluded. */
export function bundleSize(outdir) {
  let raw = 0
  let gzip = 0
  const files = []
  for (const name of readdirSync(outdir)) {
    if (name.endsWith('.map') || name === 'README.md') continue
    const bytes = readFileSync(join(outdir, name))
    const gz = gzipSync(bytes, { level: 9 }).length
    raw += bytes.length
    gzip += gz
    files.push({ name, raw: bytes.length, gzip: gz })
  }
  return { raw, gzip, files }
}

/**
 * Starts `scriptPath` (a bundle from `build`) in workerd with the bindings of `configPath`
 * (wrangler's own translation of wrangler.toml), `vars` over them, storage under `persistTo`.
 * Worker logs go to `logFile`, not the terminal. Returns { mf, url, inspectorUrl }.
 */
export async function startWorker({ configPath, scriptPath, vars = {}, persistTo, outbound, logFile, inspector = false }) {
  const { Miniflare, convertV4MiniflareOptions } = await import('miniflare')
  const { unstable_getMiniflareWorkerOptions } = await import('wrangler')
  // wrangler reads .dev.vars here; every value the bench relies on is overridden by `vars`.
  const { workerOptions } = silently(() => unstable_getMiniflareWorkerOptions(resolve(root, configPath)))
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      ...workerOptions,
      modulesRules: undefined, // the bundle is one module; v5 refuses to convert the rules
      // The bench never runs crons by the clock: it triggers the provider sync itself, once.
      cronTriggers: [],
      bindings: { ...workerOptions.bindings, ...vars },
      modules: true,
      scriptPath,
      modulesRoot: dirname(scriptPath),
      host: '127.0.0.1',
      port: 0,
      resourcePersistencePath: persistTo,
      ...(outbound ? { outboundService: outbound } : {}),
      // Only when profiling: the inspector lets the bench take CPU profiles of the isolates.
      ...(inspector ? { inspectorPort: 0 } : {}),
      handleStructuredLogs: (log) => {
        if (logFile) appendFileSync(logFile, `${typeof log === 'string' ? log : JSON.stringify(log)}\n`)
      },
    }),
  )
  const url = await mf.ready
  return { mf, url: url.href.replace(/\/$/, ''), inspectorUrl: inspector ? (await mf.getInspectorURL()).href : null }
}

function silently(fn) {
  const { log, info, warn } = console
  console.log = console.info = console.warn = () => {}
  try {
    return fn()
  } finally {
    Object.assign(console, { log, info, warn })
  }
}

#!/usr/bin/env node
// `npm start`: the whole API locally on http://localhost:8787 — D1, Durable Objects, Queues and Cron
// in workerd through Miniflare. Runs under Node >= 22 (scripts/with-node22.mjs sees to that).
//   1. creates .dev.vars from .dev.vars.example with fresh random secrets (never overwrites it)
//   2. applies the local D1 migrations
//   3. seeds the demo (scripts/seed.mjs; idempotent)
//   4. runs `wrangler dev` on port 8787 with /__scheduled enabled, until Ctrl-C
//   5. once it answers /health, runs the provider sync once, so the demo has offers and DIDs at once
import { spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ADMIN, DEMO, PERSIST_TO, migrate, root, seed } from './seed.mjs'

const PORT = 8787
const URL = `http://localhost:${PORT}`

function randomSecret(n = 64) {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return Array.from({ length: n }, () => chars[randomInt(chars.length)]).join('')
}

const GENERATED_SECRETS = ['JWT_SECRET', 'ENCRYPTION_KEY', 'PROVIDER_WEBHOOK_SECRET']

function ensureDevVars() {
  const target = join(root, '.dev.vars')
  if (existsSync(target)) {
    // Never overwrite; only add secrets that a newer version of the app needs and the file lacks.
    const text = readFileSync(target, 'utf8')
    const missing = GENERATED_SECRETS.filter((name) => !new RegExp(`^${name}=`, 'm').test(text))
    // A .dev.vars that runs as production (it says so, or names no ENVIRONMENT and wrangler.toml's
    // applies) needs a METRICS_TOKEN, without which the app refuses every request: add one.
    const environment = /^ENVIRONMENT=(.*)$/m.exec(text)?.[1]?.trim() || 'production'
    if (environment === 'production' && !/^METRICS_TOKEN=\S/m.test(text)) missing.push('METRICS_TOKEN')
    if (missing.length) {
      appendFileSync(target, `${text.endsWith('\n') ? '' : '\n'}${missing.map((n) => `${n}=${randomSecret()}`).join('\n')}\n`)
      console.log(`Added ${missing.join(', ')} to the existing .dev.vars.`)
    } else console.log('Using the existing .dev.vars.')
    return
  }
  const values = { ...Object.fromEntries(GENERATED_SECRETS.map((n) => [n, randomSecret()])), ENVIRONMENT: 'development', APP_URL: URL }
  const text = readFileSync(join(root, '.dev.vars.example'), 'utf8').replace(/^([A-Z_]+)=.*$/gm, (line, name) =>
    name in values ? `${name}=${values[name]}` : line,
  )
  writeFileSync(target, text, { flag: 'wx', mode: 0o600 }) // wx: fail rather than overwrite
  console.log(`Created .dev.vars with fresh random ${GENERATED_SECRETS.join(', ')}.`)
}

try {
  ensureDevVars()
  console.log('Applying local D1 migrations …')
  migrate()
  console.log('Seeding the demo …')
  const { apiKey } = seed()

  console.log(`
  Switchboard — local
    API        ${URL}
    Docs       ${URL}/docs   (OpenAPI: ${URL}/openapi.json)
    Cron       curl "${URL}/__scheduled?cron=*+*+*+*+*"        (sweeper, every minute)
               curl "${URL}/__scheduled?cron=*/15+*+*+*+*"     (provider sync, every 15 minutes)
    Admin      ${ADMIN.email} / ${ADMIN.password}
    Demo user  ${DEMO.email} / ${DEMO.password}${apiKey ? `\n    Demo key   ${apiKey}   (X-API-Key; shown only now, stored as a hash)` : ''}
    Data       ${PERSIST_TO} (delete it to start from scratch)
`)
} catch (e) {
  console.error(e.message)
  process.exit(1)
}

const child = spawn(
  process.execPath,
  [join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'dev', '--port', String(PORT), '--test-scheduled', '--persist-to', PERSIST_TO],
  { cwd: root, stdio: 'inherit' },
)
// Ctrl-C reaches wrangler directly through the terminal; a signal sent to this process alone is passed on.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig))
let exited = false
child.on('exit', (code, signal) => {
  exited = true
  process.exit(code ?? (signal ? 1 : 0))
})

/** Waits for `wrangler dev` to answer /health, then runs the provider sync once (the cron would in ≤ 15 min). */
async function syncProvidersOnce() {
  const deadline = Date.now() + 120_000
  while (!exited && Date.now() < deadline) {
    try {
      const res = await fetch(`${URL}/health`, { signal: AbortSignal.timeout(2000) })
      if (res.ok) break
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  if (exited) return
  try {
    const res = await fetch(`${URL}/__scheduled?cron=*/15+*+*+*+*`, { signal: AbortSignal.timeout(60_000) })
    console.log(
      res.ok
        ? `\n  Provider sync ran (offers, prices, stock, DID inventory): see GET ${URL}/api/admin/providers as ${ADMIN.email}\n`
        : `\n  Provider sync answered HTTP ${res.status}; run it again with: curl "${URL}/__scheduled?cron=*/15+*+*+*+*"\n`,
    )
  } catch (e) {
    console.log(`\n  Provider sync could not run (${e.message}); run it with: curl "${URL}/__scheduled?cron=*/15+*+*+*+*"\n`)
  }
}
syncProvidersOnce()

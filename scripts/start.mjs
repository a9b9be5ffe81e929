#!/usr/bin/env node
// `npm start`: the whole API locally on http://localhost:8787 — D1, Durable Objects, Queues and Cron
// in workerd through Miniflare. Runs under Node >= 22 (scripts/with-node22.mjs sees to that).
//   1. creates .dev.vars from .dev.vars.example with fresh random secrets (never overwrites it; an
//      existing one only gets the settings it lacks appended: scripts/dev-vars.mjs)
//   2. applies the local D1 migrations
//   3. seeds the demo (scripts/seed.mjs; idempotent)
//   4. runs `wrangler dev` on port 8787 with /__scheduled enabled, until Ctrl-C
//   5. once it answers /health, logs in as the demo user once (the auth class allows 5 logins per 15
//      minutes per IP), registers the demo user's three sandbox SIMs and sets up its messaging demo
//      (scripts/demo-messaging.mjs: project, sandbox connector, template, a new project key, wallet
//      money), all through the API, then runs the provider sync once, so the demo has offers, DIDs and
//      SIM readings at once
import { spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { devVarsAdditions, GENERATED_SECRETS, newDevVars } from './dev-vars.mjs'
import { describeDemoMessaging, setUpDemoMessaging } from './demo-messaging.mjs'
import { ADMIN, DEMO, DEMO_SIMS, PERSIST_TO, migrate, root, seed } from './seed.mjs'

const PORT = 8787
const URL = `http://localhost:${PORT}`

function randomSecret(n = 64) {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return Array.from({ length: n }, () => chars[randomInt(chars.length)]).join('')
}

function ensureDevVars() {
  const target = join(root, '.dev.vars')
  if (existsSync(target)) {
    // Never overwrite; only append what a newer version of the app needs and the file lacks.
    const { append, added } = devVarsAdditions(readFileSync(target, 'utf8'), randomSecret)
    if (added.length) {
      appendFileSync(target, append)
      console.log(`Added ${added.join(', ')} to the existing .dev.vars.`)
    } else console.log('Using the existing .dev.vars.')
    return
  }
  const values = { ...Object.fromEntries(GENERATED_SECRETS.map((n) => [n, randomSecret()])), ENVIRONMENT: 'development', APP_URL: URL, WEBHOOK_ALLOW_LOOPBACK: 'true' }
  const text = newDevVars(readFileSync(join(root, '.dev.vars.example'), 'utf8'), values)
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
    Docs       ${URL}/docs   ${URL}/redoc   (OpenAPI: ${URL}/openapi.json)
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

const child = spawn(process.execPath, [join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'dev', '--port', String(PORT), '--test-scheduled', '--persist-to', PERSIST_TO], {
  cwd: root,
  stdio: 'inherit',
})
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
  const token = await demoLogin()
  if (token) {
    await registerDemoSims(token)
    await demoMessaging(token)
  }
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
/** The demo user's access token (15 minutes: enough for the steps below), or null after saying what to do by hand. */
async function demoLogin() {
  try {
    const login = await fetch(`${URL}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: DEMO.email, password: DEMO.password }),
      signal: AbortSignal.timeout(10_000),
    })
    const token = (await login.json())?.data?.accessToken
    if (!token) throw new Error(`login answered HTTP ${login.status}`)
    return token
  } catch (e) {
    console.log(`\n  The demo user could not log in (${e.message}): register its SIMs with POST ${URL}/api/v1/sims and set up messaging as README "Messaging (the MessageJS API)" says`)
    return null
  }
}
/** Registers the demo SIMs as the demo user would (POST /api/v1/sims); a SIM already registered stays as it is. */
async function registerDemoSims(token) {
  try {
    const res = await fetch(`${URL}/api/v1/sims`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ sims: DEMO_SIMS.map((s) => ({ iccid: s.iccid, label: s.label })) }),
      signal: AbortSignal.timeout(30_000),
    })
    const body = await res.json()
    const sims = body?.data?.sims ?? []
    const state = sims.map((s) => `${s.iccid} ${s.status === 'created' ? 'registered' : (s.error?.code ?? s.status).toLowerCase().replaceAll('_', ' ')}`)
    console.log(`\n  Demo SIMs of ${DEMO.email}: ${state.join(', ') || `HTTP ${res.status}`}  (GET ${URL}/api/v1/sims)`)
  } catch (e) {
    console.log(`\n  Demo SIMs could not be registered (${e.message}); register them with POST ${URL}/api/v1/sims as ${DEMO.email}`)
  }
}
/** The demo user's messaging project, connector and template (made once) and a new project key (scripts/demo-messaging.mjs). */
async function demoMessaging(token) {
  try {
    console.log(`\n${describeDemoMessaging(await setUpDemoMessaging({ base: URL, token }), DEMO.email)}`)
  } catch (e) {
    console.log(`\n  The messaging demo could not be set up (${e.message}); restart to try again, or follow README "Messaging (the MessageJS API)" as ${DEMO.email}`)
  }
}

syncProvidersOnce()

#!/usr/bin/env node
// Seeds the local D1 database (the one `wrangler dev` uses) with a demo: an admin, a demo user with
// an API key, and the sandbox provider. Idempotent: rows that exist are left alone, and the demo API
// key is printed only by the run that creates it.
//
// Billing of the demo user (see demoBilling below): the `pro` plan since the 1st of last month, a
// default sandbox card (what POST /api/v1/billing/payment-methods {type:"card",token:"tok_visa"}
// stores), and the pro plan's reference month (see src/modules/subscriptions/plans.ts) reported as last
// month's usage — so
// POST /api/invoices {"month":"<last month>"} answers 59.74 at once.
//
//   node scripts/with-node22.mjs scripts/seed.mjs   (npm run db:seed; applies migrations first)
//
// Rows are written with `wrangler d1 execute DB --local`, shaped exactly like src/db/schema.ts:
// string ids, instants in epoch milliseconds, JSON as text, booleans as 0/1.
import { spawnSync } from 'node:child_process'
import { createHash, pbkdf2Sync, randomBytes, randomInt } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** Local persistence shared by the D1 commands and `wrangler dev` (wrangler's default, spelled out). */
export const PERSIST_TO = '.wrangler/state'
const WRANGLER = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js')

export const ADMIN = { email: 'admin@example.com', password: 'Admin-12345', role: 'admin', firstName: 'Admin' }
export const DEMO = { email: 'demo@example.com', password: 'Demo-12345', role: 'user', firstName: 'Demo' }
const DEMO_KEY_NAME = 'Demo key'

/** Runs wrangler (under this Node, which must be >= 22) non-interactively; throws when it fails. */
export function wrangler(args, { capture = false } = {}) {
  const r = spawnSync(process.execPath, [WRANGLER, ...args], {
    cwd: root,
    env: { ...process.env, CI: 'true' }, // CI: wrangler answers its prompts with the default instead of asking
    stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
  })
  if (r.status !== 0) {
    if (capture && r.stdout) console.error(r.stdout)
    throw new Error(`wrangler ${args.join(' ').slice(0, 120)} failed (exit ${r.status ?? r.signal})`)
  }
  return r.stdout
}

export function migrate() {
  wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', PERSIST_TO])
}

/** Executes `;`-separated statements on the local DB; returns each statement's result rows. */
function sqlLocal(statements) {
  const out = wrangler(['d1', 'execute', 'DB', '--local', '--persist-to', PERSIST_TO, '--json', '--yes', '--command', statements.join(';\n')], {
    capture: true,
  })
  return JSON.parse(out).map((r) => r.results ?? [])
}

const q = (v) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`)

/** Same format as src/lib/ids.ts: prefix, 10 chars of millisecond time, 16 random chars (Crockford base32). */
function newId(prefix, now = Date.now()) {
  const A = '0123456789abcdefghjkmnpqrstvwxyz'
  let time = ''
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = A[t % 32] + time
  return `${prefix}_${time}${[...randomBytes(16)].map((b) => A[b & 31]).join('')}`
}

/** Same format src/lib/crypto.ts verifies: pbkdf2_sha256$100000$<salt b64>$<hash b64>. */
function hashPassword(password) {
  const salt = randomBytes(16)
  const hash = pbkdf2Sync(password, salt, 100_000, 32, 'sha256')
  return `pbkdf2_sha256$100000$${salt.toString('base64')}$${hash.toString('base64')}`
}

function randomAlnum(n) {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return Array.from({ length: n }, () => chars[randomInt(chars.length)]).join('')
}

function insert(table, row, { orIgnore = true } = {}) {
  const cols = Object.keys(row)
  return `INSERT ${orIgnore ? 'OR IGNORE ' : ''}INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((c) => q(row[c])).join(', ')})`
}

/** `YYYY-MM` (UTC) of an instant, and the first instant of that month. */
const monthOf = (t) => new Date(t).toISOString().slice(0, 7)
const monthStart = (t) => Date.UTC(new Date(t).getUTCFullYear(), new Date(t).getUTCMonth(), 1)

/** The pro plan's reference month: the usage of a 59.74 invoice (29.99 fee + 29.75 usage). */
export const DEMO_USAGE = { callMinutes: 425, smsCount: 1150, apiCalls: 5900 }
/** Rates of src/modules/subscriptions/plans.ts (micro-units) and units of src/modules/usage/product-meters.ts. */
const METERS = [
  { metric: 'callMinutes', type: 'call_minutes', unit: 'minute', rate: 50_000 },
  { metric: 'smsCount', type: 'sms', unit: 'message', rate: 10_000 },
  { metric: 'apiCalls', type: 'api_calls', unit: 'request', rate: 1_000 },
]

/**
 * The demo user's billing rows, each written only when missing, shaped as the features write them:
 * - the subscription and its first `subscription_changes` row (fromPlan null, at = startDate), as
 *   SubscriptionsService.subscribe writes them — dated the 1st of last month (00:00 UTC), so last
 *   month's invoice carries the full pro fee. Only when the user has no subscription at all; the
 *   change row only together with the subscription row this run created.
 * - a default sandbox Visa (`pm_sandbox_visa_…`, 4242, 12/2034), as PaymentMethodsService.add
 *   stores a `tok_visa` — only when the user has no live payment method.
 * - last month's usage as one POST /api/usage report (three rows sharing the report id, dated the
 *   month's last millisecond, transaction ids `<transactionId>:<type>`). The transactionId is fixed
 *   per month (`demo-seed-003-YYYY-MM`): the unique (user_id, transaction_id) index makes a re-run
 *   write nothing; a start in a later month adds that month's "last month", so the walk-through
 *   keeps working.
 * No outbox events: nothing happened live, and the demo has no webhook endpoints yet.
 */
function demoBilling(now) {
  const thisMonth = monthStart(now)
  const lastMonthStart = monthStart(thisMonth - 1)
  const month = monthOf(lastMonthStart)
  const demoUser = `FROM users u WHERE u.email = ${q(DEMO.email)}`

  const subId = newId('sub', lastMonthStart)
  const subAt = lastMonthStart
  const subscription =
    `INSERT OR IGNORE INTO subscriptions (id, user_id, plan, status, start_date, current_period_start, current_period_end, cancelled_at, created_at, updated_at) ` +
    `SELECT ${q(subId)}, u.id, 'pro', 'active', ${subAt}, ${lastMonthStart}, ${thisMonth - 86_400_000}, NULL, ${subAt}, ${subAt} ${demoUser}`
  const firstChange =
    `INSERT INTO subscription_changes (id, subscription_id, user_id, from_plan, to_plan, from_status, to_status, proration, at) ` +
    `SELECT ${q(newId('subchg', subAt))}, s.id, s.user_id, NULL, 'pro', NULL, 'active', 0, ${subAt} FROM subscriptions s WHERE s.id = ${q(subId)} ` +
    `AND NOT EXISTS (SELECT 1 FROM subscription_changes c WHERE c.subscription_id = s.id)`

  const pmId = newId('pm', now)
  const card =
    `INSERT INTO payment_methods (id, user_id, type, processor, processor_ref, last4, brand, expiry_month, expiry_year, bank_name, account_type, billing_address, is_default, is_verified, is_active, deleted_at, created_at, updated_at) ` +
    `SELECT ${q(pmId)}, u.id, 'credit_card', 'sandbox', ${q(`pm_sandbox_visa_${randomAlnum(17)}`)}, '4242', 'visa', 12, 2034, NULL, NULL, NULL, 1, 1, 1, NULL, ${now}, ${now} ${demoUser} ` +
    `AND NOT EXISTS (SELECT 1 FROM payment_methods p WHERE p.user_id = u.id AND p.deleted_at IS NULL)`

  const transactionId = `demo-seed-003-${month}`
  const reportId = newId('usg', now)
  const occurredAt = thisMonth - 1 // POST /api/usage dates a past month's report at its last instant
  const usage = METERS.map((m, i) => {
    const qty = DEMO_USAGE[m.metric]
    return (
      `INSERT OR IGNORE INTO usage_records (id, user_id, resource_type, resource_id, quantity, unit, unit_price, total_cost, currency, prepaid, description, month, occurred_at, transaction_id, report_id, created_at, updated_at) ` +
      `SELECT ${q(i === 0 ? reportId : newId('usg', now))}, u.id, ${q(m.type)}, NULL, ${qty}, ${q(m.unit)}, ${m.rate}, ${qty * m.rate}, 'USD', 0, ` +
      `${q(`Reported usage for ${month}: ${qty} ${m.unit}${qty === 1 ? '' : 's'}`)}, ${q(month)}, ${occurredAt}, ${q(`${transactionId}:${m.type}`)}, ${q(reportId)}, ${now}, ${now} ${demoUser}`
    )
  })

  return {
    statements: [subscription, firstChange, card, ...usage],
    selects: [
      `SELECT s.id, s.plan, s.status FROM subscriptions s JOIN users u ON u.id = s.user_id WHERE u.email = ${q(DEMO.email)}`,
      `SELECT p.id, p.brand, p.last4, p.is_default FROM payment_methods p JOIN users u ON u.id = p.user_id ` +
        `WHERE u.email = ${q(DEMO.email)} AND p.deleted_at IS NULL ORDER BY p.is_default DESC, p.created_at DESC LIMIT 1`,
      `SELECT r.report_id, r.resource_type, r.quantity FROM usage_records r JOIN users u ON u.id = r.user_id ` +
        `WHERE u.email = ${q(DEMO.email)} AND r.transaction_id IN (${METERS.map((m) => q(`${transactionId}:${m.type}`)).join(', ')})`,
    ],
    report([subs, methods, usageRows], log) {
      const sub = subs[0]
      if (!sub) throw new Error('seed: the demo subscription is missing after the insert')
      log(`  ${sub.id === subId ? 'created' : 'exists '}  subscription of ${DEMO.email}: ${sub.plan} (${sub.status})`)
      const pm = methods[0]
      if (!pm) throw new Error('seed: the demo payment method is missing after the insert')
      log(`  ${pm.id === pmId ? 'created' : 'exists '}  payment method ${pm.id} (${pm.brand ?? 'bank'} …${pm.last4}${pm.is_default ? ', default' : ''})`)
      if (usageRows.length !== METERS.length) throw new Error(`seed: the demo usage of ${month} is incomplete after the insert`)
      const created = usageRows[0].report_id === reportId
      log(`  ${created ? 'created' : 'exists '}  usage of ${month}: ${usageRows.map((r) => `${r.quantity} ${r.resource_type}`).join(', ')} (transactionId ${transactionId})`)
      return { month }
    },
  }
}

/**
 * The demo user's three sandbox SIMs (the SIM API): `npm start` registers them through the API once
 * the Worker answers (scripts/start.mjs). Here the sandbox upstream gets its own record of them, first
 * seen some hours ago, so their usage has grown by the time they are registered and the quotas are
 * part-used at once (the sandbox's usage grows with time: src/providers/sims/sandbox.ts).
 */
export const DEMO_SIMS = [
  { iccid: '8988228666000000001', label: 'Demo sensor A', hoursAgo: 2 },
  { iccid: '8988228666000000002', label: 'Demo tracker B', hoursAgo: 5 },
  { iccid: '8988228666000000003', label: 'Demo meter C', hoursAgo: 6.5 },
]

function demoSandboxSims(now) {
  return DEMO_SIMS.map((s) => insert('sandbox_sims', { iccid: s.iccid, status: 'Enabled', label: s.label, imei_lock: 0, activated_at: Math.round(now - s.hoursAgo * 3_600_000), updated_at: now }))
}

/**
 * Writes the demo rows that are missing. Returns what exists afterwards; `apiKey` is the plain demo
 * key when this call created it (it is stored only as a hash, so it can never be shown again), else null.
 */
export function seed({ log = console.log } = {}) {
  const now = Date.now()
  const users = [ADMIN, DEMO].map((u) => ({
    id: newId('usr', now),
    email: u.email,
    password_hash: hashPassword(u.password),
    first_name: u.firstName,
    last_name: 'User',
    timezone: 'UTC',
    role: u.role,
    status: 'active',
    email_verified: 1,
    marketing_consent: 0,
    preferences: '{}',
    created_at: now,
    updated_at: now,
  }))
  const provider = {
    id: 'prv_sandbox',
    code: 'sandbox',
    name: 'Sandbox',
    adapter: 'sandbox',
    kinds: JSON.stringify(['activation', 'did', 'sim', 'messaging']),
    status: 'active',
    healthy: 1,
    priority: 100,
    // The demo delivers an SMS 5 s after each purchase; the DID side serves every sandbox country.
    config: JSON.stringify({ activation: { autoSmsSeconds: 5 }, did: {} }),
    created_at: now,
    updated_at: now,
  }
  const key = `sk_live_${randomAlnum(43)}`
  const keyHash = createHash('sha256').update(key).digest('hex')
  const keyId = newId('key', now)
  // The key belongs to the demo user whatever its id; it is added only if that user has no "Demo key".
  const insertKey =
    `INSERT INTO api_keys (id, user_id, name, key_hash, key_prefix, mode, permissions, created_at, updated_at) ` +
    `SELECT ${q(keyId)}, u.id, ${q(DEMO_KEY_NAME)}, ${q(keyHash)}, ${q(key.slice(0, 16))}, 'live', '["*"]', ${now}, ${now} ` +
    `FROM users u WHERE u.email = ${q(DEMO.email)} ` +
    `AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = u.id AND k.name = ${q(DEMO_KEY_NAME)})`

  const billing = demoBilling(now)

  const results = sqlLocal([
    ...users.map((u) => insert('users', u)),
    insert('providers', provider),
    insertKey,
    ...billing.statements,
    ...demoSandboxSims(now),
    `SELECT id, email, role FROM users WHERE email IN (${q(ADMIN.email)}, ${q(DEMO.email)})`,
    `SELECT id, code, created_at FROM providers WHERE code = 'sandbox'`,
    `SELECT k.id, k.key_prefix, k.revoked_at FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.email = ${q(DEMO.email)} AND k.name = ${q(DEMO_KEY_NAME)} ORDER BY k.created_at LIMIT 1`,
    ...billing.selects,
  ])
  const [seededUsers, seededProviders, seededKeys] = results.slice(-3 - billing.selects.length, -billing.selects.length)
  for (const u of users) {
    const row = seededUsers.find((r) => r.email === u.email)
    if (!row) throw new Error(`seed: ${u.email} is missing after the insert`)
    log(`  ${row.id === u.id ? 'created' : 'exists '}  user ${u.email} (role ${row.role})`)
  }
  if (!seededProviders[0]) throw new Error('seed: the sandbox provider is missing after the insert')
  log(`  ${seededProviders[0].created_at === now ? 'created' : 'exists '}  provider sandbox (${seededProviders[0].id})`)
  const keyRow = seededKeys[0]
  if (!keyRow) throw new Error('seed: the demo API key is missing after the insert')
  const created = keyRow.id === keyId
  if (created) log(`  created  API key "${DEMO_KEY_NAME}" of ${DEMO.email} (${keyRow.key_prefix}…); the full key is shown once, below.`)
  else {
    log(`  exists   API key "${DEMO_KEY_NAME}" of ${DEMO.email} (${keyRow.key_prefix}…${keyRow.revoked_at ? ', revoked' : ''}); it was shown once, when it was created.`)
    log(`           Create another: POST /api/v1/api-keys {"name":"…","permissions":["*"]} with the demo user's Bearer token (from login).`)
  }
  const { month: billingMonth } = billing.report(results.slice(-billing.selects.length), log)
  return { users: seededUsers, provider: seededProviders[0], apiKey: created ? key : null, billingMonth }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    migrate()
    console.log('Seeding the local D1 database …')
    const { apiKey } = seed()
    if (apiKey) console.log(`\n  Demo API key (shown only now; stored as a hash): ${apiKey}\n`)
    console.log(`  Admin: ${ADMIN.email} / ${ADMIN.password}    Demo user: ${DEMO.email} / ${DEMO.password}`)
  } catch (e) {
    console.error(e.message)
    process.exit(1)
  }
}

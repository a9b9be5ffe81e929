#!/usr/bin/env node
// Seeds the local D1 database (the one `wrangler dev` uses) with a demo: an admin, a demo user with
// an API key, and the sandbox provider. Idempotent: rows that exist are left alone, and the demo API
// key is printed only by the run that creates it.
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

  const results = sqlLocal([
    ...users.map((u) => insert('users', u)),
    insert('providers', provider),
    insertKey,
    `SELECT id, email, role FROM users WHERE email IN (${q(ADMIN.email)}, ${q(DEMO.email)})`,
    `SELECT id, code, created_at FROM providers WHERE code = 'sandbox'`,
    `SELECT k.id, k.key_prefix, k.revoked_at FROM api_keys k JOIN users u ON u.id = k.user_id ` +
      `WHERE u.email = ${q(DEMO.email)} AND k.name = ${q(DEMO_KEY_NAME)} ORDER BY k.created_at LIMIT 1`,
  ])
  const [seededUsers, seededProviders, seededKeys] = results.slice(-3)
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
  return { users: seededUsers, provider: seededProviders[0], apiKey: created ? key : null }
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

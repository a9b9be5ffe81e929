// What the bench needs in the database, written directly through the bindings of the running
// Miniflare instance (never through `.wrangler/`): the migrations, accounts with API keys, money
// in their Wallet objects, the sandbox provider with its offers (the project's own provider sync),
// 10,000 + 100 numbers, a webhook endpoint, the sandbox SIM provider with SIMs registered
// through the API (only for the SIM paths that run), and messaging projects created through the
// API (only for the messaging paths that run). Rows are shaped like src/db/schema.ts: string ids,
// instants in epoch milliseconds, JSON as text, booleans as 0/1.
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from '../seed.mjs'

/** D1 binds at most 100 parameters per statement (src/db/chunk.ts). */
const MAX_BOUND_PARAMS = 100
/** Statements per db.batch call. */
const STATEMENTS_PER_BATCH = 100
const USD = 1_000_000

/** Applies migrations/*.sql in order, the statements of each file in one batch. */
export async function migrate(db) {
  const dir = join(root, 'migrations')
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
  for (const file of files) {
    const statements = readFileSync(join(dir, file), 'utf8')
      .split('--> statement-breakpoint')
      .map((s) => s.trim())
      .filter(Boolean)
    await db.batch(statements.map((s) => db.prepare(s)))
  }
  return files
}

/** Same format as src/lib/ids.ts: prefix, 10 chars of millisecond time, 16 random chars. */
export function newId(prefix, now = Date.now()) {
  const A = '0123456789abcdefghjkmnpqrstvwxyz'
  let time = ''
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = A[t % 32] + time
  return `${prefix}_${time}${[...randomBytes(16)].map((b) => A[b & 31]).join('')}`
}

function apiKey() {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return `sk_live_${[...randomBytes(43)].map((b) => chars[b % chars.length]).join('')}`
}

/** Multi-row INSERTs of `rows` (objects with the same keys), each under the parameter limit, run in batches. */
export async function insertRows(db, table, rows) {
  if (!rows.length) return
  const cols = Object.keys(rows[0])
  const perStatement = Math.max(1, Math.floor(MAX_BOUND_PARAMS / cols.length))
  const statements = []
  for (let i = 0; i < rows.length; i += perStatement) {
    const part = rows.slice(i, i + perStatement)
    const values = part.map(() => `(${cols.map(() => '?').join(', ')})`).join(', ')
    statements.push(db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES ${values}`).bind(...part.flatMap((r) => cols.map((c) => r[c]))))
  }
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_BATCH) await db.batch(statements.slice(i, i + STATEMENTS_PER_BATCH))
}

/** Users with one all-permission API key each. Returns [{ userId, email, key }]. */
export async function createAccounts(db, tags, { role = 'user' } = {}) {
  const now = Date.now()
  const accounts = tags.map((tag) => ({ userId: newId('usr', now), email: `${tag}@bench.example`, key: apiKey(), tag }))
  await insertRows(
    db,
    'users',
    accounts.map((a) => ({
      id: a.userId,
      email: a.email,
      // Never used: the bench authenticates with API keys only.
      password_hash: 'pbkdf2_sha256$100000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      first_name: 'Bench',
      last_name: a.tag,
      timezone: 'UTC',
      role,
      status: 'active',
      email_verified: 1,
      marketing_consent: 0,
      preferences: '{}',
      created_at: now,
      updated_at: now,
    })),
  )
  await insertRows(
    db,
    'api_keys',
    accounts.map((a) => ({
      id: newId('key', now),
      user_id: a.userId,
      name: 'bench',
      key_hash: createHash('sha256').update(a.key).digest('hex'),
      key_prefix: a.key.slice(0, 16),
      mode: 'live',
      permissions: '["*"]',
      created_at: now,
      updated_at: now,
    })),
  )
  return accounts
}

/** Credits `usd` to each account's Wallet object (the Wallet DO's own RPC, as test/helpers/catalog.ts does). */
export async function fund(mf, accounts, usd) {
  const ns = await mf.getDurableObjectNamespace('WALLET')
  for (const a of accounts) {
    const r = await ns.get(ns.idFromName(a.userId)).credit(a.userId, { opId: `bench_fund_${a.userId}`, amount: Math.round(usd * USD), description: 'bench funding' })
    if (!r.ok) throw new Error(`funding ${a.tag} failed: ${r.reason}`)
  }
  return Math.round(usd * USD)
}

/** `count` live DIDs of `userId`, inserted directly (the API would buy them one by one). */
export async function seedNumbers(db, userId, providerId, count, phonePrefix) {
  const now = Date.now()
  const rows = []
  for (let i = 0; i < count; i++) {
    const at = now - (count - i) * 60_000 // one a minute, oldest first, so createdAt order is real
    rows.push({
      id: newId('pn', at),
      user_id: userId,
      provider_id: providerId,
      phone_number: `${phonePrefix}${String(i).padStart(7, '0')}`,
      country_code: 'us',
      number_type: i % 10 === 0 ? 'TOLL_FREE' : 'LOCAL',
      capabilities: '["VOICE","SMS"]',
      status: i % 50 === 0 ? 'suspended' : 'active',
      features: '{}',
      monthly_price: 1_000_000 + (i % 7) * 250_000,
      currency: 'USD',
      tags: i % 3 === 0 ? '["bench"]' : '[]',
      purchased_at: at,
      created_at: at,
      updated_at: at,
    })
  }
  await insertRows(db, 'phone_numbers', rows)
}

const PROVIDER_ID = 'prv_bench_sandbox'
const SIM_PROVIDER_ID = 'prv_bench_sandbox_sim'
/** SIMs per POST /api/v1/sims (the route's maximum). */
const SIMS_PER_REGISTRATION = 100

/**
 * Everything the app's paths need. `url` is the running app (for the one API call: creating the
 * webhook endpoint, whose secret the app seals itself). Returns the fixtures.
 */
export async function seedApp({ mf, url, purchaseAccounts = 50, simAccounts = 50, didNumbers = 0, webhookUrl, log = () => {} }) {
  const db = await mf.getD1Database('DB')
  const files = await migrate(db)
  log(`migrations applied: ${files.join(', ')}`)

  // The sandbox provider without added latency, failures or the demo's automatic SMS. With
  // `didNumbers` (the DID purchase path), its DID inventory is that many US numbers (at most 9,000).
  const now = Date.now()
  const config = { activation: {}, did: didNumbers ? { countries: ['us'], perCountry: didNumbers } : {} }
  await db
    .prepare(
      `INSERT INTO providers (id, code, name, adapter, kinds, status, healthy, priority, config, created_at, updated_at)
       VALUES (?, 'sandbox', 'Sandbox', 'sandbox', '["activation","did"]', 'active', 1, 100, ?, ?, ?)`,
    )
    .bind(PROVIDER_ID, JSON.stringify(config), now, now)
    .run()
  // The project's provider sync (the */15 cron) writes the offers and the DID inventory.
  const worker = await mf.getWorker()
  const sync = await worker.scheduled({ cron: '*/15 * * * *' })
  if (sync.outcome !== 'ok') throw new Error(`provider sync failed: ${JSON.stringify(sync)}`)
  const offer = await db
    .prepare(`SELECT service_code AS serviceCode, country_code AS countryCode, price FROM offers WHERE provider_id = ? AND stock > 0 ORDER BY price, service_code, country_code LIMIT 1`)
    .bind(PROVIDER_ID)
    .first()
  if (!offer) throw new Error('the provider sync wrote no offers')
  log(`provider sync: offer ${offer.serviceCode}/${offer.countryCode} at ${offer.price / USD} USD`)
  // The SIM upstream: the sandbox as a provider of kind `sim` (registration picks it), with its
  // defaults (no latency, no failures). Added after the sync, which leaves SIM-only providers alone anyway.
  await db
    .prepare(
      `INSERT INTO providers (id, code, name, adapter, kinds, status, healthy, priority, config, created_at, updated_at)
       VALUES (?, 'sandbox-sim', 'Sandbox SIMs', 'sandbox', '["sim"]', 'active', 1, 100, '{"sim":{}}', ?, ?)`,
    )
    .bind(SIM_PROVIDER_ID, now, now)
    .run()

  const [balance, numbers100, numbers10k, single, hooks, simBulk, ...rest] = await createAccounts(db, [
    'balance',
    'numbers-100',
    'numbers-10k',
    'purchase-single',
    'webhooks',
    'sim-bulk',
    ...Array.from({ length: purchaseAccounts }, (_, i) => `purchase-${i + 1}`),
    ...Array.from({ length: simAccounts }, (_, i) => `sim-${i + 1}`),
  ])
  const spread = rest.slice(0, purchaseAccounts)
  const simSpread = rest.slice(purchaseAccounts)
  // Enough that no purchase run can run out: the ledger check must see every purchase charged.
  const singleFunding = await fund(mf, [single], 1_000_000)
  const spreadFunding = await fund(mf, spread, 100_000)
  // A top-up is $0.02: far more than any run takes, so none fails for money.
  const simFunding = await fund(mf, simSpread, 10_000)
  const simBulkFunding = await fund(mf, [simBulk], 10_000)
  await fund(mf, [balance], 100)
  log(`accounts: ${6 + spread.length + simSpread.length}, wallets funded`)

  await seedNumbers(db, numbers10k.userId, PROVIDER_ID, 10_000, '+1555')
  await seedNumbers(db, numbers100.userId, PROVIDER_ID, 100, '+1556')
  log('numbers: 10,000 + 100 inserted')

  let endpointId = null
  if (webhookUrl) {
    const res = await fetch(`${url}/api/v1/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': hooks.key },
      body: JSON.stringify({ url: webhookUrl, events: ['*'], description: 'bench receiver' }),
    })
    const body = await res.json()
    if (res.status !== 201) throw new Error(`creating the webhook endpoint failed: ${res.status} ${JSON.stringify(body)}`)
    endpointId = body.data.id
  }

  return {
    providerId: PROVIDER_ID,
    offer: { serviceCode: offer.serviceCode, countryCode: offer.countryCode, price: offer.price },
    balance,
    numbers100,
    numbers10k,
    single: { ...single, funded: singleFunding },
    spread: spread.map((a) => ({ ...a, funded: spreadFunding })),
    hooks: { ...hooks, endpointId },
    simSpread: simSpread.map((a) => ({ ...a, funded: simFunding })),
    simBulk: { ...simBulk, funded: simBulkFunding },
  }
}

/**
 * `count` 19-digit ICCIDs the sandbox knows (issuer prefix 8988228), distinct across `series`
 * (one digit), so the SIM paths never share a SIM.
 */
export function benchIccids(series, count) {
  return Array.from({ length: count }, (_, i) => `8988228${series}${String(i + 1).padStart(11, '0')}`)
}

/**
 * Registers `iccids` to the account through the API (POST /api/v1/sims, 100 a request, `parallel`
 * requests at once): each SIM is asked of the sandbox upstream and gets its quota rows, as a
 * client's would. Throws unless every SIM was created.
 */
export async function registerSims(url, account, iccids, { parallel = 1 } = {}) {
  const parts = []
  for (let i = 0; i < iccids.length; i += SIMS_PER_REGISTRATION) parts.push(iccids.slice(i, i + SIMS_PER_REGISTRATION))
  let next = 0
  const worker = async () => {
    while (next < parts.length) {
      const part = parts[next++]
      const res = await fetch(`${url}/api/v1/sims`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': account.key },
        body: JSON.stringify({ sims: part.map((iccid) => ({ iccid })) }),
      })
      const body = await res.json()
      if (res.status !== 201) throw new Error(`registering SIMs of ${account.tag} failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`)
      if (body.data.failed) throw new Error(`registering SIMs of ${account.tag}: ${body.data.failed} failed, e.g. ${JSON.stringify(body.data.sims.find((x) => x.status !== 'created'))}`)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, parts.length) }, worker))
}

/**
 * `iccids` as SIMs of `account`, inserted directly (registering 10,000 through the API asks the
 * sandbox about each SIM one by one: minutes): the rows registration writes — the sandbox
 * upstream's record of each SIM (Enabled, activated now), the SIM at the bench's SIM provider, and
 * its data and SMS quotas as the sandbox starts them (500 MiB, 250 messages, nothing used).
 * Identity fields (IMSI, MSISDN, IPs) and the `sim_registered` events are left out: no top-up reads them.
 */
export async function insertSims(mf, account, iccids) {
  const db = await mf.getD1Database('DB')
  const now = Date.now()
  await insertRows(
    db,
    'sandbox_sims',
    iccids.map((iccid) => ({ iccid, status: 'Enabled', activated_at: now, updated_at: now })),
  )
  await insertRows(
    db,
    'sims',
    iccids.map((iccid) => ({
      user_id: account.userId,
      iccid,
      provider_id: SIM_PROVIDER_ID,
      status: 'Enabled',
      activation_date: now,
      status_checked_at: now,
      last_synced_at: now,
      created_at: now,
      updated_at: now,
    })),
  )
  const { results } = await db.prepare('SELECT id FROM sims WHERE user_id = ?').bind(account.userId).all()
  const quota = (id, type, volume) => ({ sim_id: id, quota_type: type, user_id: account.userId, volume, used_volume: 0, observed_at: now, updated_at: now })
  await insertRows(
    db,
    'sim_quotas',
    results.flatMap((r) => [quota(r.id, 'data', 500 * 1024 * 1024), quota(r.id, 'sms', 250)]),
  )
}

/** A sandbox message's price: $0.001 (MESSAGE_RATES in src/modules/subscriptions/plans.ts), in micro-units. */
export const MESSAGE_PRICE = 1_000

/**
 * Messaging accounts (issue 13), one per tag: a user with an all-permission API key and `usd` in its
 * Wallet, then through the API, as a client sets up: a project, a sandbox connector that delivers at
 * once (`deliverAfterMs: 0`: the receipt is queued right after the send), a template of one variable
 * and a project key (`pk_live_…`, no hourly `rateLimit` of its own). `parallel` accounts at a time.
 * Returns [{ userId, tag, key, funded, projectId, connectorId, templateId, projectKey }].
 */
export async function seedMessaging({ mf, url, tags, usd, parallel = 4 }) {
  const db = await mf.getD1Database('DB')
  const accounts = await createAccounts(db, tags)
  const funded = await fund(mf, accounts, usd)
  const post = async (a, path, body) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': a.key }, body: JSON.stringify(body) })
    const out = await res.json()
    if (res.status !== 201) throw new Error(`messaging set-up of ${a.tag}: POST ${path} answered ${res.status} ${JSON.stringify(out).slice(0, 300)}`)
    return out.data
  }
  const out = []
  let next = 0
  const worker = async () => {
    while (next < accounts.length) {
      const a = accounts[next++]
      const project = await post(a, '/api/v1/projects', { name: `bench ${a.tag}` })
      const connector = await post(a, `/api/v1/projects/${project.id}/connectors`, { type: 'sandbox', name: 'bench sandbox', credentials: { deliverAfterMs: 0 } })
      const template = await post(a, `/api/v1/projects/${project.id}/templates`, { name: 'bench code', connectorType: 'sandbox', content: 'Your code is {{code}}', variables: ['code'] })
      const key = await post(a, `/api/v1/projects/${project.id}/keys`, { name: 'bench' })
      out.push({ ...a, funded, projectId: project.id, connectorId: connector.id, templateId: template.id, projectKey: key.key })
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, accounts.length) }, worker))
  return tags.map((tag) => out.find((a) => a.tag === tag))
}

/** The floor's one D1 table, with the row its route reads among others. */
export async function seedFloor(mf) {
  const db = await mf.getD1Database('DB')
  await db.prepare(`CREATE TABLE IF NOT EXISTS floor_kv (id TEXT PRIMARY KEY, value TEXT NOT NULL)`).run()
  await db.prepare(`CREATE TABLE IF NOT EXISTS floor_log (id TEXT PRIMARY KEY, value INTEGER NOT NULL, created_at INTEGER NOT NULL)`).run()
  await insertRows(
    db,
    'floor_kv',
    Array.from({ length: 1000 }, (_, i) => ({ id: `k${i + 1}`, value: `value ${i + 1}` })),
  )
}

/**
 * `count` events of the webhook account in the outbox, marked sent (so no drain or sweeper sends
 * them too). Returns their ids; the bench puts them on the `events` queue itself.
 */
export async function seedEvents(mf, userId, count) {
  const db = await mf.getD1Database('DB')
  const now = Date.now()
  const rows = Array.from({ length: count }, (_, i) => ({
    id: newId('evt', now + i),
    type: 'activation.created',
    user_id: userId,
    payload: JSON.stringify({ numberId: `num_bench_${i}`, phone: '+15550000000', serviceCode: 'telegram', countryCode: 'us', price: 0.36 }),
    created_at: now + i,
    sent_at: now + i,
  }))
  await insertRows(db, 'outbox', rows)
  return rows.map((r) => r.id)
}

/**
 * Every list query of the API under EXPLAIN QUERY PLAN, on tables holding thousands of rows: the
 * plans are printed, and a full scan (`SCAN <table>` without an index) of a large table fails.
 *
 * How: each case of CASES is a real request through the app (createApp with the test worker's
 * bindings) whose D1 binding records every statement the route runs, SQL and parameters — the
 * same SQL the route runs in production, whatever builds it. Then every table gets filler rows
 * generated from the schema in D1 (thousands per table, spread over 2,000 accounts), and each
 * recorded SELECT is explained twice: as a fresh D1 database plans it (no statistics), and after
 * ANALYZE (the planner then knows the tables are large). The statements of the authentication
 * every request makes are checked once, in their own case. The wallet's transactions live in the
 * Wallet Durable Object's own SQLite; their query is recorded and explained there.
 *
 * ADDING A LIST ROUTE (billing and others, at the marked place in CASES): a row with a name, the
 * path with its query string (`{userId}`, `{webhookId}`… are filled from the fixtures), and who
 * calls it. `allowScan` only where no index can help (a substring search), with the reason.
 */
import { env, runInDurableObject } from 'cloudflare:test'
import { getTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import * as schema from '../../src/db/schema'
import { buildRequest, call, createApiKey, registerAdmin, registerUser, type TestUser } from '../helpers/api'
import { send } from '../helpers/app'
import { fund, sandboxProvider, seedOffers } from '../helpers/catalog'
import { buy, seedDids } from '../helpers/dids'
import { registerSims, simProvider, uniqueIccid } from '../helpers/sims'

// ---- the cases --------------------------------------------------------------------------------

interface ListCase {
  name: string
  /** Path and query string; `{userId}`, `{adminId}`, `{webhookId}`, `{email}` come from the fixtures. */
  path: string
  as: 'user' | 'admin'
  /** Tables this case may scan in full, each with the reason no index can serve it. */
  allowScan?: Record<string, string>
  /**
   * Full scans found by this test that an index would remove, left to the schema's owners: printed
   * as TO FIX, not failed. Remove the entry with the fix (the test then keeps it from coming back).
   */
  knownScan?: Record<string, string>
}

const SUBSTRING = 'a substring search (LIKE %…%) cannot use a b-tree index; the admin list is paged and rare'

const CASES: ListCase[] = [
  // Account
  { name: 'API keys', path: '/api/v1/api-keys', as: 'user' },

  // Admin
  { name: 'admin users', path: '/api/v1/admin/users', as: 'admin' },
  { name: 'admin users: role + status', path: '/api/v1/admin/users?role=user&status=active', as: 'admin' },
  { name: 'admin users: sort lastLoginAt', path: '/api/v1/admin/users?sortBy=lastLoginAt', as: 'admin' },
  { name: 'admin users: sort email asc', path: '/api/v1/admin/users?sortBy=email&sortOrder=asc', as: 'admin' },
  { name: 'admin users: search', path: '/api/v1/admin/users?search=example', as: 'admin', allowScan: { users: SUBSTRING } },
  { name: 'admin audit log', path: '/api/v1/admin/audit-log', as: 'admin' },
  { name: 'admin audit log: actor', path: '/api/v1/admin/audit-log?actorId={adminId}', as: 'admin' },
  { name: 'admin audit log: target', path: '/api/v1/admin/audit-log?targetType=user&targetId={userId}', as: 'admin' },
  { name: 'admin audit log: target type', path: '/api/v1/admin/audit-log?targetType=user', as: 'admin' },
  {
    name: 'admin audit log: target id',
    path: '/api/v1/admin/audit-log?targetId={userId}',
    as: 'admin',
  },
  { name: 'admin emails', path: '/api/v1/admin/emails', as: 'admin' },
  { name: 'admin emails: to', path: '/api/v1/admin/emails?to={email}', as: 'admin' },
  {
    name: 'admin emails: kind',
    path: '/api/v1/admin/emails?kind=verify_email',
    as: 'admin',
  },
  { name: 'admin failed jobs', path: '/api/v1/admin/failed-jobs', as: 'admin' },
  { name: 'admin failed jobs: status', path: '/api/v1/admin/failed-jobs?status=dead', as: 'admin' },
  { name: 'admin failed jobs: type', path: '/api/v1/admin/failed-jobs?type=billing.invoice', as: 'admin' },
  { name: 'admin providers', path: '/api/v1/admin/providers', as: 'admin' },

  // Activations and offers (the activation API)
  { name: 'activations', path: '/api/numbers/my', as: 'user' },
  { name: 'activations: status', path: '/api/numbers/my?status=active', as: 'user' },
  {
    name: 'offers',
    path: '/api/search/offers',
    as: 'user',
  },
  { name: 'offers: country code', path: '/api/search/offers?country=us', as: 'user' },
  { name: 'offers: text', path: '/api/search/offers?q=tele', as: 'user', allowScan: { offers: 'a substring search over service and country names' } },

  // DIDs, reservations, orders (the DID API)
  { name: 'numbers', path: '/api/v1/numbers', as: 'user' },
  { name: 'numbers: status', path: '/api/v1/numbers?status=active,pending', as: 'user' },
  { name: 'numbers: search', path: '/api/v1/numbers?search=415', as: 'user' },
  { name: 'numbers: tags', path: '/api/v1/numbers?tags=a', as: 'user' },
  { name: 'numbers: sort monthlyPrice', path: '/api/v1/numbers?sortBy=monthlyPrice', as: 'user' },
  { name: 'numbers: page 3', path: '/api/v1/numbers?page=3&limit=50', as: 'user' },
  { name: 'number inventory search', path: '/api/v1/numbers/search?countryCode=US&areaCode=415', as: 'user' },
  { name: 'reservations', path: '/api/v1/numbers/reservations', as: 'user' },
  { name: 'orders', path: '/api/v1/orders', as: 'user' },
  { name: 'orders: status', path: '/api/v1/orders?status=completed', as: 'user' },
  { name: 'orders: date range', path: '/api/v1/orders?dateFrom=2026-01-01&dateTo=2027-01-01', as: 'user' },
  { name: 'orders: sort totalAmount', path: '/api/v1/orders?sortBy=totalAmount', as: 'user' },

  // SIMs (the SIM API)
  { name: 'sims', path: '/api/v1/sims', as: 'user' },
  { name: 'sims: status', path: '/api/v1/sims?status=Enabled', as: 'user' },
  { name: 'sims: sort updated_at', path: '/api/v1/sims?sort_by=updated_at', as: 'user' },
  { name: 'sims: sort label asc', path: '/api/v1/sims?sort_by=label&sort_order=asc', as: 'user' },
  { name: 'sims: sort iccid', path: '/api/v1/sims?sort_by=iccid', as: 'user' },
  { name: 'sims: sort activation_date', path: '/api/v1/sims?sort_by=activation_date', as: 'user' },
  { name: 'sims: sort status', path: '/api/v1/sims?sort_by=status', as: 'user' },
  { name: 'sims: search iccid', path: '/api/v1/sims?search=8988228', as: 'user' },
  { name: 'sims: search label', path: '/api/v1/sims?search=pump', as: 'user' },
  { name: 'sims: page 3', path: '/api/v1/sims?page=3&page_size=20', as: 'user' },
  { name: 'sim events', path: '/api/v1/sims/{iccid}/events', as: 'user' },
  { name: 'sim events: type', path: '/api/v1/sims/{iccid}/events?event_type=sim_registered', as: 'user' },
  { name: 'sim events: date range', path: '/api/v1/sims/{iccid}/events?start_date=2026-01-01&end_date=2027-12-31', as: 'user' },
  { name: 'sim job', path: '/api/v1/jobs/{jobId}', as: 'user' },
  { name: 'sim sms', path: '/api/v1/sims/{iccid}/sms', as: 'user' },
  { name: 'sim sms: direction + status', path: '/api/v1/sims/{iccid}/sms?direction=MT&status=delivered', as: 'user' },
  { name: 'sim sms: date range', path: '/api/v1/sims/{iccid}/sms?start_date=2026-01-01&end_date=2027-12-31', as: 'user' },

  // Messaging (the MessageJS API)
  { name: 'projects', path: '/api/v1/projects', as: 'user' },
  { name: 'project keys', path: '/api/v1/projects/{projectId}/keys', as: 'user' },
  { name: 'connectors', path: '/api/v1/projects/{projectId}/connectors', as: 'user' },
  { name: 'templates', path: '/api/v1/projects/{projectId}/templates', as: 'user' },
  { name: 'messages', path: '/api/v1/messages?projectId={projectId}', as: 'user' },
  { name: 'messages: status', path: '/api/v1/messages?projectId={projectId}&status=delivered', as: 'user' },
  { name: 'messages: connector', path: '/api/v1/messages?projectId={projectId}&connector=sandbox', as: 'user' },
  { name: 'messages: date range', path: '/api/v1/messages?projectId={projectId}&from=2026-01-01&to=2027-12-31', as: 'user' },
  { name: 'messages: status + date range', path: '/api/v1/messages?projectId={projectId}&status=queued&from=2026-01-01', as: 'user' },
  { name: 'messages: page 3', path: '/api/v1/messages?projectId={projectId}&limit=20&offset=40', as: 'user' },

  // Webhooks
  { name: 'webhooks', path: '/api/v1/webhooks', as: 'user' },
  { name: 'webhook deliveries', path: '/api/v1/webhooks/{webhookId}/deliveries', as: 'user' },
  { name: 'webhook deliveries: status', path: '/api/v1/webhooks/{webhookId}/deliveries?status=failed,retrying', as: 'user' },
  { name: 'webhook deliveries: event', path: '/api/v1/webhooks/{webhookId}/deliveries?event=activation.created', as: 'user' },

  // Billing (the DID API's billing and usage billing) — ADD NEW BILLING LIST ROUTES HERE.
  { name: 'invoices', path: '/api/v1/billing/invoices', as: 'user' },
  { name: 'invoices: status', path: '/api/v1/billing/invoices?status=paid', as: 'user' },
  { name: 'invoices: sort totalAmount', path: '/api/v1/billing/invoices?sortBy=totalAmount', as: 'user' },
  { name: 'invoices (usage billing)', path: '/api/invoices', as: 'user' },
  { name: 'payment methods', path: '/api/v1/billing/payment-methods', as: 'user' },
  { name: 'usage history', path: '/api/usage', as: 'user' },
  { name: 'usage of a period', path: '/api/v1/billing/usage?startDate=2026-01-01&endDate=2026-12-31', as: 'user' },
  { name: 'stats', path: '/api/stats', as: 'user' },
  { name: 'analytics dashboard', path: '/api/v1/analytics/dashboard', as: 'user' },

  // Messaging analytics (seed 004)
  { name: 'message analytics', path: '/api/v1/analytics/messages?from=2026-01-01&to=2026-12-31', as: 'user' },
  { name: 'message analytics: project', path: '/api/v1/analytics/messages?projectId={projectId}&from=2026-01-01&to=2026-12-31', as: 'user' },
  { name: 'messaging usage', path: '/api/v1/analytics/usage', as: 'user' },
  { name: 'messaging usage: project', path: '/api/v1/analytics/usage?projectId={projectId}', as: 'user' },
]

/** Tables that stay small whatever the traffic (a scan of them is fine). Every other table counts as large. */
const SMALL_TABLES = new Set(['providers'])

/** Filler columns that must not look like work to do: events already sent, endpoints inactive. */
const FILLER_OVERRIDES: Record<string, Record<string, string>> = {
  outbox: { sent_at: `${Date.UTC(2026, 0, 1)} + i` },
  webhook_endpoints: { events: `'[]'`, is_active: '0' },
}

/** Filler rows per table; accounts get `FILLER_USERS` of them, and rows are spread over those. */
const FILLER_ROWS = 4000
const FILLER_USERS = 2000

// ---- recording the SQL of a request ------------------------------------------------------------

interface Statement {
  sql: string
  params: unknown[]
}

/** A D1 binding that records every executed statement (batches included) and runs it on `real`. */
function recordingDb(real: D1Database) {
  const statements: Statement[] = []
  const meta = new WeakMap<object, { stmt: D1PreparedStatement } & Statement>()
  const wrap = (stmt: D1PreparedStatement, sql: string, params: unknown[]): D1PreparedStatement => {
    const recorded = <T>(run: () => T): T => {
      statements.push({ sql, params })
      return run()
    }
    const w = {
      bind: (...args: unknown[]) => wrap(stmt.bind(...args), sql, args),
      first: (col?: string) => recorded(() => (col === undefined ? stmt.first() : stmt.first(col))),
      all: () => recorded(() => stmt.all()),
      run: () => recorded(() => stmt.run()),
      raw: (opts?: { columnNames?: boolean }) => recorded(() => stmt.raw(opts as { columnNames: true })),
    }
    meta.set(w, { stmt, sql, params })
    return w as unknown as D1PreparedStatement
  }
  const db = {
    prepare: (sql: string) => wrap(real.prepare(sql), sql, []),
    batch: (stmts: D1PreparedStatement[]) => {
      for (const s of stmts) {
        const m = meta.get(s)
        if (m) statements.push({ sql: m.sql, params: m.params })
      }
      return real.batch(stmts.map((s) => meta.get(s)?.stmt ?? s))
    },
    exec: (sql: string) => real.exec(sql),
    dump: () => real.dump(),
    withSession: () => {
      throw new Error('query-plans: D1 sessions are not recorded')
    },
  }
  return { db: db as unknown as D1Database, statements }
}

const isRead = (sql: string) => /^\s*(select|with)\b/i.test(sql)

// ---- plans ------------------------------------------------------------------------------------

interface PlanRow {
  id: number
  parent: number
  detail: string
}

/** The plan as an indented tree, one line per step. */
async function explain(s: Statement): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${s.sql}`)
    .bind(...s.params)
    .all<PlanRow>()
  const depth = new Map<number, number>([[0, -1]])
  return results.map((r) => {
    const d = (depth.get(r.parent) ?? -1) + 1
    depth.set(r.id, d)
    return `${'  '.repeat(d)}${r.detail}`
  })
}

const KEYWORDS = new Set([
  'where',
  'left',
  'right',
  'inner',
  'outer',
  'cross',
  'join',
  'on',
  'order',
  'group',
  'limit',
  'offset',
  'union',
  'using',
  'as',
  'natural',
  'having',
  'window',
  'values',
  'set',
])

/** Alias (or name) → table, for every table named after FROM or JOIN in `sql`. */
function tableAliases(sql: string): Map<string, string> {
  const out = new Map<string, string>()
  const re = /\b(?:from|join)\s+"?([a-z_][a-z0-9_]*)"?(?:\s+(?:as\s+)?"?([a-z_][a-z0-9_]*)"?)?/gi
  for (const m of sql.matchAll(re)) {
    const table = m[1]!.toLowerCase()
    out.set(table, table)
    const alias = m[2]?.toLowerCase()
    if (alias && !KEYWORDS.has(alias)) out.set(alias, table)
  }
  return out
}

/**
 * The large tables a plan reads in full:
 * - `SCAN t` without an index: every row of the table;
 * - `SCAN t USING [COVERING] INDEX` on a filtered statement, unless the index hands rows over in
 *   the ORDER BY's order to a LIMIT (no `USE TEMP B-TREE FOR ORDER BY`): then the walk stops after
 *   the page. Otherwise every entry of the index is read (a filtered count, a full sort).
 * An index walk of an unfiltered statement (the total of an admin list) reads everything by
 * definition and is not counted.
 */
function fullScans(plan: string[], sql: string): string[] {
  const aliases = tableAliases(sql)
  const filtered = /\bwhere\b/i.test(sql)
  const pagedInOrder = /\blimit\b/i.test(sql) && !plan.some((l) => /USE TEMP B-TREE FOR ORDER BY/.test(l))
  const out: string[] = []
  for (const line of plan) {
    const m = /^\s*SCAN (\S+)(.*)$/.exec(line)
    if (!m) continue
    const table = aliases.get(m[1]!.toLowerCase()) ?? m[1]!.toLowerCase()
    if (SMALL_TABLES.has(table) || !LARGE.has(table)) continue
    const indexed = /USING (COVERING )?INDEX/.test(m[2]!)
    if (!indexed || (filtered && !pagedInOrder)) out.push(table)
  }
  return [...new Set(out)]
}

/** Every table of the database (filled below). */
const LARGE = new Set<string>()

// ---- filler rows --------------------------------------------------------------------------------

interface ColumnInfo {
  name: string
  type: string
  notnull: number
  pk: number
}

/** Column hints from the drizzle schema: enum values, JSON, instants, booleans. */
function schemaHints(): Map<string, Map<string, { enumValues?: string[]; columnType: string }>> {
  const out = new Map<string, Map<string, { enumValues?: string[]; columnType: string }>>()
  for (const value of Object.values(schema)) {
    if (!(value instanceof SQLiteTable)) continue
    const cfg = getTableConfig(value)
    out.set(cfg.name, new Map(cfg.columns.map((c) => [c.name, { enumValues: (c as { enumValues?: string[] }).enumValues, columnType: c.columnType }])))
  }
  return out
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`
const BASE_MS = Date.UTC(2026, 0, 1)

/**
 * FILLER_ROWS rows in every table (FILLER_USERS in users), in foreign-key order, generated in
 * SQL (no bound parameters). Ids are `f_<n>`; a foreign key points at `f_<n mod parent rows>`;
 * accounts' rows are spread over every filler account; nullable columns stay NULL except ids;
 * enums cycle through their values. `INSERT OR IGNORE` drops rows a unique index refuses (one
 * subscription per account…).
 */
async function fillTables(): Promise<Record<string, number>> {
  const hints = schemaHints()
  const { results: tables } = await env.DB.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'`).all<{
    name: string
  }>()
  const info = new Map<string, { cols: ColumnInfo[]; fks: { table: string; from: string }[] }>()
  for (const { name } of tables) {
    const cols = (await env.DB.prepare(`PRAGMA table_info(${sqlString(name)})`).all<ColumnInfo>()).results
    const fks = (await env.DB.prepare(`PRAGMA foreign_key_list(${sqlString(name)})`).all<{ table: string; from: string }>()).results
    info.set(name, { cols, fks })
    LARGE.add(name)
  }
  // Parents before children.
  const order: string[] = []
  const visit = (t: string, path: Set<string>) => {
    if (order.includes(t) || path.has(t)) return
    path.add(t)
    for (const fk of info.get(t)?.fks ?? []) if (fk.table !== t) visit(fk.table, path)
    order.push(t)
  }
  for (const t of info.keys()) visit(t, new Set())

  const counts: Record<string, number> = {}
  // Tables keyed by an integer (SIMs, their events and SMS): filler rows take the ids after the last real one.
  const intBase: Record<string, number> = {}
  const intPk = (table: string) => info.get(table)!.cols.find((c) => c.pk && /INT/i.test(c.type) && info.get(table)!.cols.filter((x) => x.pk).length === 1)
  for (const table of order) {
    const { cols, fks } = info.get(table)!
    const n = table === 'users' ? FILLER_USERS : FILLER_ROWS
    const pk = intPk(table)
    if (pk) intBase[table] = (await env.DB.prepare(`SELECT coalesce(max("${pk.name}"), 0) AS n FROM "${table}"`).first<{ n: number }>())?.n ?? 0
    const exprs = cols.map((c) => {
      const fk = fks.find((f) => f.from === c.name)
      const hint = hints.get(table)?.get(c.name)
      const override = FILLER_OVERRIDES[table]?.[c.name]
      if (override) return override
      if (fk && fk.table !== table && intBase[fk.table] !== undefined) return `${intBase[fk.table]! + 1} + (i % ${Math.max(1, counts[fk.table] ?? 1)})`
      if (fk && fk.table !== table) return `'f_' || (i % ${Math.max(1, counts[fk.table] ?? 1)})`
      if (c.pk && /TEXT/i.test(c.type)) return `'f_' || i`
      if (!c.notnull) return c.name.endsWith('_id') ? `'f_' || (i % ${FILLER_USERS})` : 'NULL'
      if (hint?.enumValues?.length) return `CASE i % ${hint.enumValues.length} ${hint.enumValues.map((v, k) => `WHEN ${k} THEN ${sqlString(v)}`).join(' ')} END`
      if (/INT/i.test(c.type)) {
        if (hint?.columnType === 'SQLiteBoolean') return 'i % 2'
        if (hint?.columnType === 'SQLiteTimestamp' || /_at$|_date$|_start$|_end$|^at$/.test(c.name)) return `${BASE_MS} + i * 60000`
        return 'i'
      }
      if (hint?.columnType === 'SQLiteTextJson') return `'{}'`
      return `${sqlString(`${c.name}_`)} || i`
    })
    await env.DB.prepare(
      `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${n - 1})
       INSERT OR IGNORE INTO "${table}" (${cols.map((c) => `"${c.name}"`).join(', ')}) SELECT ${exprs.join(', ')} FROM seq`,
    ).run()
    const filler = pk ? `"${pk.name}" > ${intBase[table]}` : cols.some((c) => c.pk && /TEXT/i.test(c.type)) ? `"${cols.find((c) => c.pk && /TEXT/i.test(c.type))!.name}" LIKE 'f\\_%' ESCAPE '\\'` : '1'
    const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${table}" WHERE ${filler}`).first<{ n: number }>()
    counts[table] = row?.n ?? 0
  }
  return counts
}

// ---- fixtures and the run -----------------------------------------------------------------------

interface Fixtures {
  user: TestUser
  admin: TestUser
  vars: Record<string, string>
}

interface Recorded {
  status: number
  text: string
  statements: Statement[]
}

/** One request through the app with a recording D1 binding. */
async function record(path: string, token: string): Promise<Recorded> {
  const rec = recordingDb(env.DB)
  const res = await send(createApp(), buildRequest(path, { token }), { DB: rec.db })
  return { status: res.status, text: res.text, statements: rec.statements }
}

/** Data for every list to return something, so the queries that follow a page (codes, attempts…) run too. */
async function fixtures(): Promise<Fixtures> {
  const user = await registerUser()
  const admin = await registerAdmin()
  await createApiKey(user)
  const provider = await sandboxProvider({ activation: {}, did: {} })
  await seedOffers(provider)
  await fund(user.id, 100)
  const activation = await call('/api/numbers/purchase', { token: user.accessToken, body: { serviceCode: 'telegram', countryCode: 'us' } })
  if (activation.status !== 201) throw new Error(`activation purchase: ${activation.text}`)
  const [a, b, c] = await seedDids(provider, [{}, {}, {}])
  await buy(user, [a!, b!])
  const reservation = await call('/api/v1/numbers/reservations', { token: user.accessToken, body: { phoneNumbers: [c] } })
  if (reservation.status !== 201) throw new Error(`reservation: ${reservation.text}`)
  const topUp = await call('/api/wallet/topup', { token: admin.accessToken, body: { userId: user.id, amount: 5, reason: 'query plan fixture' } })
  if (topUp.status >= 300) throw new Error(`top-up: ${topUp.text}`)
  // Subscribed to an event nothing here emits, so no delivery of the purchases above is attempted (no outbound calls).
  const hook = await call('/api/v1/webhooks', { token: user.accessToken, body: { url: 'https://hooks.example.com/switchboard', events: ['sms.received'] } })
  if (hook.status !== 201) throw new Error(`webhook: ${hook.text}`)
  const webhookId = hook.body.data.id as string
  const now = Date.now()
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, user_id, endpoint_id, target, url, event_id, event_type, payload, status, attempt_count, payload_size, created_at, updated_at)
       VALUES ('dlv_plan', ?, ?, ?, 'https://hooks.example.com/switchboard', 'evt_plan', 'activation.created', '{}', 'failed', 1, 2, ?, ?)`,
    ).bind(user.id, webhookId, webhookId, now, now),
    env.DB.prepare(`INSERT INTO webhook_attempts (id, delivery_id, attempt, status, http_status, created_at) VALUES ('wat_plan', 'dlv_plan', 1, 'failure', 500, ?)`).bind(now),
    env.DB.prepare(`INSERT INTO projects (id, user_id, name, created_at, updated_at) VALUES ('proj_plan', ?, 'query plan fixture', ?, ?)`).bind(user.id, now, now),
  ])
  await simProvider({ alwaysConnected: true })
  const [sim] = await registerSims(user, [uniqueIccid()])
  const job = await call('/api/v1/sims/topup', { token: user.accessToken, body: { sims: [{ iccid: sim!.iccid, quota_type: 'data', volume: 1048576 }] } })
  if (job.status !== 202) throw new Error(`bulk top-up: ${job.text}`)
  return { user, admin, vars: { userId: user.id, adminId: admin.id, webhookId, email: encodeURIComponent(user.email), iccid: sim!.iccid, jobId: job.body.data.job_id, projectId: 'proj_plan' } }
}

interface CaseResult {
  c: ListCase
  status: number
  text: string
  statements: Statement[]
  plans: { bare: string[]; analyzed: string[] }[]
}

const AUTH_CASE: ListCase = { name: 'authentication (every request: session and API key)', path: '/health/live', as: 'user' }

let results: CaseResult[] = []
let analyzed = false
let filled: Record<string, number> = {}

beforeAll(async () => {
  const fx = await fixtures()
  const key = await createApiKey(fx.user)
  const tokenOf = (as: ListCase['as']) => (as === 'admin' ? fx.admin.accessToken : fx.user.accessToken)
  const fill = (path: string) => path.replace(/\{(\w+)\}/g, (_, k: string) => fx.vars[k] ?? `{${k}}`)

  // What authentication runs (a session, and an API key) on every request: checked once, left out of the cases.
  const session = await record('/health/live', fx.user.accessToken)
  const rec = recordingDb(env.DB)
  await send(createApp(), buildRequest('/health/live', { apiKey: key.key }), { DB: rec.db })
  const authStatements = [...session.statements, ...rec.statements].filter((s) => isRead(s.sql))
  const everyRequest = new Set(authStatements.map((s) => s.sql))

  const recorded: { c: ListCase; r: Recorded }[] = [{ c: AUTH_CASE, r: { status: 200, text: '', statements: authStatements } }]
  for (const c of CASES) {
    const r = await record(fill(c.path), tokenOf(c.as))
    const seen = new Set<string>()
    const statements = r.statements.filter((s) => isRead(s.sql) && !everyRequest.has(s.sql) && !seen.has(s.sql) && seen.add(s.sql))
    recorded.push({ c, r: { ...r, statements } })
  }

  filled = await fillTables()
  const bare = await Promise.all(recorded.map(({ r }) => Promise.all(r.statements.map(explain))))
  try {
    await env.DB.prepare('ANALYZE').run()
    analyzed = true
  } catch (e) {
    console.warn(`ANALYZE refused (${(e as Error).message}): plans are checked without statistics only`)
  }
  const withStats = analyzed ? await Promise.all(recorded.map(({ r }) => Promise.all(r.statements.map(explain)))) : bare
  results = recorded.map(({ c, r }, i) => ({
    c,
    status: r.status,
    text: r.text,
    statements: r.statements,
    plans: r.statements.map((_, k) => ({ bare: bare[i]![k]!, analyzed: withStats[i]![k]! })),
  }))
}, 120_000)

function check(name: string) {
  const r = results.find((x) => x.c.name === name)
  expect(r, `case ${name} was not recorded`).toBeDefined()
  const { c, status, text, statements, plans } = r!
  expect(status, text).toBe(200)
  expect(statements.length, `${c.path} ran no SELECT`).toBeGreaterThan(0)
  const report: string[] = [`EXPLAIN QUERY PLAN — ${c.name} (GET ${c.path})`]
  const scans: string[] = []
  statements.forEach((s, k) => {
    const p = plans[k]!
    report.push(`  [${k + 1}] ${s.sql}`)
    report.push(...p.bare.map((l) => `      ${l}`))
    if (analyzed && p.analyzed.join('\n') !== p.bare.join('\n')) report.push('    after ANALYZE:', ...p.analyzed.map((l) => `      ${l}`))
    for (const t of new Set([...fullScans(p.bare, s.sql), ...fullScans(p.analyzed, s.sql)])) {
      if (c.allowScan?.[t]) report.push(`    (full scan of ${t} allowed: ${c.allowScan[t]})`)
      else if (c.knownScan?.[t]) {
        report.push(`    TO FIX: full scan of ${t}: ${c.knownScan[t]}`)
        console.warn(`query plans: known full scan of ${t} in ${c.name} — ${c.knownScan[t]}`)
      } else scans.push(`[${k + 1}] SCAN ${t}: ${s.sql}\n${p.bare.join('\n')}${analyzed ? `\nafter ANALYZE:\n${p.analyzed.join('\n')}` : ''}`)
    }
    const sorts = p.bare.filter((l) => /USE TEMP B-TREE/.test(l))
    if (sorts.length) report.push(`    note: sorts its matches (${sorts.map((l) => l.trim()).join('; ')})`)
  })
  console.log(report.join('\n'))
  expect(scans, `full table scans in ${c.name}:\n${scans.join('\n\n')}`).toEqual([])
}

describe('query plans of every list query, on large tables', () => {
  it('the tables are large and the detector catches a full scan', async () => {
    for (const table of ['users', 'phone_numbers', 'orders', 'audit_log', 'webhook_deliveries']) expect(filled[table], table).toBeGreaterThanOrEqual(FILLER_USERS)
    const s = { sql: 'SELECT * FROM phone_numbers n WHERE n.friendly_name = ?', params: ['x'] }
    expect(fullScans(await explain(s), s.sql)).toEqual(['phone_numbers'])
    const indexed = { sql: 'SELECT * FROM phone_numbers WHERE user_id = ? ORDER BY created_at DESC LIMIT 20', params: ['x'] }
    expect(fullScans(await explain(indexed), indexed.sql)).toEqual([])
    // A filtered count that reads a whole index is a full scan too; a page walked in index order is not.
    const count = { sql: 'SELECT count(*) FROM phone_numbers WHERE monthly_price = ?', params: [1] }
    expect(fullScans(await explain(count), count.sql)).toEqual(['phone_numbers'])
    const page = { sql: 'SELECT * FROM audit_log WHERE actor_type = ? ORDER BY created_at DESC LIMIT 20', params: ['user'] }
    expect(fullScans(await explain(page), page.sql)).toEqual([])
  })

  it(AUTH_CASE.name, () => check(AUTH_CASE.name))
  for (const c of CASES) it(`GET ${c.path} — ${c.name}`, () => check(c.name))

  it("GET /api/wallet/transactions — the Wallet object's ledger page", async () => {
    const fx = await registerUser()
    await fund(fx.id, 1)
    await fund(fx.id, 2)
    const res = await call('/api/wallet/transactions?page=1&limit=20', { token: fx.accessToken })
    expect(res.status, res.text).toBe(200)
    const stub = env.WALLET.get(env.WALLET.idFromName(fx.id))
    const lines = await runInDurableObject(stub, (instance, state) => {
      // Record what history() runs on the object's own SQLite, then explain it there.
      const sql = state.storage.sql
      const seen: Statement[] = []
      const target = instance as unknown as { sql: SqlStorage }
      target.sql = {
        exec: (q: string, ...params: unknown[]) => {
          seen.push({ sql: q, params })
          return sql.exec(q, ...params)
        },
      } as unknown as SqlStorage
      try {
        ;(instance as unknown as { history(a: string, p: number, l: number): unknown }).history(fx.id, 1, 20)
      } finally {
        target.sql = sql
      }
      return seen
        .filter((s) => isRead(s.sql) && /ledger/.test(s.sql))
        .map((s) => ({
          sql: s.sql.replace(/\s+/g, ' ').trim(),
          plan: sql
            .exec(`EXPLAIN QUERY PLAN ${s.sql}`, ...s.params)
            .toArray()
            .map((r) => String(r.detail)),
        }))
    })
    console.log(`EXPLAIN QUERY PLAN — wallet transactions (Wallet object)\n${lines.map((l) => `  ${l.sql}\n${l.plan.map((p) => `      ${p}`).join('\n')}`).join('\n')}`)
    expect(lines.length).toBeGreaterThan(0)
    // The page walks the ledger in rowid order and stops after offset + limit rows; the count reads
    // a covering index. The table holds one account's entries.
    for (const l of lines)
      expect(
        l.plan.filter((p) => /^SCAN ledger$/.test(p) && !/ORDER BY rowid/i.test(l.sql)),
        `${l.sql}\n${l.plan.join('\n')}`,
      ).toEqual([])
  })
})

import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import toml from '../../wrangler.toml?raw'
import worker from '../../src/index'
import { CRONS } from '../../src/scheduled'

/** The string array of `crons = [...]` under `[triggers]` (and under any `[env.*.triggers]`). */
function tomlCrons(text: string): string[][] {
  const found: string[][] = []
  let section = ''
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim()
    const header = /^\[([^\]]+)\]$/.exec(line)
    if (header) {
      section = header[1]!.trim()
      continue
    }
    if (!/(^|\.)triggers$/.test(section) || !/^crons\s*=/.test(line)) continue
    // The array may span several lines.
    let value = line.slice(line.indexOf('=') + 1)
    while (!value.includes(']') && i + 1 < lines.length) value += lines[++i]!.replace(/#.*$/, '')
    found.push([...value.matchAll(/"([^"]*)"|'([^']*)'/g)].map((m) => m[1] ?? m[2]!))
  }
  return found
}

describe('cron configuration', () => {
  it('CRONS has exactly the expressions of wrangler.toml [triggers] crons', () => {
    const lists = tomlCrons(toml)
    expect(lists.length, toml).toBeGreaterThanOrEqual(1)
    for (const list of lists) {
      expect(new Set(list).size, `duplicate cron in wrangler.toml: ${list}`).toBe(list.length)
      expect([...list].sort()).toEqual(Object.keys(CRONS).sort())
    }
  })

  it('every job has a name and a runner', () => {
    for (const [expr, job] of Object.entries(CRONS)) {
      expect(job.name, expr).toMatch(/^[a-z][a-z0-9-]*$/)
      expect(typeof job.run, expr).toBe('function')
    }
  })
})

const DAY = 86_400_000
let n = 0
const uid = (p: string) => `${p}_crontest_${Date.now().toString(36)}_${++n}`

async function insertUser(fields: { status: string; suspendedUntil?: number | null }) {
  const id = uid('usr')
  await env.DB.prepare(`INSERT INTO users (id, email, password_hash, status, status_reason, suspended_until, updated_at) VALUES (?, ?, 'x', ?, ?, ?, ?)`)
    .bind(id, `${id}@example.com`, fields.status, fields.status === 'active' ? null : 'test', fields.suspendedUntil ?? null, Date.now())
    .run()
  return id
}

async function insertAuthToken(userId: string, expiresAt: number, usedAt: number | null = null) {
  const id = uid('atk')
  await env.DB.prepare(`INSERT INTO auth_tokens (id, user_id, kind, token_hash, expires_at, used_at) VALUES (?, ?, 'verify_email', ?, ?, ?)`).bind(id, userId, `hash-${id}`, expiresAt, usedAt).run()
  return id
}

async function insertSession(userId: string, expiresAt: number, revokedAt: number | null) {
  const id = uid('ses')
  await env.DB.prepare(`INSERT INTO sessions (id, user_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)`).bind(id, userId, expiresAt, revokedAt).run()
  await env.DB.prepare(`INSERT INTO refresh_tokens (id, session_id, user_id, token_hash, expires_at) VALUES (?, ?, ?, ?, ?)`).bind(uid('rtk'), id, userId, `hash-${id}`, expiresAt).run()
  return id
}

async function runCron(cron: string, scheduledTime = Date.now()) {
  const ctx = createExecutionContext()
  await worker.scheduled(createScheduledController({ cron, scheduledTime }), env, ctx)
  await waitOnExecutionContext(ctx)
}

async function snapshot() {
  const users = await env.DB.prepare(`SELECT id, status, status_reason, suspended_until, updated_at FROM users ORDER BY id`).all()
  const tokens = await env.DB.prepare(`SELECT id FROM auth_tokens ORDER BY id`).all()
  const sessions = await env.DB.prepare(`SELECT id FROM sessions ORDER BY id`).all()
  const refresh = await env.DB.prepare(`SELECT id FROM refresh_tokens ORDER BY id`).all()
  return { users: users.results, tokens: tokens.results, sessions: sessions.results, refresh: refresh.results }
}

const statusOf = async (id: string) =>
  (await env.DB.prepare(`SELECT status, status_reason, suspended_until FROM users WHERE id = ?`).bind(id).first<{
    status: string
    status_reason: string | null
    suspended_until: number | null
  }>())!
const exists = async (table: string, id: string) => (await env.DB.prepare(`SELECT 1 AS x FROM ${table} WHERE id = ?`).bind(id).first()) !== null

describe('scheduled handler: every minute (sweeper)', () => {
  it('ends expired suspensions, deletes dead auth material, and a second run changes nothing', async () => {
    const now = Date.now()
    const expired = await insertUser({ status: 'suspended', suspendedUntil: now - 60_000 })
    const running = await insertUser({ status: 'suspended', suspendedUntil: now + DAY })
    const indefinite = await insertUser({ status: 'suspended', suspendedUntil: null })
    const banned = await insertUser({ status: 'banned', suspendedUntil: now - 60_000 })
    const owner = await insertUser({ status: 'active' })

    const expiredToken = await insertAuthToken(owner, now - 1000)
    const usedToken = await insertAuthToken(owner, now + DAY, now - 1000)
    const liveToken = await insertAuthToken(owner, now + DAY)

    const longRevoked = await insertSession(owner, now + DAY, now - 31 * DAY)
    const longExpired = await insertSession(owner, now - 31 * DAY, null)
    const recentlyRevoked = await insertSession(owner, now + DAY, now - DAY)
    const live = await insertSession(owner, now + DAY, null)

    await runCron('* * * * *', now)

    expect(await statusOf(expired)).toEqual({ status: 'active', status_reason: null, suspended_until: null })
    expect((await statusOf(running)).status).toBe('suspended')
    expect((await statusOf(indefinite)).status).toBe('suspended')
    expect((await statusOf(banned)).status).toBe('banned')

    expect(await exists('auth_tokens', expiredToken)).toBe(false)
    expect(await exists('auth_tokens', usedToken)).toBe(false)
    expect(await exists('auth_tokens', liveToken)).toBe(true)

    expect(await exists('sessions', longRevoked)).toBe(false)
    expect(await exists('sessions', longExpired)).toBe(false)
    expect(await exists('sessions', recentlyRevoked)).toBe(true)
    expect(await exists('sessions', live)).toBe(true)
    const orphans = await env.DB.prepare(`SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id NOT IN (SELECT id FROM sessions)`).first<{ n: number }>()
    expect(orphans!.n).toBe(0)
    const kept = await env.DB.prepare(`SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id IN (?, ?)`).bind(recentlyRevoked, live).first<{ n: number }>()
    expect(kept!.n).toBe(2)

    const afterFirst = await snapshot()
    await runCron('* * * * *', now)
    expect(await snapshot()).toEqual(afterFirst)
  })

  it('ends a suspension that is due exactly at the scheduled time', async () => {
    const now = Date.now()
    const id = await insertUser({ status: 'suspended', suspendedUntil: now })
    await runCron('* * * * *', now)
    expect((await statusOf(id)).status).toBe('active')
  })

  it('throws for a cron expression it has no job for', async () => {
    const ctx = createExecutionContext()
    await expect(worker.scheduled(createScheduledController({ cron: '0 0 31 2 *' }), env, ctx)).rejects.toThrow(/No job for cron/)
  })
})

/**
 * Retention of failed_jobs (the jobs dead-letter record behind GET /api/v1/admin/failed-jobs): the
 * per-minute sweeper deletes `dead` rows 30 days after the job died, and `retrying` rows whose
 * last failure is 30 days old (their queue message is long gone); bounded per run, by an index.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { FAILED_JOB_RETENTION_MS, purgeFailedJobs } from '../../../src/modules/jobs/failed-jobs.job'
import { runSweeper } from '../../../src/modules/maintenance/sweeper.job'
import { createServices } from '../../../src/services'

const DAY = 86_400_000

let n = 0
const newJobId = (tag: string) => `job_${tag}_${++n}_${crypto.randomUUID().slice(0, 8)}`

async function insertJob(row: { id: string; status: 'retrying' | 'dead'; firstFailedAt: number; lastFailedAt: number; deadAt?: number | null }) {
  await env.DB.prepare(
    `INSERT INTO failed_jobs (id, type, body, status, attempts, last_error, message_id, first_failed_at, last_failed_at, dead_at) VALUES (?, 'test.retention', '{"type":"test.retention"}', ?, 3, 'boom', 'msg', ?, ?, ?)`,
  )
    .bind(row.id, row.status, row.firstFailedAt, row.lastFailedAt, row.deadAt ?? null)
    .run()
}

const exists = async (id: string) => (await env.DB.prepare(`SELECT id FROM failed_jobs WHERE id = ?`).bind(id).first()) !== null

const services = () => createServices(env, createExecutionContext())

describe('failed_jobs retention (sweeper step)', () => {
  it('keeps failed jobs 30 days: dead ones from when they died, retrying ones from their last failure', async () => {
    const now = Date.now()
    expect(FAILED_JOB_RETENTION_MS).toBe(30 * DAY)
    const deadOld = newJobId('dead-old')
    await insertJob({ id: deadOld, status: 'dead', firstFailedAt: now - 32 * DAY, lastFailedAt: now - 31 * DAY, deadAt: now - 31 * DAY })
    const deadNoTime = newJobId('dead-no-time') // dead_at missing: its last failure counts
    await insertJob({ id: deadNoTime, status: 'dead', firstFailedAt: now - 40 * DAY, lastFailedAt: now - 40 * DAY, deadAt: null })
    const retryingOld = newJobId('retrying-old')
    await insertJob({ id: retryingOld, status: 'retrying', firstFailedAt: now - 45 * DAY, lastFailedAt: now - 30 * DAY - 1 })

    const deadRecent = newJobId('dead-recent')
    await insertJob({ id: deadRecent, status: 'dead', firstFailedAt: now - 29 * DAY, lastFailedAt: now - 29 * DAY, deadAt: now - 29 * DAY })
    const diedLate = newJobId('died-late') // last failed 40 days ago, dead-lettered 10 days ago: kept 30 days from its death
    await insertJob({ id: diedLate, status: 'dead', firstFailedAt: now - 41 * DAY, lastFailedAt: now - 40 * DAY, deadAt: now - 10 * DAY })
    const retryingRecent = newJobId('retrying-recent') // failing for 60 days, last failure yesterday
    await insertJob({ id: retryingRecent, status: 'retrying', firstFailedAt: now - 60 * DAY, lastFailedAt: now - DAY })
    const atTheEdge = newJobId('edge')
    await insertJob({ id: atTheEdge, status: 'dead', firstFailedAt: now - 30 * DAY, lastFailedAt: now - 30 * DAY + 1000, deadAt: now - 30 * DAY + 1000 })

    const r = await purgeFailedJobs(services(), now)
    expect(r.failedJobsDeleted).toBe(3)
    for (const id of [deadOld, deadNoTime, retryingOld]) expect(await exists(id), id).toBe(false)
    for (const id of [deadRecent, diedLate, retryingRecent, atTheEdge]) expect(await exists(id), id).toBe(true)
    // Idempotent: nothing left to delete.
    expect((await purgeFailedJobs(services(), now)).failedJobsDeleted).toBe(0)
  })

  it('is bounded per run; the next runs catch up', async () => {
    const now = Date.now() + 400 * DAY
    const ids = Array.from({ length: 7 }, () => newJobId('bulk'))
    for (const id of ids) await insertJob({ id, status: 'dead', firstFailedAt: now - 100 * DAY, lastFailedAt: now - 100 * DAY, deadAt: now - 100 * DAY })
    const left = async () => (await Promise.all(ids.map(exists))).filter(Boolean).length
    // 400 days ahead the rows the first test kept are old too: they go in the same runs.
    const before = (await env.DB.prepare(`SELECT COUNT(*) AS c FROM failed_jobs WHERE last_failed_at < ?`)
      .bind(now - FAILED_JOB_RETENTION_MS)
      .first<{ c: number }>())!.c
    expect(before).toBeGreaterThanOrEqual(7)
    const first = await purgeFailedJobs(services(), now, 3)
    expect(first.failedJobsDeleted).toBe(3)
    let runs = 1
    while ((await purgeFailedJobs(services(), now, 3)).failedJobsDeleted > 0) runs++
    expect(runs).toBe(Math.ceil(before / 3))
    expect(await left()).toBe(0)
  })

  it('finds the rows through an index, not by scanning the table', async () => {
    const statements: { sql: string; params: unknown[] }[] = []
    const real = env.DB
    const wrap = (stmt: D1PreparedStatement, sql: string, params: unknown[]): D1PreparedStatement =>
      new Proxy(stmt, {
        get(target, prop) {
          if (prop === 'bind') return (...args: unknown[]) => wrap(target.bind(...args), sql, args)
          if (prop === 'run' || prop === 'all' || prop === 'first' || prop === 'raw') statements.push({ sql, params })
          const v = Reflect.get(target, prop)
          return typeof v === 'function' ? v.bind(target) : v
        },
      })
    const recording = new Proxy(real, {
      get(target, prop) {
        if (prop === 'prepare') return (sql: string) => wrap(target.prepare(sql), sql, [])
        const v = Reflect.get(target, prop)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    await purgeFailedJobs({ db: createDb(recording) }, Date.now())
    expect(statements.length, JSON.stringify(statements)).toBe(1)
    const s = statements[0]!
    expect(s.sql).toMatch(/^\s*delete from/i)
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${s.sql}`)
      .bind(...s.params)
      .all<{ detail: string }>()
    const plan = results.map((r) => r.detail)
    console.log(`EXPLAIN QUERY PLAN — failed_jobs purge\n  ${plan.join('\n  ')}`)
    expect(
      plan.some((d) => /^SCAN failed_jobs\b/.test(d) && !/USING (COVERING )?INDEX/.test(d)),
      plan.join('\n'),
    ).toBe(false)
    expect(
      plan.some((d) => /SEARCH failed_jobs USING (COVERING )?INDEX failed_jobs_last_failed_idx/.test(d)),
      plan.join('\n'),
    ).toBe(true)
  })

  it('runs as the sweeper step `failedJobs`', async () => {
    const now = Date.now()
    const old = newJobId('sweep')
    await insertJob({ id: old, status: 'dead', firstFailedAt: now - 50 * DAY, lastFailedAt: now - 50 * DAY, deadAt: now - 50 * DAY })
    const out = await runSweeper(services(), now)
    expect(out.failedJobs, JSON.stringify(out)).toMatchObject({ failedJobsDeleted: expect.any(Number) })
    expect((out.failedJobs as { failedJobsDeleted: number }).failedJobsDeleted).toBeGreaterThanOrEqual(1)
    expect(await exists(old)).toBe(false)
  })
})

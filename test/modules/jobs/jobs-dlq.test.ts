/**
 * The `jobs` queue's dead-letter queue: wrangler.toml sends a job the queue gave up on to
 * `jobs-dlq`, whose consumer records it in D1 (failed_jobs) for admins; every failed attempt is
 * recorded on the way, and a job that recovers leaves the record.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test'
import { afterEach, describe, expect, it } from 'vitest'
import toml from '../../../wrangler.toml?raw'
import readme from '../../../README.md?raw'
import worker from '../../../src/index'
import { failedJobId } from '../../../src/modules/jobs/failed-jobs'
import { CONSUMERS, JOB_HANDLERS } from '../../../src/queue'
import { call, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'

/** The `[[queues.consumers]]` tables of wrangler.toml, as key → raw value. */
function tomlConsumers(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = []
  let current: Record<string, string> | null = null
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    if (/^\[\[?[^\]]+\]\]?$/.test(line)) {
      current = line === '[[queues.consumers]]' ? {} : null
      if (current) out.push(current)
      continue
    }
    const kv = /^([A-Za-z_]+)\s*=\s*(.+)$/.exec(line)
    if (current && kv) current[kv[1]!] = kv[2]!.replace(/^"(.*)"$/, '$1')
  }
  return out
}

let n = 0
const msg = (body: unknown, attempts: number) => ({ id: `dlq-test-${++n}-${crypto.randomUUID()}`, timestamp: new Date(), attempts, body })

async function deliver(queue: string, messages: ReturnType<typeof msg>[]) {
  const batch = createMessageBatch(queue, messages)
  const ctx = createExecutionContext()
  await worker.queue(batch, env, ctx)
  return getQueueResult(batch, ctx)
}

const row = async (id: string) => env.DB.prepare(`SELECT * FROM failed_jobs WHERE id = ?`).bind(id).first<Record<string, any>>()

afterEach(() => {
  delete JOB_HANDLERS['test.always-fails']
  delete JOB_HANDLERS['test.fails-once']
})

describe('jobs-dlq: configuration', () => {
  it('the jobs consumer dead-letters to jobs-dlq, which has a consumer in wrangler.toml and in CONSUMERS; the deploy steps create it', () => {
    const consumers = tomlConsumers(toml)
    const jobs = consumers.find((c) => c.queue === 'jobs')
    expect(jobs, toml).toBeDefined()
    expect(jobs!.dead_letter_queue, JSON.stringify(jobs)).toBe('jobs-dlq')
    expect(Number(jobs!.max_retries), JSON.stringify(jobs)).toBeGreaterThan(0)
    expect(
      consumers.some((c) => c.queue === 'jobs-dlq'),
      JSON.stringify(consumers),
    ).toBe(true)
    expect(typeof CONSUMERS['jobs-dlq']).toBe('function')
    const create = readme.split('\n').find((l) => l.includes('wrangler queues create'))
    expect(create, 'README deploy line').toBeDefined()
    expect(create!.split(/[\s;]+/)).toContain('jobs-dlq')
  })
})

describe('jobs-dlq: a job that keeps failing', () => {
  it('each failed attempt is recorded as retrying; the DLQ consumer marks it dead; admins read it; a redelivered DLQ message changes nothing', async () => {
    let calls = 0
    JOB_HANDLERS['test.always-fails'] = async () => {
      calls++
      throw new Error(`upstream unavailable (call ${calls})`)
    }
    const body = { type: 'test.always-fails', ref: crypto.randomUUID() }
    const id = await failedJobId(body)

    // Deliveries 1 … 6 (max_retries 5): each one retried by the jobs consumer, never acked.
    for (let attempt = 1; attempt <= 6; attempt++) {
      const q = await deliver('jobs', [msg(body, attempt)])
      expect(q.retryMessages.length, JSON.stringify(q)).toBe(1)
      expect(q.explicitAcks, JSON.stringify(q)).toEqual([])
      expect(await row(id), `after attempt ${attempt}`).toMatchObject({ status: 'retrying', attempts: attempt, last_error: `upstream unavailable (call ${attempt})`, dead_at: null })
    }

    // The queue moves it to jobs-dlq: recorded dead, acked.
    const dead = msg(body, 1)
    const q = await deliver('jobs-dlq', [dead])
    expect(q.explicitAcks, JSON.stringify(q)).toEqual([dead.id])
    expect(q.retryMessages, JSON.stringify(q)).toEqual([])
    const r = await row(id)
    expect(r, JSON.stringify(r)).toMatchObject({ status: 'dead', type: 'test.always-fails', attempts: 6, last_error: 'upstream unavailable (call 6)' })
    expect(JSON.parse(r!.body)).toEqual(body)
    expect(r!.dead_at).toEqual(expect.any(Number))

    // Admins see it; users may not.
    const admin = await registerAdmin()
    const list = await call('/api/v1/admin/failed-jobs?status=dead&type=test.always-fails', { token: admin.accessToken })
    expect(list.status, list.text).toBe(200)
    expect(list.body.data, list.text).toEqual([
      expect.objectContaining({ id, type: 'test.always-fails', status: 'dead', attempts: 6, lastError: 'upstream unavailable (call 6)', body, deadAt: expect.any(String) }),
    ])
    expect(list.body.pagination, list.text).toMatchObject({ total: 1 })
    expect((await call('/api/v1/admin/failed-jobs?status=retrying&type=test.always-fails', { token: admin.accessToken })).body.data).toEqual([])
    const user = await registerUser()
    expectErrorEnvelope(await call('/api/v1/admin/failed-jobs', { token: user.accessToken }), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/v1/admin/failed-jobs'), 401, 'UNAUTHORIZED')

    // The DLQ message delivered again: still one dead record, the same one.
    const again = await deliver('jobs-dlq', [msg(body, 2)])
    expect(again.explicitAcks.length, JSON.stringify(again)).toBe(1)
    const { results } = await env.DB.prepare(`SELECT id, status, dead_at FROM failed_jobs WHERE type = 'test.always-fails'`).all()
    expect(results).toEqual([{ id, status: 'dead', dead_at: r!.dead_at }])
  })

  it('a dead-lettered job never seen failing (a crashed consumer) is recorded dead all the same', async () => {
    const body = { type: 'billing.invoice', userId: `usr_never_${crypto.randomUUID()}`, month: '2024-01' }
    const q = await deliver('jobs-dlq', [msg(body, 1)])
    expect(q.explicitAcks.length, JSON.stringify(q)).toBe(1)
    expect(await row(await failedJobId(body))).toMatchObject({ status: 'dead', type: 'billing.invoice', attempts: 0, last_error: expect.stringContaining('dead-lettered') })
  })

  it('a job that fails once and then succeeds leaves no record', async () => {
    let calls = 0
    JOB_HANDLERS['test.fails-once'] = async () => {
      if (++calls === 1) throw new Error('transient')
    }
    const body = { type: 'test.fails-once', ref: crypto.randomUUID() }
    const id = await failedJobId(body)
    expect((await deliver('jobs', [msg(body, 1)])).retryMessages.length).toBe(1)
    expect(await row(id)).toMatchObject({ status: 'retrying', attempts: 1, last_error: 'transient' })
    const q = await deliver('jobs', [msg(body, 2)])
    expect(q.explicitAcks.length, JSON.stringify(q)).toBe(1)
    expect(await row(id)).toBeNull()
  })
})

/**
 * Metrics — one object (`global`) that holds the request counters and latency histograms of every
 * isolate, so /metrics shows totals that survive isolate restarts. Isolates buffer and send
 * deltas at most once a second (src/modules/metrics/recorder.ts).
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../../env'

/** Upper bounds (seconds) of the latency histogram buckets; +Inf is the count. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

export interface SeriesDelta {
  method: string
  route: string
  status: number
  count: number
  sumSeconds: number
  /** Non-cumulative counts per bucket of LATENCY_BUCKETS, plus one for > last bound. */
  buckets: number[]
}

export interface SeriesTotal extends SeriesDelta {}

export interface RecentTotals {
  requests: number
  errors: number
  sumSeconds: number
  minutes: number
}

const KEEP_MINUTES = 60

export class Metrics extends DurableObject<Env> {
  ping(): 'pong' {
    return 'pong'
  }

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS series (
        method TEXT NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL,
        count INTEGER NOT NULL, sum_seconds REAL NOT NULL, buckets TEXT NOT NULL,
        PRIMARY KEY (method, route, status))`)
      ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS minutes (
        minute INTEGER PRIMARY KEY, requests INTEGER NOT NULL, errors INTEGER NOT NULL, sum_seconds REAL NOT NULL)`)
      if (ctx.storage.kv.get('startedAt') === undefined) ctx.storage.kv.put('startedAt', Date.now())
    })
  }

  record(deltas: SeriesDelta[], now: number = Date.now()): void {
    const minute = Math.floor(now / 60_000)
    let requests = 0
    let errors = 0
    let sum = 0
    for (const d of deltas) {
      const row = this.ctx.storage.sql.exec<{ buckets: string }>('SELECT buckets FROM series WHERE method = ? AND route = ? AND status = ?', d.method, d.route, d.status).toArray()[0]
      const buckets = row ? (JSON.parse(row.buckets) as number[]) : new Array(LATENCY_BUCKETS.length + 1).fill(0)
      d.buckets.forEach((n, i) => {
        buckets[i] = (buckets[i] ?? 0) + n
      })
      this.ctx.storage.sql.exec(
        `INSERT INTO series (method, route, status, count, sum_seconds, buckets) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (method, route, status) DO UPDATE SET count = count + excluded.count,
           sum_seconds = sum_seconds + excluded.sum_seconds, buckets = excluded.buckets`,
        d.method,
        d.route,
        d.status,
        d.count,
        d.sumSeconds,
        JSON.stringify(buckets),
      )
      requests += d.count
      if (d.status >= 500) errors += d.count
      sum += d.sumSeconds
    }
    this.ctx.storage.sql.exec(
      `INSERT INTO minutes (minute, requests, errors, sum_seconds) VALUES (?, ?, ?, ?)
       ON CONFLICT (minute) DO UPDATE SET requests = requests + excluded.requests,
         errors = errors + excluded.errors, sum_seconds = sum_seconds + excluded.sum_seconds`,
      minute,
      requests,
      errors,
      sum,
    )
    this.ctx.storage.sql.exec('DELETE FROM minutes WHERE minute < ?', minute - KEEP_MINUTES)
  }

  series(): SeriesTotal[] {
    return this.ctx.storage.sql
      .exec<{ method: string; route: string; status: number; count: number; sum_seconds: number; buckets: string }>('SELECT * FROM series ORDER BY route, method, status')
      .toArray()
      .map((r) => ({ method: r.method, route: r.route, status: r.status, count: r.count, sumSeconds: r.sum_seconds, buckets: JSON.parse(r.buckets) }))
  }

  /** Totals over the last `minutes` whole minutes plus the current one. */
  recent(minutes: number, now: number = Date.now()): RecentTotals & { startedAt: number } {
    const from = Math.floor(now / 60_000) - minutes
    const r = this.ctx.storage.sql
      .exec<{ requests: number | null; errors: number | null; sum_seconds: number | null }>(
        'SELECT SUM(requests) AS requests, SUM(errors) AS errors, SUM(sum_seconds) AS sum_seconds FROM minutes WHERE minute >= ?',
        from,
      )
      .one()
    return {
      requests: r.requests ?? 0,
      errors: r.errors ?? 0,
      sumSeconds: r.sum_seconds ?? 0,
      minutes: minutes + 1,
      startedAt: this.ctx.storage.kv.get<number>('startedAt') ?? now,
    }
  }
}

/**
 * Per-isolate buffer of request metrics. Requests add to it without I/O; it is sent to the Metrics
 * object as deltas at most once a second (or when it grows large), and always right before
 * /metrics is rendered, so the totals there include this isolate's latest requests.
 * The buffer holds only numbers — no env, no bindings.
 */
import { LATENCY_BUCKETS, type Metrics, type SeriesDelta } from './metrics.do'

const FLUSH_INTERVAL_MS = 1000
const FLUSH_SIZE = 256

let buffer = new Map<string, SeriesDelta>()
let pending = 0
let lastFlush = 0

export function observe(method: string, route: string, status: number, seconds: number): void {
  const key = `${method} ${status} ${route}`
  let s = buffer.get(key)
  if (!s) {
    s = { method, route, status, count: 0, sumSeconds: 0, buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0) }
    buffer.set(key, s)
  }
  s.count += 1
  s.sumSeconds += seconds
  const i = LATENCY_BUCKETS.findIndex((le) => seconds <= le)
  s.buckets[i === -1 ? LATENCY_BUCKETS.length : i]! += 1
  pending += 1
}

export function shouldFlush(now = Date.now()): boolean {
  return pending > 0 && (pending >= FLUSH_SIZE || now - lastFlush >= FLUSH_INTERVAL_MS)
}

/** Sends the buffered deltas; on failure they are merged back into the buffer, not lost. */
export async function flush(stub: DurableObjectStub<Metrics>): Promise<void> {
  if (pending === 0) return
  const batch = [...buffer.values()]
  buffer = new Map()
  pending = 0
  lastFlush = Date.now()
  try {
    await stub.record(batch)
  } catch (e) {
    for (const d of batch) {
      const key = `${d.method} ${d.status} ${d.route}`
      const s = buffer.get(key)
      if (!s) buffer.set(key, d)
      else {
        s.count += d.count
        s.sumSeconds += d.sumSeconds
        d.buckets.forEach((v, i) => {
          s.buckets[i]! += v
        })
      }
      pending += d.count
    }
    throw e
  }
}

export function metricsStub(ns: DurableObjectNamespace<Metrics>): DurableObjectStub<Metrics> {
  return ns.get(ns.idFromName('global'))
}

// CPU profiles of workerd's isolates during one bench path (`npm run bench -- --profile <path id>`),
// through workerd's V8 inspector: the app itself (`core:user:`) and Miniflare's local D1 (`d1:db`,
// which runs in the same workerd process and so takes CPU from the app, unlike production D1).
// Writes .cpuprofile files (open them in Chrome DevTools) and returns a summary of where the
// time went: busy share of the isolate, top functions by self and by inclusive time.

/** Starts the V8 profiler in each inspector target whose id is in `targetIds`. */
export async function startProfiles(inspectorUrl, targetIds, { samplingIntervalUs = 200 } = {}) {
  const base = inspectorUrl.replace(/^ws/, 'http').replace(/\/$/, '')
  const targets = await (await fetch(`${base}/json`)).json()
  const sessions = []
  for (const id of targetIds) {
    const t = targets.find((x) => x.id === id)
    if (!t) continue
    const s = await connect(t.webSocketDebuggerUrl)
    await s.send('Profiler.enable')
    await s.send('Profiler.setSamplingInterval', { interval: samplingIntervalUs })
    await s.send('Profiler.start')
    sessions.push({ id, s })
  }
  return {
    /** Stops every profiler; resolves with [{ target, profile }]. */
    async stop() {
      const out = []
      for (const { id, s } of sessions) {
        const { profile } = await s.send('Profiler.stop')
        s.close()
        out.push({ target: id, profile })
      }
      return out
    },
  }
}

/** A DevTools-protocol session on one inspector target: `send(method, params)`, `on(event, fn)`, `close()`. */
export function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    let next = 1
    const waiting = new Map()
    const listeners = new Map()
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data))
      if (msg.method) for (const fn of listeners.get(msg.method) ?? []) fn(msg.params)
      const w = msg.id && waiting.get(msg.id)
      if (!w) return
      waiting.delete(msg.id)
      if (msg.error) w.reject(new Error(`${msg.error.message} (${url})`))
      else w.resolve(msg.result)
    })
    ws.addEventListener('error', () => reject(new Error(`inspector connection to ${url} failed`)))
    ws.addEventListener('open', () =>
      resolve({
        send(method, params = {}) {
          const id = next++
          ws.send(JSON.stringify({ id, method, params }))
          return new Promise((res, rej) => waiting.set(id, { resolve: res, reject: rej }))
        },
        on(event, fn) {
          listeners.set(event, [...(listeners.get(event) ?? []), fn])
        },
        close: () => ws.close(),
      }),
    )
  })
}

const IDLE = new Set(['(idle)', '(program)'])

/** Busy share, and the top functions by self and inclusive time (ms), of a V8 CPU profile. */
export function summarize(profile, top = 15) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // Sample counts per node, weighted by the time to the next sample.
  const selfMs = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000
    selfMs.set(profile.samples[i], (selfMs.get(profile.samples[i]) ?? 0) + dt)
  }
  const key = (n) => {
    const f = n.callFrame
    const file = f.url ? f.url.split('/').at(-1) : ''
    return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`
  }
  const self = new Map()
  const inclusive = new Map()
  let total = 0
  let idle = 0
  for (const [id, ms] of selfMs) {
    const n = byId.get(id)
    total += ms
    if (IDLE.has(n.callFrame.functionName)) {
      idle += ms
      continue
    }
    self.set(key(n), (self.get(key(n)) ?? 0) + ms)
    // Inclusive: every distinct function on the stack of this sample.
    const seen = new Set()
    for (let cur = n; cur; cur = byId.get(parent.get(cur.id))) {
      const k = key(cur)
      if (k === '(root)' || seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + ms)
    }
  }
  const sorted = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, ms]) => ({ fn, ms: Math.round(ms) }))
  return { totalMs: Math.round(total), busyMs: Math.round(total - idle), busyShare: total ? (total - idle) / total : 0, self: sorted(self), inclusive: sorted(inclusive) }
}

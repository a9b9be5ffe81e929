// CPU time of a process, from /proc (Linux): what the bench divides by the requests answered, since
// workerd serves the app, its Durable Objects and the local D1 on one thread. Elsewhere: null.
import { readdirSync, readFileSync } from 'node:fs'

const TICK_MS = 10 // USER_HZ is 100 on Linux

/** User + system CPU time of `pid` and all its threads so far (ms), or null when it cannot be read. */
export function cpuMsOf(pid) {
  if (!pid) return null
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS
  } catch {
    return null
  }
}

/** Process ids of this process's workerd children (Miniflare starts one per runtime). */
export function workerdChildren() {
  const out = []
  let entries = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return out
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (comm === 'workerd' && ppid === process.pid) out.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

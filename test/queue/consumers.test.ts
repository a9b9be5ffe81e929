import { describe, expect, it } from 'vitest'
import toml from '../../wrangler.toml?raw'
import { CONSUMERS, queueBaseName } from '../../src/queue'

interface QueueTable {
  kind: 'consumers' | 'producers'
  /** '' for the top level, `staging` for `[[env.staging.queues.…]]`. */
  environment: string
  fields: Record<string, string>
}

/** Every `[[queues.consumers]]` / `[[queues.producers]]` table, top level and under `[[env.<name>.queues.…]]`, with its string fields. */
function queueTables(text: string): QueueTable[] {
  const tables: QueueTable[] = []
  let current: QueueTable | null = null
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    if (line.startsWith('[')) {
      const m = /^\[\[\s*(?:env\.([^.\]]+)\.)?queues\.(consumers|producers)\s*\]\]$/.exec(line)
      current = m ? { kind: m[2] as QueueTable['kind'], environment: m[1] ?? '', fields: {} } : null
      if (current) tables.push(current)
      continue
    }
    const field = /^([A-Za-z_]+)\s*=\s*"([^"]*)"$/.exec(line)
    if (current && field) current.fields[field[1]!] = field[2]!
  }
  return tables
}

const tables = queueTables(toml)
const environments = [...new Set(tables.map((t) => t.environment))]
const consumed = (environment: string) => tables.filter((t) => t.kind === 'consumers' && t.environment === environment).map((t) => t.fields.queue!)

describe('queue configuration', () => {
  it('wrangler.toml declares queue consumers and producers, each naming its queue', () => {
    expect(tables.filter((t) => t.kind === 'consumers').length, toml).toBeGreaterThanOrEqual(1)
    expect(tables.filter((t) => t.kind === 'producers').length, toml).toBeGreaterThanOrEqual(1)
    for (const t of tables) expect(t.fields.queue, JSON.stringify(t)).toMatch(/^[a-z0-9-]+$/)
    for (const t of tables.filter((t) => t.kind === 'producers')) expect(t.fields.binding, JSON.stringify(t)).toMatch(/^[A-Z][A-Z0-9_]*$/)
  })

  it('CONSUMERS has exactly the queues wrangler.toml consumes, in every environment', () => {
    for (const environment of environments) {
      const queues = consumed(environment)
      expect(new Set(queues).size, `duplicate consumer in wrangler.toml [${environment || 'top level'}]: ${queues}`).toBe(queues.length)
      expect(queues.map(queueBaseName).sort(), `[${environment || 'top level'}] consumers`).toEqual(Object.keys(CONSUMERS).sort())
    }
  })

  it("every producer binding's queue has a consumer in the same environment", () => {
    for (const environment of environments) {
      const queues = new Set(consumed(environment))
      for (const p of tables.filter((t) => t.kind === 'producers' && t.environment === environment)) {
        expect(queues.has(p.fields.queue!), `${p.fields.binding} → ${p.fields.queue} [${environment || 'top level'}] has no [[queues.consumers]]`).toBe(true)
      }
    }
  })
})

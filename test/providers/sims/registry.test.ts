/** The SIM registry builds a provider row's adapter: the sandbox, or 1NCE with the credentials its config names. */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import type { Provider } from '../../../src/db/schema'
import { UpstreamError } from '../../../src/lib/errors'
import { OnceSims } from '../../../src/providers/sims/once'
import { simAdapter } from '../../../src/providers/sims/registry'
import { SandboxSims } from '../../../src/providers/sims/sandbox'

const row = (adapter: string, config: Record<string, unknown> = {}): Provider =>
  ({
    id: 'prv_x',
    code: `${adapter}-x`,
    name: 'x',
    adapter,
    kinds: ['sim'],
    status: 'active',
    healthy: true,
    priority: 1,
    config,
    marginBps: 0,
    marginFixed: 0,
    lastSyncAt: null,
    lastError: null,
    stock: { offers: 0, numbers: 0 },
    createdAt: new Date(),
    updatedAt: new Date(),
  }) as Provider

const deps = (secrets: Record<string, string>) => ({ db: createDb(env.DB), fetch: (() => Promise.reject(new Error('no network'))) as typeof fetch, secret: (n: string) => secrets[n] })

describe('simAdapter', () => {
  it('builds the sandbox and the 1NCE adapter', () => {
    expect(simAdapter(row('sandbox'), deps({}))).toBeInstanceOf(SandboxSims)
    expect(simAdapter(row('1nce'), deps({ ONCE_CLIENT_ID: 'id', ONCE_CLIENT_SECRET: 'secret-value-1234' }))).toBeInstanceOf(OnceSims)
  })

  it('a missing credential, a secret of our own or an unknown adapter is UPSTREAM_ERROR without the secret', () => {
    expect(() => simAdapter(row('1nce'), deps({ ONCE_CLIENT_ID: 'id' }))).toThrow(UpstreamError)
    expect(() => simAdapter(row('1nce', { clientSecretSecret: 'JWT_SECRET' }), deps({ ONCE_CLIENT_ID: 'id', JWT_SECRET: 'x'.repeat(40) }))).toThrow(/not allowed/)
    expect(() => simAdapter(row('twilio'), deps({}))).toThrow(/no SIM adapter/)
    try {
      simAdapter(row('1nce'), deps({ ONCE_CLIENT_ID: 'id-visible' }))
    } catch (e) {
      expect(JSON.stringify({ m: (e as Error).message, d: (e as UpstreamError).details })).not.toContain('id-visible')
    }
  })
})

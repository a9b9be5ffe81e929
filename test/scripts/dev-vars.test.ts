import { describe, expect, it } from 'vitest'
import example from '../../.dev.vars.example?raw'
import { devVarsAdditions, newDevVars } from '../../scripts/dev-vars.mjs'

/** Parses dotenv lines the way wrangler reads .dev.vars (enough for these files: NAME=value, # comments). */
function parse(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
}

const secret = () => 'x'.repeat(64)
const EXISTING = [
  '# my own settings',
  'JWT_SECRET=mine-mine-mine-mine-mine-mine-mine-mine',
  'ENCRYPTION_KEY=also-mine-also-mine-also-mine-also-mine',
  'PROVIDER_WEBHOOK_SECRET=provider-secret-of-my-own-0123',
  'ENVIRONMENT=development',
  'APP_URL=http://localhost:8787',
].join('\n')

describe('.dev.vars written by npm start', () => {
  it('a new one (from .dev.vars.example) lets webhooks reach a receiver on this machine', () => {
    const vars = parse(newDevVars(example, { JWT_SECRET: secret(), ENVIRONMENT: 'development' }))
    expect(vars).toMatchObject({ WEBHOOK_ALLOW_LOOPBACK: 'true', ENVIRONMENT: 'development', JWT_SECRET: secret() })
  })

  it('an existing one without WEBHOOK_ALLOW_LOOPBACK gets it appended; nothing of the user is changed', () => {
    for (const text of [EXISTING, `${EXISTING}\n`]) {
      const { append, added } = devVarsAdditions(text, secret)
      expect(added).toEqual(['WEBHOOK_ALLOW_LOOPBACK'])
      const after = text + append
      expect(after.startsWith(text), 'appended only').toBe(true)
      expect(parse(after)).toEqual({ ...parse(EXISTING), WEBHOOK_ALLOW_LOOPBACK: 'true' })
      // run again: nothing more to add
      expect(devVarsAdditions(after, secret)).toEqual({ append: '', added: [] })
    }
  })

  it('a value the user set, or commented out, is theirs: never added again', () => {
    for (const line of ['WEBHOOK_ALLOW_LOOPBACK=false', '# WEBHOOK_ALLOW_LOOPBACK=true', '#WEBHOOK_ALLOW_LOOPBACK=false']) {
      expect(devVarsAdditions(`${EXISTING}\n${line}\n`, secret), line).toEqual({ append: '', added: [] })
    }
  })

  it('missing secrets are still generated, alongside', () => {
    const { append, added } = devVarsAdditions('ENVIRONMENT=development\n', secret)
    expect(added).toEqual(['JWT_SECRET', 'ENCRYPTION_KEY', 'PROVIDER_WEBHOOK_SECRET', 'WEBHOOK_ALLOW_LOOPBACK'])
    expect(parse(append)).toEqual({ JWT_SECRET: secret(), ENCRYPTION_KEY: secret(), PROVIDER_WEBHOOK_SECRET: secret(), WEBHOOK_ALLOW_LOOPBACK: 'true' })
  })

  it('one that runs as production (it says so, or names no ENVIRONMENT) gets the METRICS_TOKEN production requires', () => {
    for (const text of [EXISTING.replace('ENVIRONMENT=development', 'ENVIRONMENT=production'), EXISTING.replace('ENVIRONMENT=development\n', '')]) {
      const { append, added } = devVarsAdditions(text, secret)
      expect(added).toContain('METRICS_TOKEN')
      expect(parse(text + append).METRICS_TOKEN).toBe(secret())
      expect(devVarsAdditions(text + append, secret).added).toEqual([])
    }
    expect(devVarsAdditions(EXISTING, secret).added).not.toContain('METRICS_TOKEN')
  })
})

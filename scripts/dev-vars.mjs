// What `npm start` writes to .dev.vars (scripts/start.mjs does the file I/O; this is plain text in,
// text out, so a test can check it). Never overwrites: a new .dev.vars is .dev.vars.example with
// values filled in; an existing one only gets what it lacks appended at its end.

/** Secrets the app needs, generated when missing (a commented-out line does not count: they are required). */
export const GENERATED_SECRETS = ['JWT_SECRET', 'ENCRYPTION_KEY', 'PROVIDER_WEBHOOK_SECRET']

/**
 * Local settings added by later versions of the app, with the value a local setup gets. A line for
 * one, even commented out, is the developer's decision and is left alone.
 */
export const LOCAL_DEFAULTS = [
  {
    name: 'WEBHOOK_ALLOW_LOOPBACK',
    value: 'true',
    comment: 'Webhooks may reach a receiver on this machine (http://localhost:…, 127.0.0.1, [::1]); development and test only.',
  },
]

/** A new .dev.vars: the example with `values` (by name) in place of its placeholders. */
export function newDevVars(example, values) {
  return example.replace(/^([A-Z_][A-Z0-9_]*)=.*$/gm, (line, name) => (name in values ? `${name}=${values[name]}` : line))
}

/** What to append to an existing .dev.vars (`''` when nothing is missing) and the names it adds. */
export function devVarsAdditions(text, randomSecret) {
  const has = (name, commented) => new RegExp(`^${commented ? '(#\\s*)?' : ''}${name}=`, 'm').test(text)
  const lines = []
  const added = []
  for (const name of GENERATED_SECRETS) {
    if (has(name, false)) continue
    lines.push(`${name}=${randomSecret()}`)
    added.push(name)
  }
  for (const { name, value, comment } of LOCAL_DEFAULTS) {
    if (has(name, true)) continue
    lines.push(`# ${comment} (added by npm start)`, `${name}=${value}`)
    added.push(name)
  }
  // A .dev.vars that runs as production (it says so, or names no ENVIRONMENT and wrangler.toml's
  // applies) needs a METRICS_TOKEN, without which the app refuses every request: add one.
  const environment = /^ENVIRONMENT=(.*)$/m.exec(text)?.[1]?.trim() || 'production'
  if (environment === 'production' && !/^METRICS_TOKEN=\S/m.test(text)) {
    lines.push(`METRICS_TOKEN=${randomSecret()}`)
    added.push('METRICS_TOKEN')
  }
  if (!lines.length) return { append: '', added }
  return { append: `${text === '' || text.endsWith('\n') ? '' : '\n'}${lines.join('\n')}\n`, added }
}

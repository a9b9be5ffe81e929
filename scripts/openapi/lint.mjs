#!/usr/bin/env node
/**
 * `npm run lint:openapi` (CI): writes the app's OpenAPI document to a temporary file (write.mjs, no server) and lints it
 * with Redocly CLI under redocly.yaml. Fails on any error; warnings are printed (redocly.yaml says which are accepted).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const dir = mkdtempSync(join(tmpdir(), 'switchboard-openapi-lint-'))
const run = (args) => spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } })
let status = 1
try {
  const file = join(dir, 'openapi.json')
  const written = run([join(here, 'write.mjs'), file])
  status = written.status ?? 1
  if (status === 0) {
    const linted = run([join(root, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', file, '--config', join(root, 'redocly.yaml'), '--format', 'stylish'])
    status = linted.status ?? 1
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
process.exit(status)

#!/usr/bin/env node
/**
 * Writes the API's OpenAPI document (the one /openapi.json serves) to packages/client/openapi.json, or to the path given
 * as the first argument, without starting a server: src/app.ts is bundled for Node with esbuild and asked for the document.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const out = resolve(process.argv[2] ?? join(root, 'packages/client/openapi.json'))

const dir = mkdtempSync(join(tmpdir(), 'switchboard-openapi-'))
try {
  const bundle = join(dir, 'document.mjs')
  await build({
    entryPoints: [join(here, 'entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: bundle,
    alias: { 'cloudflare:workers': join(here, 'cloudflare-workers.mjs') },
    logLevel: 'warning',
  })
  const { openApiDocument } = await import(pathToFileURL(bundle).href)
  writeFileSync(out, `${JSON.stringify(openApiDocument(), null, 2)}\n`)
  console.log(`OpenAPI document written to ${out}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}

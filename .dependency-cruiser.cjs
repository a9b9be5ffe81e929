/**
 * The layers of src/ (ARCHITECTURE.md), checked in CI by `npm run check:layers`.
 *
 * Each file belongs to one layer; a file may import from its own layer and the layers below it,
 * never from a layer above. Type-only imports (`import type`) may cross: they vanish at build
 * time, and TypeScript needs some of them (the Env type names the Durable Object classes, a job
 * names the services bag it is handed). No cycles, type-only ones included, except between
 * env.ts and the Durable Object classes (each names the other's type).
 */
const LAYERS = [
  { name: '1-lib', path: '^src/(lib/|env\\.ts$|types/)' },
  { name: '2-db', path: '^src/db/' },
  {
    name: '3-foundation',
    path: '^src/(providers|http)/|^src/modules/(wallet|number-locks|payments|providers|auth|api-keys|audit|rate-limit|metrics|events|jobs|health|docs|webhooks)/',
  },
  { name: '4-products', path: '^src/modules/(activations|offers|dids|sims|sms|sms-activate|subscriptions|usage|messaging)/' },
  { name: '5-billing', path: '^src/modules/billing/' },
  { name: '6-analytics-admin', path: '^src/modules/(analytics|admin|maintenance)/' },
  { name: '7-entry', path: '^src/(app|queue|scheduled|services|index)\\.ts$' },
]

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}`,
  comment: `${layer.name} imports only from its own layer and the ones below it`,
  severity: 'error',
  from: { path: layer.path },
  to: {
    path: LAYERS.slice(i + 1)
      .map((l) => l.path)
      .join('|'),
    dependencyTypesNot: ['type-only'],
  },
}))

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-cycles',
      comment: 'no import cycles, type-only ones included; only env.ts and the Durable Objects name each other (the binding types)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/env\\.ts$|\\.do\\.ts$' },
      to: { circular: true },
    },
    {
      name: 'every-file-has-a-layer',
      comment: 'a new folder of src/ must be given a layer in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map((l) => l.path).join('|') },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
}

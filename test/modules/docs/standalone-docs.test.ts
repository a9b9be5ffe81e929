/**
 * What a customer reads stands on its own: the OpenAPI document, the docs pages and the README
 * name no internal planning documents ("seed 001 §4.3"), no files outside the repository and no
 * other company's product as a model. The API families are named in the API's own words.
 */
import { describe, expect, it } from 'vitest'
import readme from '../../../README.md?raw'
import { call } from '../../helpers/api'

/** Internal document numbers, section signs, paths outside the repository, outside products used as a model. */
const OUTSIDE = /seeds?\s*0\d\d|seeds?\s+\d|§\s*\d|\.\.\/shared|DESIGN\.md|telnyx|svix|unkey|openstatus/i

/** Keys whose string values are prose a reader sees. */
const PROSE_KEYS = new Set(['summary', 'description', 'title'])

/** Every prose string of an OpenAPI document, with its JSON path, at any depth. */
function prose(node: unknown, path = '$'): { path: string; text: string }[] {
  if (Array.isArray(node)) return node.flatMap((v, i) => prose(v, `${path}[${i}]`))
  if (node === null || typeof node !== 'object') return []
  return Object.entries(node).flatMap(([k, v]) => [...(PROSE_KEYS.has(k) && typeof v === 'string' ? [{ path: `${path}.${k}`, text: v }] : []), ...prose(v, `${path}.${k}`)])
}

/**
 * Team notes a customer cannot follow, on top of OUTSIDE: our issue and item numbers, the seeds in any wording, files of the
 * repository. Only the OpenAPI document is held to this: the README is read beside the code and names its files.
 */
const INTERNAL = new RegExp(`${OUTSIDE.source}|\\bissues?\\s*#?\\d|\\bitems?\\s+\\d|\\bseeds?\\b|\\b(src|test|scripts|migrations)/|\\b[\\w-]+\\.(ts|mjs|md)\\b|\\bTODO\\b|\\bFIXME\\b`, 'i')

const offending = (items: { path: string; text: string }[], re = OUTSIDE) => items.filter((i) => re.test(i.text)).map((i) => `${i.path}: ${i.text.match(re)![0]} in "${i.text.slice(0, 160)}"`)

describe('customer-facing text stands alone', () => {
  it('the check itself catches each kind of outside reference', () => {
    for (const bad of ['Seed 001 §4.3 GetNumbersResponse', 'Seeds 001 and 004', 'seed003', 'see ../shared/seeds/', 'DESIGN.md', "like Telnyx's"]) {
      expect(offending(prose({ paths: { '/x': { get: { description: bad } } } })), bad).toHaveLength(1)
    }
    expect(offending(prose({ info: { description: 'The DID API: numbers, orders and billing (§ none).' } }))).toEqual([])
  })

  it('the stricter check of the OpenAPI document also catches issue numbers, the seeds and repository files', () => {
    for (const bad of ['as issue 12 asks', 'see issue #14', 'item 3 of the plan', 'the seed says so', 'checked in src/lib/http.ts', 'see ARCHITECTURE.md', 'TODO: enum']) {
      expect(offending(prose({ paths: { '/x': { get: { summary: bad } } } }), INTERNAL), bad).toHaveLength(1)
    }
    for (const fine of ['Invoices by issue date', 'Up to 100 items per page', 'Issued at or after 2026-11-01', 'Pay invoice inv_1 in part']) {
      expect(offending(prose({ paths: { '/x': { get: { description: fine } } } }), INTERNAL), fine).toEqual([])
    }
  })

  it('no summary, description or title in /openapi.json points outside the API', async () => {
    const res = await call('/openapi.json')
    expect(res.status, res.text.slice(0, 500)).toBe(200)
    const items = prose(res.body)
    expect(items.length).toBeGreaterThan(200)
    const bad = offending(items, INTERNAL)
    expect(bad, `${bad.length} outside references or internal notes:\n${bad.join('\n')}`).toEqual([])
  })

  it('nowhere else in /openapi.json either (names, examples, enums)', async () => {
    const res = await call('/openapi.json')
    const hits = [...new Set(res.text.match(new RegExp(INTERNAL.source, 'gi')) ?? [])]
    expect(hits).toEqual([])
  })

  it('the tags carry descriptions that name the API families', async () => {
    const res = await call('/openapi.json')
    const tags = (res.body.tags ?? []) as { name: string; description?: string }[]
    const described = new Set(tags.filter((t) => t.description).map((t) => t.name))
    const used = new Set<string>()
    for (const item of Object.values(res.body.paths as Record<string, Record<string, { tags?: string[] }>>)) {
      for (const op of Object.values(item)) for (const t of op.tags ?? []) used.add(t)
    }
    expect(used.size).toBeGreaterThan(5)
    expect(
      [...used].filter((t) => !described.has(t)),
      'tags used by operations without a description',
    ).toEqual([])
    const text = tags.map((t) => t.description).join('\n')
    for (const family of ['the activation API', 'the DID API', 'usage billing']) expect(text.toLowerCase()).toContain(family.toLowerCase())
  })

  it('/docs and /redoc point nowhere outside the API', async () => {
    for (const page of ['/docs', '/redoc']) {
      const res = await call(page)
      expect(res.status, res.text.slice(0, 500)).toBe(200)
      expect(res.text.match(OUTSIDE), page).toBeNull()
    }
  })

  it('README.md names no internal documents and no paths outside the repository', () => {
    const bad = readme
      .split('\n')
      .map((line, i) => ({ path: `README.md:${i + 1}`, text: line }))
      .filter((l) => OUTSIDE.test(l.text))
      .map((l) => `${l.path}: ${l.text.trim().slice(0, 160)}`)
    expect(bad, `${bad.length} lines:\n${bad.join('\n')}`).toEqual([])
  })

  it('README.md has an "API families" section naming each family and its base paths', () => {
    const section = readme.split(/^## /m).find((s) => s.startsWith('API families'))
    expect(section, 'no "## API families" section').toBeTruthy()
    for (const words of ['activation API', 'DID API', 'usage billing', 'SIM API', 'messaging']) expect(section).toMatch(new RegExp(words, 'i'))
    for (const path of ['/api/numbers', '/api/wallet', '/api/v1/numbers', '/api/v1/orders', '/api/usage', '/api/subscription', '/api/invoices']) {
      expect(section).toContain(path)
    }
  })
})

/**
 * What the Worker serves for the client: /openapi.json equals the committed packages/client/openapi.json (written in Node
 * by `npm run openapi`, so the two cannot diverge unnoticed), and /sdk/v1/messagejs.js is the generated bundle.
 */
import { describe, expect, it } from 'vitest'
import { call } from '../../../test/helpers/api'
import { MESSAGEJS_SCRIPT } from '../../../src/modules/docs/messagejs-bundle.generated'
import committed from '../openapi.json'

describe('served for the client', () => {
  it('/openapi.json is the committed document', async () => {
    const res = await call('/openapi.json')
    expect(res.status).toBe(200)
    expect(res.body).toEqual(committed)
  })

  it('/sdk/v1/messagejs.js: the bundle, public, cacheable, embeddable; 304 on its ETag', async () => {
    const res = await call('/sdk/v1/messagejs.js')
    expect(res.status).toBe(200)
    expect(res.text).toBe(MESSAGEJS_SCRIPT)
    expect(res.text).toContain('messagejs')
    expect(res.headers.get('content-type')).toBe('application/javascript; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('public, max-age=86400, stale-while-revalidate=604800')
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin')
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const again = await call('/sdk/v1/messagejs.js', { headers: { 'if-none-match': res.headers.get('etag')! } })
    expect(again.status).toBe(304)
    expect(again.text).toBe('')
    const op = committed.paths['/sdk/v1/messagejs.js'].get
    expect(op.security).toEqual([])
    expect(Object.keys(op.responses['200'].content)).toEqual(['application/javascript'])
  })
})

import { describe, expect, it } from 'vitest'
import { call } from '../../helpers/api'

describe('OpenAPI document', () => {
  it('documents the usage, stats and dashboard routes with their security and choices', async () => {
    const res = await call('/openapi.json')
    expect(res.status, res.text.slice(0, 300)).toBe(200)
    const paths = res.body.paths as Record<string, Record<string, { description?: string; security?: unknown[]; parameters?: { name: string }[] }>>
    expect(paths['/api/usage']?.post?.description).toContain('transactionId')
    expect(paths['/api/usage']?.get?.parameters?.map((p) => p.name).sort()).toEqual(['limit', 'userId'])
    expect(paths['/api/v1/billing/usage']?.get?.parameters?.map((p) => p.name).sort()).toEqual(['endDate', 'groupBy', 'resourceId', 'resourceType', 'startDate'])
    expect(paths['/api/stats']?.get?.description).toContain('pendingAmount')
    expect(paths['/api/v1/analytics/dashboard']?.get?.description).toContain('no call records')
    for (const [path, method] of [
      ['/api/usage', 'post'],
      ['/api/usage', 'get'],
      ['/api/v1/billing/usage', 'get'],
      ['/api/stats', 'get'],
      ['/api/v1/analytics/dashboard', 'get'],
    ] as const) {
      expect(paths[path]?.[method]?.security, `${method} ${path}`).toHaveLength(3)
    }
    expect(Object.keys(res.body.components.schemas)).toEqual(expect.arrayContaining(['UsageReport', 'UsageResponse', 'Stats', 'DashboardAnalytics']))
  })
})

import { createRoute } from '@hono/zod-openapi'
import { keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { OffsetQuery, ProjectList } from './schemas'
import { okSeedList, PROJECTS_TAG, projectErrors, seedList } from './routes-common'
import { projectSummaryView } from './views'
import { z } from '@hono/zod-openapi'

const ListQuery = z.object(OffsetQuery)

const route = createRoute({
  method: 'get',
  path: '/api/v1/projects',
  operationId: 'listProjects',
  tags: [PROJECTS_TAG],
  summary: 'Your messaging projects',
  description: 'Newest first, `limit` (default 50, max 100) and `offset`. `data.projects`, with `pagination {limit, offset, total, hasMore}`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:read' })] as const,
  security: keySecurity,
  request: { query: ListQuery },
  responses: { 200: okSeedList(ProjectList, 'Projects'), ...projectErrors },
})

export const registerListProjects = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.projects.list(contextOf(c), q.limit, q.offset)
    return c.json(seedList(c, { projects: rows.map(projectSummaryView) }, q, total), 200)
  })

import { createRoute } from '@hono/zod-openapi'
import { keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { OffsetQuery, ProjectKeyList, ProjectParam } from './schemas'
import { okSeedList, PROJECTS_TAG, projectErrors, seedList } from './routes-common'
import { projectKeyView } from './views'
import { z } from '@hono/zod-openapi'

const ListQuery = z.object(OffsetQuery)

const route = createRoute({
  method: 'get',
  path: '/api/v1/projects/{projectId}/keys',
  operationId: 'listProjectKeys',
  tags: [PROJECTS_TAG],
  summary: "A project's keys",
  description: 'The active project keys (never the keys themselves: a prefix to recognise them), newest first, `limit`/`offset`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:read' })] as const,
  security: keySecurity,
  request: { params: ProjectParam, query: ListQuery },
  responses: { 200: okSeedList(ProjectKeyList, 'Keys'), ...projectErrors },
})

export const registerListProjectKeys = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.projects.listKeys(contextOf(c), c.req.valid('param').projectId, q.limit, q.offset)
    return c.json(seedList(c, { keys: rows.map(projectKeyView) }, q, total), 200)
  })

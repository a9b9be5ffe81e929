import { createRoute } from '@hono/zod-openapi'
import { keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { OffsetQuery, ProjectParam, TemplateList } from './schemas'
import { okSeedList, PROJECTS_TAG, projectErrors, seedList } from './routes-common'
import { templateView } from './views'
import { z } from '@hono/zod-openapi'

const ListQuery = z.object(OffsetQuery)

const route = createRoute({
  method: 'get',
  path: '/api/v1/projects/{projectId}/templates',
  operationId: 'listTemplates',
  tags: [PROJECTS_TAG],
  summary: "A project's templates",
  description: 'Newest first, `limit`/`offset`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:read' })] as const,
  security: keySecurity,
  request: { params: ProjectParam, query: ListQuery },
  responses: { 200: okSeedList(TemplateList, 'Templates'), ...projectErrors },
})

export const registerListTemplates = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.templates.list(contextOf(c), c.req.valid('param').projectId, q.limit, q.offset)
    return c.json(seedList(c, { templates: rows.map(templateView) }, q, total), 200)
  })

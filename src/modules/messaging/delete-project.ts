import { createRoute } from '@hono/zod-openapi'
import { keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ProjectIdParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/projects/{id}',
  operationId: 'deleteProject',
  tags: [PROJECTS_TAG],
  summary: 'Delete a project',
  description: '204. Final: its project keys stop working at once, its connectors and templates go with it; its messages stay on the record.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectIdParam },
  responses: { 204: { description: 'Deleted' }, ...projectErrors },
})

export const registerDeleteProject = (r: Router) =>
  r.openapi(route, async (c) => {
    await c.var.services.projects.delete(contextOf(c), c.req.valid('param').id)
    return c.body(null, 204)
  })

import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { Project, ProjectIdParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { projectView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/projects/{id}',
  operationId: 'getProject',
  tags: [PROJECTS_TAG],
  summary: 'A project',
  description: "404 `PROJECT_NOT_FOUND` for an unknown, deleted or another account's project.",
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:read' })] as const,
  security: keySecurity,
  request: { params: ProjectIdParam },
  responses: { 200: ok(Project, 'The project'), ...projectErrors },
})

export const registerGetProject = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.projects.get(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, projectView(row)), 200)
  })

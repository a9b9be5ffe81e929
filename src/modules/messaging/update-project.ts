import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { Project, ProjectIdParam, UpdateProjectBody } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { projectView } from './views'

const route = createRoute({
  method: 'put',
  path: '/api/v1/projects/{id}',
  operationId: 'updateProject',
  tags: [PROJECTS_TAG],
  summary: 'Update a project',
  description: 'Only `name`, `description` and `isActive` can be changed.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectIdParam, body: jsonBody(UpdateProjectBody) },
  responses: { 200: ok(Project, 'The project'), ...projectErrors },
})

export const registerUpdateProject = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.projects.update(contextOf(c), c.req.valid('param').id, c.req.valid('json'))
    return c.json(envelope(c, projectView(row)), 200)
  })

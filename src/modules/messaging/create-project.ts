import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { CreateProjectBody, Project } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { projectView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/projects',
  operationId: 'createProject',
  tags: [PROJECTS_TAG],
  summary: 'Create a project',
  description: 'A project holds its keys, connectors, templates and messages. Rate class `general`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(CreateProjectBody) },
  responses: { 201: ok(Project, 'The project'), ...projectErrors },
})

export const registerCreateProject = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.projects.create(contextOf(c), c.req.valid('json'))
    return c.json(envelope(c, projectView(row)), 201)
  })

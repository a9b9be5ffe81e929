import { createRoute } from '@hono/zod-openapi'
import { envelope, err, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ProjectItemParam, Template } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { templateView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/projects/{projectId}/templates/{id}',
  operationId: 'getTemplate',
  tags: [PROJECTS_TAG],
  summary: 'A template',
  description: "404 `TEMPLATE_NOT_FOUND` for another project's template.",
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:read' })] as const,
  security: keySecurity,
  request: { params: ProjectItemParam },
  responses: { 200: ok(Template, 'The template'), ...projectErrors, 404: err('No such project (`PROJECT_NOT_FOUND`) or template in it (`TEMPLATE_NOT_FOUND`)') },
})

export const registerGetTemplate = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, id } = c.req.valid('param')
    return c.json(envelope(c, templateView(await c.var.services.templates.get(contextOf(c), projectId, id))), 200)
  })

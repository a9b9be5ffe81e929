import { createRoute } from '@hono/zod-openapi'
import { envelope, err, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ProjectItemParam, Template, UpdateTemplateBody } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { templateView } from './views'

const route = createRoute({
  method: 'put',
  path: '/api/v1/projects/{projectId}/templates/{id}',
  operationId: 'updateTemplate',
  tags: [PROJECTS_TAG],
  summary: 'Update a template',
  description: '`name`, `content`, `variables`, `isActive`; the variables must still equal the placeholders.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectItemParam, body: jsonBody(UpdateTemplateBody) },
  responses: { 200: ok(Template, 'The template'), ...projectErrors, 404: err('No such project (`PROJECT_NOT_FOUND`) or template in it (`TEMPLATE_NOT_FOUND`)') },
})

export const registerUpdateTemplate = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, id } = c.req.valid('param')
    return c.json(envelope(c, templateView(await c.var.services.templates.update(contextOf(c), projectId, id, c.req.valid('json')))), 200)
  })

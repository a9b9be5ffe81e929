import { createRoute } from '@hono/zod-openapi'
import { err, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ProjectItemParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/projects/{projectId}/templates/{id}',
  operationId: 'deleteTemplate',
  tags: [PROJECTS_TAG],
  summary: 'Delete a template',
  description: '204.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectItemParam },
  responses: { 204: { description: 'Deleted' }, ...projectErrors, 404: err('No such project (`PROJECT_NOT_FOUND`) or template in it (`TEMPLATE_NOT_FOUND`)') },
})

export const registerDeleteTemplate = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, id } = c.req.valid('param')
    await c.var.services.templates.delete(contextOf(c), projectId, id)
    return c.body(null, 204)
  })

import { createRoute } from '@hono/zod-openapi'
import { keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ProjectKeyParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/projects/{projectId}/keys/{keyId}',
  operationId: 'revokeProjectKey',
  tags: [PROJECTS_TAG],
  summary: 'Revoke a project key',
  description: '204; the key stops working at once.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectKeyParam },
  responses: { 204: { description: 'Revoked' }, ...projectErrors },
})

export const registerDeleteProjectKey = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, keyId } = c.req.valid('param')
    await c.var.services.projects.deleteKey(contextOf(c), projectId, keyId)
    return c.body(null, 204)
  })

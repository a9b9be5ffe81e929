import { createRoute } from '@hono/zod-openapi'
import { envelope, err, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { Connector, ProjectItemParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { connectorView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/projects/{projectId}/connectors/{id}',
  operationId: 'getConnector',
  tags: [PROJECTS_TAG],
  summary: 'A connector',
  description: 'Credentials are never returned.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:read' })] as const,
  security: keySecurity,
  request: { params: ProjectItemParam },
  responses: { 200: ok(Connector, 'The connector'), ...projectErrors, 404: err('No such project (`PROJECT_NOT_FOUND`) or connector in it (`CONNECTOR_NOT_FOUND`)') },
})

export const registerGetConnector = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, id } = c.req.valid('param')
    return c.json(envelope(c, connectorView(await c.var.services.connectors.get(contextOf(c), projectId, id))), 200)
  })

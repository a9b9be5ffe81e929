import { createRoute } from '@hono/zod-openapi'
import { envelope, err, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { Connector, ProjectItemParam, UpdateConnectorBody } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { connectorView } from './views'

const route = createRoute({
  method: 'put',
  path: '/api/v1/projects/{projectId}/connectors/{id}',
  operationId: 'updateConnector',
  tags: [PROJECTS_TAG],
  summary: 'Update a connector',
  description: '`name`, `isActive` (an inactive connector refuses sends: 400 `CONNECTOR_NOT_ACTIVE`), new `credentials` for its type, `settings`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectItemParam, body: jsonBody(UpdateConnectorBody) },
  responses: { 200: ok(Connector, 'The connector'), ...projectErrors, 404: err('No such project (`PROJECT_NOT_FOUND`) or connector in it (`CONNECTOR_NOT_FOUND`)') },
})

export const registerUpdateConnector = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, id } = c.req.valid('param')
    return c.json(envelope(c, connectorView(await c.var.services.connectors.update(contextOf(c), projectId, id, c.req.valid('json')))), 200)
  })

import { createRoute } from '@hono/zod-openapi'
import { keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ConnectorList, OffsetQuery, ProjectParam } from './schemas'
import { okSeedList, PROJECTS_TAG, projectErrors, seedList } from './routes-common'
import { connectorView } from './views'
import { z } from '@hono/zod-openapi'

const ListQuery = z.object(OffsetQuery)

const route = createRoute({
  method: 'get',
  path: '/api/v1/projects/{projectId}/connectors',
  operationId: 'listConnectors',
  tags: [PROJECTS_TAG],
  summary: "A project's connectors",
  description: 'Newest first, `limit`/`offset`. Credentials are never returned: `credentialsHint` shows the last 4 characters of the main secret.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:read' })] as const,
  security: keySecurity,
  request: { params: ProjectParam, query: ListQuery },
  responses: { 200: okSeedList(ConnectorList, 'Connectors'), ...projectErrors },
})

export const registerListConnectors = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.connectors.list(contextOf(c), c.req.valid('param').projectId, q.limit, q.offset)
    return c.json(seedList(c, { connectors: rows.map(connectorView) }, q, total), 200)
  })

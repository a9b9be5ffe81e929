import { createRoute } from '@hono/zod-openapi'
import { envelope, err, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ConnectorTest, ProjectItemParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'

const route = createRoute({
  method: 'post',
  path: '/api/v1/projects/{projectId}/connectors/{id}/test',
  tags: [PROJECTS_TAG],
  summary: 'Test a connector',
  description:
    'A real identity call to the upstream (WhatsApp phone-number lookup, Telegram getMe, Twilio account fetch): `{success, connected, message}`. ' +
    'An upstream that refuses is `success: false` with the reason; credentials never appear.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectItemParam },
  responses: { 200: ok(ConnectorTest, 'The result'), ...projectErrors, 404: err('No such project (`PROJECT_NOT_FOUND`) or connector in it (`CONNECTOR_NOT_FOUND`)') },
})

export const registerTestConnector = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, id } = c.req.valid('param')
    return c.json(envelope(c, await c.var.services.connectors.test(contextOf(c), projectId, id)), 200)
  })

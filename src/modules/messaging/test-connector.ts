import { createRoute } from '@hono/zod-openapi'
import { envelope, err, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { AppError } from '../../lib/errors'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ConnectorTest, ProjectItemParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'

const route = createRoute({
  method: 'post',
  path: '/api/v1/projects/{projectId}/connectors/{id}/test',
  operationId: 'testConnector',
  tags: [PROJECTS_TAG],
  summary: 'Test a connector',
  description:
    'A real identity call to the upstream (WhatsApp phone-number lookup, Telegram getMe, Twilio account fetch): `{success, connected, message}`. ' +
    'An upstream that refuses the credentials or fails is 502 `CONNECTOR_ERROR` with the reason; credentials never appear.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectItemParam },
  responses: {
    200: ok(ConnectorTest, 'The result'),
    502: err('The upstream refused the credentials or failed (`CONNECTOR_ERROR`, the reason in `message`)'),
    ...projectErrors,
    404: err('No such project (`PROJECT_NOT_FOUND`) or connector in it (`CONNECTOR_NOT_FOUND`)'),
  },
})

export const registerTestConnector = (r: Router) =>
  r.openapi(route, async (c) => {
    const { projectId, id } = c.req.valid('param')
    const result = await c.var.services.connectors.test(contextOf(c), projectId, id)
    // The upstream refused or failed: the reason, never a credential.
    if (!result.success) throw new AppError(502, 'CONNECTOR_ERROR', result.message, { connected: result.connected })
    return c.json(envelope(c, result), 200)
  })

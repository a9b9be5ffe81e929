import { createRoute } from '@hono/zod-openapi'
import { envelope, err, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { Connector, CreateConnectorBody, ProjectParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { connectorView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/projects/{projectId}/connectors',
  operationId: 'createConnector',
  tags: [PROJECTS_TAG],
  summary: 'Connect a channel',
  description:
    '`type` whatsapp, telegram, twilio or sandbox (else 400 `INVALID_CONNECTOR_TYPE`); `credentials` are validated for the type (400 ' +
    '`VALIDATION_ERROR` naming `credentials.<field>`), stored encrypted and never returned. `settings` overrides the pacing ' +
    '(defaults: Telegram 30/s and 1 s per chat, WhatsApp 80/s and 6 s per recipient, Twilio 1/s, sandbox unpaced).',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectParam, body: jsonBody(CreateConnectorBody) },
  responses: { 201: ok(Connector, 'The connector'), ...projectErrors, 400: err('Invalid input (`VALIDATION_ERROR`, naming `credentials.<field>`) or type (`INVALID_CONNECTOR_TYPE`)') },
})

export const registerCreateConnector = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.connectors.create(contextOf(c), c.req.valid('param').projectId, c.req.valid('json'))
    return c.json(envelope(c, connectorView(row)), 201)
  })

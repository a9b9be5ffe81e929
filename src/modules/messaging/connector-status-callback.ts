import { createRoute, z } from '@hono/zod-openapi'
import { err, ok, envelope, connectorCallbackSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { MESSAGES_TAG } from './routes-common'
import { ConnectorIdParam } from './schemas'

const route = createRoute({
  method: 'post',
  path: '/api/v1/connectors/{id}/status',
  operationId: 'receiveConnectorStatus',
  tags: [MESSAGES_TAG],
  summary: 'Delivery status callback (Twilio, WhatsApp)',
  description:
    "Where a connector's upstream reports delivery. **Twilio**: the `StatusCallback` Switchboard sets on every message — a form post " +
    "signed with `X-Twilio-Signature` (the connector's auth token over this URL and the fields); `MessageStatus` sent / delivered / read / " +
    "undelivered / failed. **WhatsApp**: the Cloud API webhook (configure this URL in the Meta app, with the connector's " +
    "`webhookVerifyToken`) — JSON signed with `X-Hub-Signature-256` (HMAC-SHA256 of the body with the connector's `appSecret`); " +
    "`statuses[]` sent / delivered / read / failed. A message's status only moves forward: an update older than what is stored " +
    'changes nothing (a `sent` after `delivered` leaves `delivered`). Each move is an event (`message.delivered`, `message.failed`; ' +
    'Twilio also `SMS_DELIVERED`, `SMS_FAILED`). Telegram has no delivery callbacks: an accepted send is final. Not rate limited.',
  middleware: [rateClass('exempt')] as const,
  security: connectorCallbackSecurity,
  request: { params: ConnectorIdParam },
  responses: {
    200: ok(z.object({ received: z.number().int().openapi({ description: 'Updates that moved a message' }) }), 'Applied'),
    401: err('The signature does not verify, or the connector has no secret to verify it with (`INVALID_SIGNATURE`)'),
    404: err('No such connector, or one whose upstream sends no status callbacks (`CONNECTOR_NOT_FOUND`)'),
  },
})

export const registerConnectorStatusCallback = (r: Router) =>
  r.openapi(route, async (c) => {
    const s = c.var.services
    const row = await s.connectors.forCallback(c.req.valid('param').id)
    const adapter = await s.connectors.adapterOf(row)
    const updates = await s.connectors.statusUpdates(adapter, { url: c.req.url, headers: c.req.raw.headers, body: await c.req.text() })
    const received = await s.dispatcher.applyUpdates(null, updates, row.id)
    return c.json(envelope(c, { received }), 200)
  })

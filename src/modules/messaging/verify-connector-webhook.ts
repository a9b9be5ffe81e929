import { createRoute, z } from '@hono/zod-openapi'
import { err, publicSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { AppError } from '../../lib/errors'
import { verifyWhatsAppChallenge } from '../../providers/messaging/whatsapp'
import { MESSAGES_TAG } from './routes-common'
import { ConnectorIdParam } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/connectors/{id}/status',
  operationId: 'verifyConnectorWebhook',
  tags: [MESSAGES_TAG],
  summary: 'WhatsApp webhook verification',
  description:
    "Meta's subscription handshake for a WhatsApp connector's webhook: `hub.mode=subscribe`, `hub.verify_token` equal to the " +
    "connector's `webhookVerifyToken` → 200 with `hub.challenge` as the plain-text body; anything else 403. Not rate limited.",
  middleware: [rateClass('exempt')] as const,
  security: publicSecurity,
  request: { params: ConnectorIdParam },
  responses: {
    200: { content: { 'text/plain': { schema: z.string() } }, description: 'The challenge' },
    403: err('Not a valid subscription request for this connector (`FORBIDDEN`)'),
    404: err('No such WhatsApp connector (`CONNECTOR_NOT_FOUND`)'),
  },
})

export const registerVerifyConnectorWebhook = (r: Router) =>
  r.openapi(route, async (c) => {
    const s = c.var.services
    const row = await s.connectors.forCallback(c.req.valid('param').id, 'whatsapp')
    const credentials = (await s.connectors.credentialsOf(row)) as { webhookVerifyToken?: string }
    const challenge = verifyWhatsAppChallenge(new URL(c.req.url).searchParams, credentials.webhookVerifyToken)
    if (challenge === null) throw new AppError(403, 'FORBIDDEN', 'The verify token does not match this connector')
    return c.text(challenge, 200)
  })

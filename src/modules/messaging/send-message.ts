import { createRoute } from '@hono/zod-openapi'
import { err, jsonBody, keySecurity, ok, envelope } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { contextOf, principalOf, requireAuth } from '../../http/authenticate'
import { idempotencyErrorResponses, idempotencyScope, IdempotencyKeyHeader } from '../../http/idempotency'
import { SendMessageBody, SendMessageResult } from './schemas'
import { MESSAGES_TAG, projectErrors } from './routes-common'

const route = createRoute({
  method: 'post',
  path: '/api/v1/messages',
  operationId: 'sendMessage',
  tags: [MESSAGES_TAG],
  summary: 'Send a message',
  description:
    'Renders the template with `variables` (a missing one is 400 `MISSING_REQUIRED_FIELD` naming it; values are escaped for the ' +
    "channel's format), checks `to` (E.164, else 400 `INVALID_TO`; Telegram: a chat id), holds the price on the wallet (400 " +
    '`INSUFFICIENT_BALANCE` up front) and queues the message: 202 `{messageId, status: "queued"}`. The price is taken when the ' +
    'connector accepts and released when it fails for good: WhatsApp $0.005, Telegram $0.001, Twilio SMS $0.01, sandbox $0.001; ' +
    'each charged message is a usage record (`message`) on the monthly invoice. Project keys (`pk_…`) send only with their ' +
    "project's connectors and templates (others: 404). Hourly limits: the plan's tier — free and basic 1,000, pro 10,000, " +
    'enterprise 100,000 messages an hour per account (rate class `messages`, shown in `X-RateLimit-*`; 429 `QUOTA_EXCEEDED`) — and ' +
    "the key's own `rateLimit` (429 `RATE_LIMIT_EXCEEDED`). " +
    '`Idempotency-Key`: the same key and body answer the first 202 with the same `messageId`; a different body is 422; ' +
    'concurrent requests with one key make one message.',
  middleware: [rateClass('messages'), idempotent(), requireAuth({ permission: 'messages:send', projectKey: true })] as const,
  security: keySecurity,
  request: { headers: IdempotencyKeyHeader, body: jsonBody(SendMessageBody) },
  responses: {
    202: ok(SendMessageResult, 'Queued'),
    ...projectErrors,
    400: err('Invalid input: `VALIDATION_ERROR`, `INVALID_TO`, `MISSING_REQUIRED_FIELD` (a template variable), `CONNECTOR_NOT_ACTIVE`, `INSUFFICIENT_BALANCE`'),
    404: err("Unknown connector (`CONNECTOR_NOT_FOUND`) or template (`TEMPLATE_NOT_FOUND`), also another project's"),
    429: err("Past the key's hourly `rateLimit` (`RATE_LIMIT_EXCEEDED`) or the plan's hourly tier (`QUOTA_EXCEEDED`), with `Retry-After`"),
    ...idempotencyErrorResponses,
  },
})

export const registerSendMessage = (r: Router) =>
  r.openapi(route, async (c) => {
    const principal = principalOf(c)
    const key = c.req.header('idempotency-key')
    const m = await c.var.services.messages.send(principal, contextOf(c), c.req.valid('json'), { idempotency: key ? { scope: idempotencyScope(principal), key } : undefined })
    return c.json(envelope(c, { messageId: m.id, status: 'queued' as const }), 202)
  })

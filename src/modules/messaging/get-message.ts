import { createRoute } from '@hono/zod-openapi'
import { envelope, err, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, principalOf, requireAuth } from '../../http/authenticate'
import { Message, MessageIdParam } from './schemas'
import { MESSAGES_TAG, projectErrors } from './routes-common'
import { messageView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/messages/{id}',
  operationId: 'getMessage',
  tags: [MESSAGES_TAG],
  summary: 'A message',
  description: "Its status (`queued → sent → delivered | read | failed`), the upstream's id in `metadata.messageId`, `price` (taken when sent; 0 when it failed), and `error` when it failed.",
  middleware: [rateClass('general'), requireAuth({ permission: 'messages:read', projectKey: true })] as const,
  security: keySecurity,
  request: { params: MessageIdParam },
  responses: { 200: ok(Message, 'The message'), ...projectErrors, 404: err('No such message of yours (`NOT_FOUND`)') },
})

export const registerGetMessage = (r: Router) =>
  r.openapi(route, async (c) => {
    return c.json(envelope(c, messageView(await c.var.services.messages.get(principalOf(c), contextOf(c), c.req.valid('param').id))), 200)
  })
